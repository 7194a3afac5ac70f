"""What the hops logged during a step, parsed into events and matched to the lab's requests.

Every hop logs access lines on stdout as JSON carrying the request id (the lab configures the
formats), and its errors on stderr. The hop trace of a request is its access status at each hop,
client side first; the hop that *answered* is the first one whose status the next hop did not
produce (the next hop logged another status, or nothing at all).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

from lab.stack import LogLine, Stack
from lab.topology import Topology

COLLECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class AccessEvent:
    hop: str
    request_id: str
    status: int
    forwarded: bool  # the hop passed the request on (nginx logged an upstream status)
    ts: float


@dataclass(frozen=True)
class TraceHop:
    hop: str
    status: int | None  # None: this hop logged no access line for the request


@dataclass
class Evidence:
    topology: Topology
    lines: list[LogLine]
    access: list[AccessEvent]

    def trace(self, request_id: str) -> list[TraceHop]:
        status = {event.hop: event.status for event in self.access if event.request_id == request_id}
        return [TraceHop(hop, status.get(hop)) for hop in self.topology.hop_names]

    def forwarded_by(self, hop: str, request_id: str) -> bool:
        return any(e.forwarded for e in self.access if e.hop == hop and e.request_id == request_id)

    def answered_by(self, request_id: str, client_status: int | None) -> str | None:
        if client_status is None:
            return None
        trace = self.trace(request_id)
        for index, hop in enumerate(trace):
            following = trace[index + 1] if index + 1 < len(trace) else None
            if hop.status == client_status and (following is None or following.status != client_status):
                return hop.hop
        return None

    def matching(self, hop: str, pattern: str, stream: str = "any") -> list[LogLine]:
        regex = re.compile(pattern)
        return [line for line in self.lines
                if line.hop == hop and (stream == "any" or line.stream == stream) and regex.search(line.text)]


def _access_event(line: LogLine) -> AccessEvent | None:
    if line.stream != "access" or not line.text.startswith("{"):
        return None
    try:
        fields = json.loads(line.text)
        forwarded = fields.get("upstream_status", "-") not in ("", "-")
        return AccessEvent(line.hop, str(fields["request_id"]), int(fields["status"]), forwarded, line.ts)
    except (ValueError, KeyError, TypeError):
        return None


def collect(stack: Stack, since: float, request_ids: list[str]) -> Evidence:
    """Read every hop's logs since `since`; wait briefly until the entry hop has logged each request."""
    deadline = time.monotonic() + COLLECT_TIMEOUT_S
    while True:
        lines = [line for hop in stack.topology.hop_names for line in stack.logs(hop, since)]
        access = [event for event in map(_access_event, lines) if event]
        entry_logged = {e.request_id for e in access if e.hop == stack.topology.entry.name}
        if set(request_ids) <= entry_logged or time.monotonic() > deadline:
            return Evidence(stack.topology, sorted(lines, key=lambda line: line.ts), access)
        time.sleep(0.2)


def format_trace(trace: list[TraceHop]) -> str:
    return " ← ".join(f"{hop.hop} {hop.status if hop.status is not None else '—'}" for hop in trace)
