"""What the hops logged during a step, parsed into events and matched to the lab's requests.

Every hop logs an access line carrying the request id (the lab configures the formats; each hop
kind parses its own). The hop trace of a request is its access status at each hop, starting at the
hop the client talked to; the hop that *answered* is the first one whose status the next hop did
not produce (the next hop logged another status, or nothing at all).
"""

from __future__ import annotations

import bisect
import json
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from faultlab.hops import HOP_KINDS
from faultlab.model.scenario import LogSignature
from faultlab.model.topology import Topology

ENTRY_LOG_WAIT_S = 5.0
# A hop that passed a request on while the next hop has no line for it yet: the line may still be on its
# way (docker delivers each container's stdout and stderr on its own, late when the machine is busy) or
# never come (a killed worker logs nothing). Waiting this long tells the two apart; without it, a late
# line moved "answered by" one hop outwards now and then (2 of 440 runs under heavy load).
INNER_LOG_WAIT_S = 1.5


class LogSource(Protocol):
    """Where a step's log lines come from: a running stack (infra.stack.Stack), or lines kept from a run."""

    @property
    def topology(self) -> Topology: ...

    def logs(self, hop: str, since: float) -> list[tuple[float, str]]:
        """The hop's stdout and stderr lines since `since`, as (epoch timestamp, text)."""
        ...


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
    upstream_answer: int | None = None  # the next hop's status as this hop logged it (AccessFields)


@dataclass(frozen=True)
class TraceHop:
    hop: str
    status: int | None  # None: this hop logged no access line for the request
    log: str | None = None  # what this hop said about it (the message), when it answered or sat behind the hop that did
    line: str | None = None  # that log line in full
    replicas: tuple[str, ...] = ()  # which of the hop's replicas it reached, in order ("#1", "#2"), when it has several

    @property
    def label(self) -> str:
        """The hop as a trace shows it: `app`, or `app #1→#2` for a request two replicas received."""
        return f"{self.hop} {'→'.join(self.replicas)}" if self.replicas else self.hop


# The line the lab's app writes as each request arrives (apps/faultapp: ARRIVAL_KEY), before any work.
# Counted per request id, it tells a request the app handled twice (a proxy replayed it) from one it
# handled once; it is the lab's instrumentation, not a server's line, so it is kept out of `lines`.
ARRIVAL_KEY = "faultapp_arrival"
# The line it writes when it performs a request's side effect (an order placed): once per arrival, unless
# the request carries an Idempotency-Key already used, whichever replica it reaches.
EFFECT_KEY = "faultapp_effect"
_MARKERS = {f'{{"{key}": ': key for key in (ARRIVAL_KEY, EFFECT_KEY)}


def instrumentation(text: str) -> tuple[str, str, str] | None:
    """(ARRIVAL_KEY or EFFECT_KEY, request id, the container's host name) of one of the app's own lines,
    else None."""
    key = next((key for prefix, key in _MARKERS.items() if text.startswith(prefix)), None)
    if key is None:
        return None
    try:
        fields = json.loads(text)
        request_id, host = fields[key], fields.get("host", "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return (key, request_id, host if isinstance(host, str) else "") if isinstance(request_id, str) else None


MESSAGE_CHARS = 160
WINDOW_SLACK_S = 1.0  # hops log a little before the client sees the answer, and a little after


@dataclass
class Evidence:
    hops: list[str]  # from the hop the client talked to, inwards
    lines: list[LogLine]
    access: list[AccessEvent]
    kinds: dict[str, str] = field(default_factory=dict)  # hop -> its kind (which lines are notable, and their message)
    arrivals: Counter[str] = field(default_factory=Counter)  # request id -> times the app received it
    effects: Counter[str] = field(default_factory=Counter)  # request id -> times the app performed its side effect
    # request id -> (hop, replica) of each arrival, for hops with several replicas ("#2", from the host name)
    reached: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_request: dict[str, dict[str, AccessEvent]] = {}
        # A hop with replicas may log a request more than once (a retry reached both): every status counts.
        self._statuses: dict[str, dict[str, set[int]]] = {}
        for event in self.access:
            self._by_request.setdefault(event.request_id, {})[event.hop] = event
            self._statuses.setdefault(event.request_id, {}).setdefault(event.hop, set()).add(event.status)
        self._notable: dict[str, list[LogLine]] = {}
        for line in self.lines:
            kind = HOP_KINDS.get(self.kinds.get(line.hop, ""))
            if line.stream == "error" and kind is not None and kind.notable.search(line.text):
                self._notable.setdefault(line.hop, []).append(line)
        for lines in self._notable.values():
            lines.sort(key=lambda line: line.ts)
        self._notable_ts = {hop: [line.ts for line in lines] for hop, lines in self._notable.items()}

    def message(self, line: LogLine) -> str:
        """The line's message without its server's prefix, cut to a trace's width."""
        kind = HOP_KINDS.get(self.kinds.get(line.hop, ""))
        text = kind.message(line.text) if kind else line.text.strip()
        return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"

    def trace(self, request_id: str, client_status: int | None = None) -> list[TraceHop]:
        """Each hop's status for the request: the client's status where the hop logged it among several
        (replicas that both answered), else its last one."""
        events = self._by_request.get(request_id, {})
        statuses = self._statuses.get(request_id, {})
        reached = self.reached.get(request_id, [])
        return [TraceHop(hop, (client_status if client_status in statuses.get(hop, ()) else events[hop].status)
                         if hop in events else (self._silent_answer(request_id, self.hops[index - 1], hop)
                                                if index else None),
                         replicas=tuple(replica for where, replica in reached if where == hop))
                for index, hop in enumerate(self.hops)]

    def explained(self, request_id: str, client_status: int | None, window: tuple[float, float]) -> list[TraceHop]:
        """The trace, with the first notable line each hop logged during the request, from the hop
        that answered inwards (all hops when nobody answered): e.g. the ingress's "upstream
        prematurely closed connection" and, behind it, gunicorn's "WORKER TIMEOUT"."""
        trace = self.trace(request_id, client_status)
        if client_status is not None and client_status < 400:
            return trace  # lines logged beside a success are not its explanation
        answered = self.answered_by(request_id, client_status)
        start = self.hops.index(answered) if answered in self.hops else 0
        start_ts, end_ts = window[0] - WINDOW_SLACK_S, window[1] + WINDOW_SLACK_S
        explained = trace[:start]
        for hop in trace[start:]:
            line = self._line_during(hop, start_ts, end_ts)
            explained.append(TraceHop(hop.hop, hop.status, self.message(line) if line else None,
                                        line.text if line else None, hop.replicas))
        return explained

    def _line_during(self, hop: TraceHop, start_ts: float, end_ts: float) -> LogLine | None:
        """The notable line a hop logged during a request. Lines carry no request id (traefik's DEBUG line,
        nginx's error log): among those logged during the request, the first that names the status this hop
        logged for it is more likely its own (a 500 next to a 502 of the request beside it), else the first.
        Called for every failing request of a load, so the window is found by bisection, not by a scan."""
        notable = self._notable.get(hop.hop, [])
        first = bisect.bisect_left(self._notable_ts.get(hop.hop, []), start_ts)
        status = re.compile(rf"\b{hop.status}\b") if hop.status is not None else None
        earliest = None
        for line in notable[first:]:
            if line.ts > end_ts:
                break
            if status is None or status.search(line.text):
                return line
            earliest = earliest or line
        return earliest

    def complete(self, request_ids: Sequence[str]) -> bool:
        """Every hop that passed one of these requests on has the next hop's line for it."""
        for request_id in request_ids:
            events = self._by_request.get(request_id, {})
            for hop, following in zip(self.hops, self.hops[1:], strict=False):
                if hop in events and events[hop].forwarded and following not in events:
                    return False
        return True

    def forwarded_by(self, hop: str, request_id: str) -> bool:
        event = self._by_request.get(request_id, {}).get(hop)
        return bool(event and event.forwarded)

    def answered_by(self, request_id: str, client_status: int | None) -> str | None:
        if client_status is None:
            return None
        statuses = self._statuses.get(request_id, {})
        for index, hop in enumerate(self.hops):
            following = self.hops[index + 1] if index + 1 < len(self.hops) else None
            if client_status in statuses.get(hop, ()) and (
                    following is None or client_status not in statuses.get(following, ())):
                return following if self._silent_answer(request_id, hop, following) == client_status else hop
        return None

    def _silent_answer(self, request_id: str, hop: str, following: str | None) -> int | None:
        """The status `following` answered without an access line of its own, as `hop` logged it."""
        events = self._by_request.get(request_id, {})
        if following is None or following in events or hop not in events:
            return None
        return events[hop].upstream_answer

    def matching(self, hop: str, pattern: str, stream: str = "any") -> list[LogLine]:
        regex = re.compile(pattern)
        return [line for line in self.lines
                if line.hop == hop and (stream == "any" or line.stream == stream) and regex.search(line.text)]

    def shows(self, signature: LogSignature) -> bool:
        return bool(self.matching(signature.hop, signature.match, signature.stream))


def _read(source: LogSource, hop: str, kind: str, since: float, counted: dict[str, Counter[str]],
          reached: dict[str, list[tuple[str, str]]],
          replicas: Mapping[str, str]) -> tuple[list[LogLine], list[AccessEvent]]:
    """One hop's lines, each parsed once by its kind: access lines also become events, the app's
    arrival and effect lines are counted in `counted` (by their key), and an arrival at a replica
    named in `replicas` (host name -> "#2") is noted in `reached`."""
    parse = HOP_KINDS[kind].parse_access
    lines, events = [], []
    for ts, text in source.logs(hop, since):
        found = instrumentation(text)
        if found is not None:
            key, request_id, host = found
            counted[key][request_id] += 1
            if key == ARRIVAL_KEY and host in replicas:
                reached.setdefault(request_id, []).append((hop, replicas[host]))
            continue
        fields = parse(text)
        lines.append(LogLine(hop, "access" if fields else "error", ts, text))
        if fields:
            events.append(AccessEvent(hop, fields.request_id, fields.status, fields.forwarded, ts,
                                      fields.upstream_answer))
    return lines, events


def collect(source: LogSource, since: float, request_ids: list[str], *, start: str | None,
            wanted: Sequence[LogSignature], patience_s: float, replicas: Mapping[str, str] | None = None) -> Evidence:
    """Every hop's logs since `since`. Waits (briefly) until the hop the client talked to has logged
    every request, and (up to `patience_s`) until each wanted line has appeared: a hop may log after
    the client has its answer, e.g. an app finishing a request whose client left. `replicas` names the
    replicas of hops that have several, by host name ("#2"), for the traces."""
    names = source.topology.hop_names
    hops = names[names.index(start):] if start else names
    started = time.monotonic()
    settled_at: float | None = None  # when the entry hop and the wanted lines were all there
    while True:
        lines: list[LogLine] = []
        access: list[AccessEvent] = []
        counted: dict[str, Counter[str]] = {ARRIVAL_KEY: Counter(), EFFECT_KEY: Counter()}
        reached: dict[str, list[tuple[str, str]]] = {}
        for hop in source.topology.hops:
            hop_lines, hop_events = _read(source, hop.name, hop.kind, since, counted, reached, replicas or {})
            lines += hop_lines
            access += hop_events
        evidence = Evidence(hops, sorted(lines, key=lambda line: line.ts), access,
                            {hop.name: hop.kind for hop in source.topology.hops}, counted[ARRIVAL_KEY],
                            counted[EFFECT_KEY], reached)
        waited = time.monotonic() - started
        entry_logged = {e.request_id for e in access if e.hop == hops[0]} >= set(request_ids)
        if (entry_logged or waited > ENTRY_LOG_WAIT_S) and (
                all(map(evidence.shows, wanted)) or waited > patience_s):
            settled_at = settled_at if settled_at is not None else time.monotonic()
            if evidence.complete(request_ids) or time.monotonic() - settled_at > INNER_LOG_WAIT_S:
                return evidence
        time.sleep(0.2)


def format_trace(trace: list[TraceHop]) -> str:
    """`host-nginx 502 ← ingress 502: upstream prematurely closed … ← app —: [CRITICAL] WORKER TIMEOUT (pid:10)`"""
    return " ← ".join(f"{hop.label} {hop.status if hop.status is not None else '—'}"
                      + (f": {hop.log}" if hop.log else "") for hop in trace)
