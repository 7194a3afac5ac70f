"""faultlab's own exceptions.

Every failure a user can meet is a `LabError`: one sentence saying what happened, an optional
`tip` saying what to do next, and the process exit code the CLI uses. A tip that names a command
writes the program as `{prog}` (e.g. "`{prog} clean` removes what this run left"): only the CLI knows
how it is invoked, and `tip_for` fills it in.

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

    def tip_for(self, prog: str) -> str | None:
        return self.tip.replace("{prog}", prog) if self.tip else None


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
