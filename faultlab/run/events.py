"""A run is a stream of typed events; the terminal view and --json are handlers of that one stream."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from faultlab.hops import Setting
from faultlab.model.scenario import Plan, StepPlan
from faultlab.run.evidence import Evidence, TraceHop
from faultlab.run.traffic import RequestRecord
from faultlab.run.traffic.load import LoadSummary
from faultlab.run.verdict import Check


@dataclass(frozen=True)
class Progress:
    text: str  # setup progress: engine, images, stack


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
class ScenarioStarted:
    plan: Plan
    steps: tuple[StepPlan, ...]  # the ones this run executes


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

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


@dataclass(frozen=True)
class StepFinished:
    result: StepResult


@dataclass
class ScenarioResult:
    plan: Plan
    project: str
    steps: list[StepResult] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)


@dataclass(frozen=True)
class ScenarioFinished:
    result: ScenarioResult


Event = Progress | TrafficProgress | ScenarioStarted | StackUp | StepStarted | StepFinished | ScenarioFinished
Handler = Callable[[Event], None]
