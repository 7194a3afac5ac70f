"""Environment failures that need a real engine, produced honestly at their boundary: the engine going
away mid-run (a socket proxy to the real engine that is closed), a full disk while an image build
prepares its context (a tiny full tmpfs as TMPDIR), and a missing wheelhouse that the host's pip cannot
fill (pip pointed at a closed port). Each ends with one line, exit 3, no traceback.

The image cases run on a copy of the repository whose recipe differs by a comment, so its image tag
is new and a build is needed; the failure comes before anything reaches the engine, so the shared
images are never rebuilt.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from faultlab import paths
from faultlab.infra import images
from faultlab.infra.stack import remove_labelled

from .conftest import leftovers

pytestmark = pytest.mark.engine

LAB = [str(Path(sys.executable).parent / "faultlab")]
ENGINE_SOCKET = "/var/run/docker.sock"


def _one_line(done: subprocess.CompletedProcess[str], code: int, phrase: str) -> str:
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("faultlab: ")]  # progress
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    assert lines[0].startswith("error: ") and phrase in lines[0], done.stderr
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("Tip: ")), done.stderr
    return done.stderr


class EngineProxy:
    """A unix socket that forwards to the real engine until `stop()`: then it is gone, as if dockerd died."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(str(path))
        self.listener.listen(64)
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            engine = socket.socket(socket.AF_UNIX)
            engine.connect(ENGINE_SOCKET)
            with self.lock:
                self.open += [client, engine]
            for source, sink in ((client, engine), (engine, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        self.listener.close()
        self.path.unlink(missing_ok=True)
        with self.lock:
            for sock in self.open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def test_engine_stopping_mid_run_is_one_line_and_names_what_is_left(client, image_tags, tmp_path):
    proxy = EngineProxy(tmp_path / "engine.sock")
    process = subprocess.Popen([*LAB, "run", "500-app-error"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "COLUMNS": "200", "DOCKER_HOST": f"unix://{proxy.path}"})
    assert process.stdout is not None and process.stderr is not None
    project = None
    try:
        for line in process.stdout:
            if "containers as project" in line:
                project = line.rsplit(" ", 1)[-1].strip()
            if line.startswith("Step 1/"):
                break
        assert project, "the run never started its stack"
        proxy.stop()  # the engine "dies" while the first step's traffic and log collection run
        stdout, stderr = process.communicate(timeout=180)
        done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        message = _one_line(done, 3, f"could not remove project {project}: the Docker engine stopped answering")
        assert "Tip: once the engine is back, `faultlab clean` removes what this run left" in message
        assert leftovers(client, project), "with the engine gone nothing could be removed, and the line says so"
    finally:
        proxy.stop()
        process.kill()
        if project:
            remove_labelled(client, project)  # what `lab clean` would do once the owner is gone
    assert leftovers(client, project) == []


@pytest.fixture
def home_copy(tmp_path: Path) -> Path:
    home = tmp_path / "data"
    for part in ("scenarios", "compose", "apps", "images", "schema"):
        shutil.copytree(paths.DATA / part, home / part)
    return home


def _change_recipe(home: Path, image: str) -> None:
    dockerfile = home / "images" / image / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "# a change: this recipe's image tag is new\n")


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    # Not full from the start: Python's tempfile silently skips a TMPDIR it cannot write a probe file to.
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.fail(f"mounting a tmpfs needs root: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_disk_full_while_preparing_a_build(client, image_tags, home_copy, small_tmpfs, monkeypatch):
    """The python image's build context holds the wheelhouse (here 4 MiB) and TMPDIR has 1 MiB."""
    _change_recipe(home_copy, "python")
    cache = home_copy.parent / "cache"
    monkeypatch.setattr(paths, "CACHE", cache)  # the copy's apps/ are the same, so the same wheelhouse name
    wheelhouse = images.wheelhouse_dir()
    wheelhouse.mkdir(parents=True)
    (wheelhouse / "big-0.1-py3-none-any.whl").write_bytes(os.urandom(4 << 20))
    (wheelhouse / ".complete").touch()
    done = subprocess.run([*LAB, "images"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "FAULTLAB_DATA": str(home_copy), "FAULTLAB_CACHE": str(cache),
                               "TMPDIR": str(small_tmpfs)})
    message = _one_line(done, 3, "No space left on device")
    assert f"Tip: free space in {small_tmpfs}" in message


def test_wheelhouse_missing_and_pip_unreachable(client, image_tags, home_copy):
    _change_recipe(home_copy, "python")
    pip_offline = {"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
                   "PIP_RETRIES": "0", "PIP_TIMEOUT": "2"}
    done = subprocess.run([*LAB, "images"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "FAULTLAB_DATA": str(home_copy),
                               "FAULTLAB_CACHE": str(home_copy.parent / "cache"), **pip_offline})
    message = _one_line(done, 3, "the wheelhouse")
    assert "is missing and the host's pip could not fill it" in message
    assert "Tip: the host's pip must reach a Python package index" in message
