"""What the hops logged during a step, parsed into events and matched to the lab's requests.

Every hop logs an access line carrying the request id (the lab configures the formats; each hop
kind parses its own). The hop trace of a request is its access status at each hop, starting at the
hop the client talked to; the hop that *answered* is the first one whose status the next hop did
not produce (the next hop logged another status, or nothing at all).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from lab.render import HOP_KINDS
from lab.scenario import LogSignature
from lab.stack import Stack

ENTRY_LOG_WAIT_S = 5.0
# Each container's log stream arrives on its own: a proxy's line can be read before the line of the hop
# it forwarded to, which would make that proxy look like the one that answered. Wait this long for the
# inner lines (a hop that never got the request, e.g. connection refused, costs at most this much).
INNER_LOG_WAIT_S = 1.5


@dataclass(frozen=True)
class LogLine:
    hop: str
    stream: str  # "access" (a line the hop kind parses as its access log) or "error" (anything else)
    ts: float  # engine timestamp, epoch seconds
    text: str


@dataclass(frozen=True)
class AccessEvent:
    hop: str
    request_id: str
    status: int
    forwarded: bool  # the hop passed the request on
    ts: float


@dataclass(frozen=True)
class TraceHop:
    hop: str
    status: int | None  # None: this hop logged no access line for the request


@dataclass
class Evidence:
    hops: list[str]  # from the hop the client talked to, inwards
    lines: list[LogLine]
    access: list[AccessEvent]

    def __post_init__(self) -> None:
        self._by_request: dict[str, dict[str, AccessEvent]] = {}
        for event in self.access:
            self._by_request.setdefault(event.request_id, {})[event.hop] = event

    def trace(self, request_id: str) -> list[TraceHop]:
        events = self._by_request.get(request_id, {})
        return [TraceHop(hop, events[hop].status if hop in events else None) for hop in self.hops]

    def forwarded_by(self, hop: str, request_id: str) -> bool:
        event = self._by_request.get(request_id, {}).get(hop)
        return bool(event and event.forwarded)

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

    def shows(self, signature: LogSignature) -> bool:
        return bool(self.matching(signature.hop, signature.match, signature.stream))


def _read(stack: Stack, hop: str, kind: str, since: float) -> tuple[list[LogLine], list[AccessEvent]]:
    """One hop's lines, each parsed once by its kind: access lines also become events."""
    parse = HOP_KINDS[kind].parse_access
    lines, events = [], []
    for ts, text in stack.logs(hop, since):
        fields = parse(text)
        lines.append(LogLine(hop, "access" if fields else "error", ts, text))
        if fields:
            events.append(AccessEvent(hop, fields.request_id, fields.status, fields.forwarded, ts))
    return lines, events


def collect(stack: Stack, since: float, request_ids: list[str], *, start: str | None,
            wanted: Sequence[LogSignature], patience_s: float) -> Evidence:
    """Every hop's logs since `since`. Waits (briefly) until the hop the client talked to has logged
    every request, and (up to `patience_s`) until each wanted line has appeared: a hop may log after
    the client has its answer, e.g. an app finishing a request whose client left."""
    names = stack.topology.hop_names
    hops = names[names.index(start):] if start else names
    started = time.monotonic()
    while True:
        lines: list[LogLine] = []
        access: list[AccessEvent] = []
        for hop in stack.topology.hops:
            hop_lines, hop_events = _read(stack, hop.name, hop.kind, since)
            lines += hop_lines
            access += hop_events
        evidence = Evidence(hops, sorted(lines, key=lambda line: line.ts), access)
        waited = time.monotonic() - started
        entry_logged = {e.request_id for e in access if e.hop == hops[0]} >= set(request_ids)
        if (entry_logged or waited > ENTRY_LOG_WAIT_S) and (
                all(map(evidence.shows, wanted)) or waited > patience_s) and (
                _inner_logged(evidence, hops, request_ids) or waited > INNER_LOG_WAIT_S):
            return evidence
        time.sleep(0.2)


def _inner_logged(evidence: Evidence, hops: list[str], request_ids: list[str]) -> bool:
    """Every hop that forwarded a request has the next hop's line for it."""
    for request_id in request_ids:
        trace = evidence.trace(request_id)
        for index, hop in enumerate(hops[:-1]):
            if evidence.forwarded_by(hop, request_id) and trace[index + 1].status is None:
                return False
    return True


def format_trace(trace: list[TraceHop]) -> str:
    return " ← ".join(f"{hop.hop} {hop.status if hop.status is not None else '—'}" for hop in trace)
