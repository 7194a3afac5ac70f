"""A run is a stream of typed events; the terminal view, --json, the HTML report and the pytest plugin
are handlers of that one stream.

Every handler is started before the first event and closed after the last one, whatever happens: a run
that fails or is interrupted sends `RunFailed` or `Interrupted` (with what was done so far) instead of
`ScenarioFinished`, so a report is still written, marked so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from faultlab.hops import Setting
from faultlab.model.plan import Plan, StepPlan
from faultlab.model.scenario import Action
from faultlab.run.evidence import Evidence, TraceHop
from faultlab.run.traffic import RequestRecord
from faultlab.run.traffic.load import LoadSummary
from faultlab.run.verdict import Check, OutcomeCheck


@dataclass(frozen=True)
class ScenarioStarted:
    plan: Plan
    steps: tuple[StepPlan, ...]  # the ones this run executes


@dataclass(frozen=True)
class ImageProgress:
    text: str  # what the image check or build is doing (a build takes a minute on a fresh machine)


@dataclass(frozen=True)
class StackStarting:
    project: str
    containers: int


@dataclass(frozen=True)
class StackUp:
    project: str
    url: str
    seconds: float


@dataclass(frozen=True)
class StepStarted:
    plan: StepPlan
    number: int
    total: int
    settings: dict[str, list[Setting]]  # every hop's effective settings during this step
    restarted: list[str]


@dataclass(frozen=True)
class TrafficProgress:
    """A step's traffic while it runs (about 5 times a second): for live progress, never for verdicts."""

    done: int  # requests finished
    total: int
    elapsed_s: float
    by_status: dict[int, int]
    failed: int  # no HTTP response
    bytes_sent: int = 0  # uploads: body bytes out so far, of bytes_total
    bytes_total: int = 0


@dataclass(frozen=True)
class BatchDone:
    """A race step sends up to N batches and stops once it has seen enough failures to judge."""

    batch: int
    batches: int
    failed: int  # so far, over every batch
    sent: int
    enough: bool


@dataclass(frozen=True)
class ActionRecord:
    action: Action  # a step's action (run/actions.py does it)
    at_s: float  # lab seconds after the traffic started, when the action began
    time: float  # the same moment, epoch seconds (for the timeline beside the log lines)
    took_s: float
    detail: str = ""  # what else it did (the proxy it reloaded)
    error: str | None = None


@dataclass
class RequestResult:
    record: RequestRecord
    answered_by: str | None
    trace: list[TraceHop]


@dataclass
class StepResult:
    plan: StepPlan
    checks: list[Check]
    requests: list[RequestResult]
    wall_s: float
    load: LoadSummary | None = None  # for load traffic: ab's figures
    evidence: Evidence | None = None  # every hop's log lines during the step (diagnose, reports)
    actions: list[ActionRecord] = field(default_factory=list)  # what was done during its traffic, in order

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def outcome(self) -> OutcomeCheck:
        """The statuses at the client: the check every step has."""
        first = self.checks[0]
        assert isinstance(first, OutcomeCheck)
        return first


@dataclass(frozen=True)
class StepFinished:
    result: StepResult


@dataclass
class ScenarioResult:
    plan: Plan
    project: str = ""  # the compose project, once the stack exists
    steps: list[StepResult] = field(default_factory=list)
    wall_s: float = 0.0
    twin: ScenarioResult | None = None  # the same steps on the twin topology, when the plan has one
    kept: bool = False  # the stack stays up after the run (a practice workspace's)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps) and (self.twin is None or self.twin.ok)


@dataclass(frozen=True)
class ScenarioFinished:
    result: ScenarioResult


@dataclass(frozen=True)
class RunFailed:
    result: ScenarioResult  # the steps finished before the failure
    error: str  # one sentence: what went wrong


@dataclass(frozen=True)
class Interrupted:
    result: ScenarioResult  # the steps finished before Ctrl-C or SIGTERM


Event = (ScenarioStarted | ImageProgress | StackStarting | StackUp | StepStarted | TrafficProgress | BatchDone
         | StepFinished | ScenarioFinished | RunFailed | Interrupted)


class Handler(Protocol):
    def start(self) -> None: ...

    def handle(self, event: Event) -> None: ...

    def close(self) -> None:
        """After the last event: finish the view (end a live line, write a report). Always called."""
        ...


class Handlers:
    """Several handlers as one stream: each is started, gets every event, and is closed in any case."""

    def __init__(self, handlers: Sequence[Handler]) -> None:
        self.handlers = list(handlers)

    def __enter__(self) -> Handlers:
        for handler in self.handlers:
            handler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for handler in self.handlers:
            handler.close()

    def __call__(self, event: Event) -> None:
        for handler in self.handlers:
            handler.handle(event)




class Recorder:
    """A handler that keeps every event (for tests and for library users who look at the stream after)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def start(self) -> None:
        self.events = []

    def handle(self, event: Event) -> None:
        self.events.append(event)

    def close(self) -> None:
        return None
