"""A throwaway container of one of the lab's images, with the lab's apps and some files in it, and no
network; labelled like the lab's own so `lab clean` finds it after a killed run."""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import docker

from faultlab import paths
from faultlab.infra.stack import MANAGED_LABEL

BOX = "/tmp/fixcheck"  # the files; the apps in BOX/apps


def _tar(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        directory = tarfile.TarInfo("fixcheck")
        directory.type, directory.mode = tarfile.DIRTYPE, 0o777
        archive.addfile(directory)
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"fixcheck/{name}")
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
        archive.add(paths.APPS, arcname="fixcheck/apps",
                    filter=lambda info: None if "__pycache__" in info.name else info)
    return buffer.getvalue()


@contextmanager
def toolbox(client: docker.DockerClient, image: str, files: dict[str, str]) -> Iterator[Any]:
    container = client.containers.create(image, ["sleep", "300"], network_mode="none",
                                         labels={MANAGED_LABEL: "true"},
                                         name=f"faultlab-fixcheck-{uuid.uuid4().hex[:8]}")
    try:
        container.start()
        container.put_archive("/tmp", _tar(files))
        yield container
    finally:
        container.remove(force=True)


def run(container: Any, command: list[str], *, workdir: str = BOX) -> tuple[int, str, str]:
    result = container.exec_run(command, workdir=workdir, demux=True)
    stdout, stderr = result.output
    return result.exit_code, (stdout or b"").decode(), (stderr or b"").decode()
