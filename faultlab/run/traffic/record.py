from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RequestRecord:
    request_id: str
    started_at: float  # epoch seconds, comparable with the engine's log timestamps
    elapsed_s: float = 0.0
    status: int | None = None  # None: no HTTP response at all (see `error`)
    error: str | None = None  # e.g. "ReadTimeout", "RemoteProtocolError: peer closed connection"
    bytes_sent: int = 0
    sha256_sent: str = ""
    response: dict[str, Any] = field(default_factory=dict)  # the app's JSON answer, if any

    @property
    def outcome(self) -> str:
        return str(self.status) if self.status is not None else f"no response ({self.error})"
