"""`images save FILE` / `images load FILE`: every image the lab needs in one tar, for a room
without internet (`make workshop` writes it ahead of time).

The bundle holds the base and the images built from this checkout, under their hash tags, so after a
load `images.ensure` finds every tag and builds nothing. It is one `docker save` of all of them, not
one per image: the images share the base's layers, which a single save stores once.
"""

from __future__ import annotations

import json
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import APIError, DockerException

from faultlab.errors import EnvironmentError_, InputError
from faultlab.infra import images

Say = Callable[[str], None]
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class BundleInfo:
    path: Path
    names: list[str]  # image names with tags, the base first
    size_bytes: int
    seconds: float


def save(client: docker.DockerClient, path: Path, say: Say) -> BundleInfo:
    """Write the base and every lab image (built first if missing) into one tar at path."""
    tags = images.ensure(client, say)
    names = [images.base_image(client, say), *tags.values()]
    started = time.monotonic()
    say(f"saving {len(names)} images into {path}: {', '.join(names)}")
    partial = path.with_name(path.name + ".partial")  # a cut-short save never looks like a bundle
    try:
        # The SDK saves one image per call; the engine's endpoint takes several names in one archive.
        response = client.api._get(client.api._url("/images/get"), params={"names": names}, stream=True)
        client.api._raise_for_status(response)
        with open(partial, "wb") as sink:
            for chunk in response.iter_content(CHUNK_BYTES):
                sink.write(chunk)
        partial.replace(path)
    except (APIError, DockerException) as exc:
        partial.unlink(missing_ok=True)
        raise EnvironmentError_(f"saving the images failed: {exc}") from None
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {exc.strerror}", tip="check the path and free disk space") from None
    info = BundleInfo(path, names, path.stat().st_size, time.monotonic() - started)
    say(f"saved {info.size_bytes / 1e6:.0f} MB in {info.seconds:.0f} s")
    return info


def contents(path: Path) -> list[str]:
    """The image names (with tags) a bundle holds, from its manifest."""
    try:
        with tarfile.open(path) as archive:
            member = archive.extractfile("manifest.json")
            manifest = json.load(member) if member else []
    except (OSError, KeyError, tarfile.TarError, ValueError):
        raise InputError(f"{path} is not an image bundle (no readable manifest.json)",
                         tip="write one with `{prog} images save FILE`") from None
    return [name for entry in manifest for name in entry.get("RepoTags") or []]


def load(client: docker.DockerClient, path: Path, say: Say) -> BundleInfo:
    """Load a bundle, then check that a run would find every image without building."""
    names = contents(path)
    started = time.monotonic()
    say(f"loading {len(names)} images from {path} ({path.stat().st_size / 1e6:.0f} MB)")
    try:
        with open(path, "rb") as source:
            for message in client.api.load_image(source):
                if "error" in message:
                    raise EnvironmentError_(f"loading {path} failed: {message['error']}")
    except (APIError, DockerException) as exc:
        raise EnvironmentError_(f"loading {path} failed: {exc}") from None
    seconds = time.monotonic() - started
    lab_repositories = {f"faultlab/{spec.name}" for spec in images.SPECS}
    for name in names:
        repository = name.partition(":")[0]
        if repository in lab_repositories:
            client.images.get(name).tag(repository, "latest")  # for by-hand `docker compose up`, as a build does
    base = images.base_image(client, say)
    missing = [tag for tag in images.tags_for(client, base).values() if not images.present(client, tag)]
    if missing:
        bundled_bases = [name for name in names if name.partition(":")[0] not in lab_repositories]
        raise EnvironmentError_(
            f"loaded {path}, but this checkout on base {base} wants {', '.join(missing)}, which it does not hold",
            tip="the bundle comes from another version of faultlab (images/ or apps/ differ) or another base "
                f"({', '.join(bundled_bases)}: set FAULTLAB_BASE_IMAGE to it); "
                "`{prog} images` builds what is missing")
    info = BundleInfo(path, names, path.stat().st_size, seconds)
    say(f"loaded in {seconds:.0f} s; every image a run needs is present")
    return info
