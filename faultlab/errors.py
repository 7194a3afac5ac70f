"""faultlab's own exceptions.

Every failure a user can meet is a `LabError`: one sentence saying what happened, an optional
`tip` saying what to do next, and the process exit code the CLI uses.

    LabError
    ├── InputError        exit 2: a scenario file, id, option or argument is wrong
    └── EnvironmentError_ exit 3: the engine, an image build or the host is not in a usable state
        └── CommandError  a docker / compose / apt command failed; carries argv, exit code and output
"""

from __future__ import annotations

from collections.abc import Sequence


class LabError(Exception):
    exit_code = 1

    def __init__(self, message: str, *, tip: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.tip = tip


class InputError(LabError):
    exit_code = 2


class EnvironmentError_(LabError):  # noqa: N801 - the builtin name is taken
    exit_code = 3


class CommandError(EnvironmentError_):
    def __init__(
        self,
        argv: Sequence[str],
        returncode: int | None,
        stdout: str,
        stderr: str,
        *,
        tip: str | None = None,
    ) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        last = _last_line(stderr) or _last_line(stdout) or "no output"
        how = "timed out" if returncode is None else f"exited {returncode}"
        super().__init__(f"`{' '.join(self.argv[:4])}…` {how}: {last}", tip=tip)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def from_engine(exc: BaseException) -> LabError | None:
    """The Docker SDK's own failures (the engine went away mid-run, an API call refused) as one line."""
    import os

    import requests
    from docker.errors import APIError, DockerException

    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return EnvironmentError_(f"the Docker engine at {where} stopped answering during the run",
                                 tip="check it with `lab engine status`; then `lab clean` removes what the "
                                     "run left behind")
    if isinstance(exc, APIError):
        return EnvironmentError_(f"the Docker engine refused a request: {exc.explanation or exc}")
    if isinstance(exc, DockerException):
        return EnvironmentError_(f"Docker: {exc}")
    return None
