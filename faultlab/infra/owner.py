"""Which process owns a stack, and whether it is still alive.

Every resource of a run carries `io.faultlab.owner=<host>/<boot id>/<pid>/<start time>`. The engine
may be shared by several labs at once, so `faultlab clean` removes a stack only when its owner is provably
gone: same host, and either another boot or no process with that pid and start time. A pid alone could
have been reused; the start time (in clock ticks since boot, from /proc) could not.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

State = Literal["alive", "dead", "unknown"]


@dataclass(frozen=True)
class Owner:
    host: str
    boot_id: str
    pid: int
    started: str  # /proc/<pid>/stat field 22

    def __str__(self) -> str:
        return f"{self.host}/{self.boot_id}/{self.pid}/{self.started}"

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        parts = text.split("/")
        if len(parts) != 4 or not parts[2].isdigit():
            return None
        return cls(parts[0], parts[1], int(parts[2]), parts[3])


def current() -> Owner:
    return of(os.getpid())


def of(pid: int) -> Owner:
    return Owner(socket.gethostname(), _boot_id(), pid, _start_time(pid) or "?")


def state(label: str | None) -> State:
    """`unknown` for stacks started by hand, by an older lab or from another machine: never cleaned
    without `--all`."""
    owner = Owner.parse(label or "")
    if owner is None or owner.host != socket.gethostname() or not _boot_id():
        return "unknown"
    if owner.boot_id != _boot_id():
        return "dead"  # the machine rebooted since: every process of that boot is gone
    return "alive" if _start_time(owner.pid) == owner.started else "dead"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    return stat.rpartition(")")[2].split()[19]
