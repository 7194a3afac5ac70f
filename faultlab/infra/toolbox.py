"""A throwaway container of one of the lab's images, with some files in it and no network, in which a
server's own tool checks a config (`nginx -t`): practice mode shows that tool's words when it refuses a
learner's file. Labelled like a stack (a project of its own), so `clean` finds it after a killed run."""

from __future__ import annotations

import contextlib
import io
import secrets
import tarfile
from collections.abc import Sequence

from docker.errors import APIError, DockerException, NotFound

from faultlab import paths
from faultlab.errors import EnvironmentError_
from faultlab.hops.base import ToolCheck
from faultlab.infra import engine, images, owner
from faultlab.infra.stack import MANAGED_LABEL, OWNER_LABEL, PROJECT_LABEL

WORKDIR = "/tmp/faultlab-check"
# Not root, as in the compose files (nginx's image has no USER of its own; the python image's is `lab`).
USERS = {"nginx": "www-data"}
CONFIG_DIR = "etc/faultlab"  # where the compose files mount a hop's rendered config (certificates too)
TOOL_TIMEOUT_S = 60


def _tar(directory: str, files: dict[str, str], *, apps: bool = False) -> bytes:
    """`files` (name -> text) under `directory` as a tar for put_archive; with `apps`, the lab's apps in
    directory/apps (an app server's check imports the app: gunicorn --check-config)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        top = tarfile.TarInfo(directory)
        top.type, top.mode = tarfile.DIRTYPE, 0o755
        archive.addfile(top)
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{directory}/{name}")
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
        if apps:
            archive.add(paths.APPS, arcname=f"{directory}/apps",
                        filter=lambda info: None if "__pycache__" in info.name else info)
    return buffer.getvalue()


def run(image: str, files: dict[str, str], command: Sequence[str], *, hosts: Sequence[str] = (),
        apps: bool = False, config: dict[str, str] | None = None) -> tuple[int, str]:
    """(exit code, output) of `command` run in WORKDIR, holding `files` (and with `apps`, the lab's apps in
    WORKDIR/apps), in the lab's `image` ("nginx"). `hosts` resolve to 127.0.0.1 (nginx -t resolves the
    upstreams a config names); `config` goes into CONFIG_DIR, where the lab's configs name their files."""
    client = engine.connect()
    tag = images.ensure(client, lambda text: None)[image]
    project = f"faultlab-check-{secrets.token_hex(3)}"
    try:
        container = client.containers.create(
            tag, list(command), working_dir=WORKDIR, network_mode="none", user=USERS.get(image),
            extra_hosts={host: "127.0.0.1" for host in hosts},
            labels={MANAGED_LABEL: "true", PROJECT_LABEL: project, OWNER_LABEL: str(owner.current())})
        try:
            container.put_archive("/tmp", _tar(WORKDIR.rsplit("/", 1)[1], files, apps=apps))
            if config:
                container.put_archive("/", _tar(CONFIG_DIR, config))
            container.start()
            code = int(container.wait(timeout=TOOL_TIMEOUT_S).get("StatusCode", 1))
            output = container.logs(stdout=True, stderr=True).decode(errors="replace")
        finally:
            with contextlib.suppress(NotFound, APIError):
                container.remove(force=True)
    except DockerException as exc:
        raise EnvironmentError_(f"could not run {command[0]} in the lab's {image} image: {exc}",
                                tip="`{prog} engine start` brings the engine up") from None
    return code, output


def check(tool: ToolCheck, text: str, hosts: Sequence[str], config: dict[str, str]) -> tuple[int, str]:
    """A server's own check of one file (practice mode's ToolRunner); the output names the file by its name."""
    inside = f"{WORKDIR}/{tool.file}"
    command = [part.format(file=inside, apps=f"{WORKDIR}/apps") for part in tool.command]
    code, output = run(tool.image, {tool.file: text}, command, hosts=hosts,
                       apps=any("{apps}" in part for part in tool.command), config=config)
    return code, output.replace(inside, tool.file)
