"""A loaded scenario as the runner and the tools use it: every step's effective knobs and traffic.

`StepPlan.diff` is the one computation of "what changes between two steps"; `fix`, `explain`,
`diagnose` and the reports all read it (through tools/fix.py's FixReport where a fix is meant), so
they cannot disagree.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faultlab.errors import InputError
from faultlab.hops import Knobs
from faultlab.model.topology import Topology
from faultlab.units import TimeScale

if TYPE_CHECKING:
    from faultlab.model.scenario import LoadTraffic, Scenario, Step, UploadTraffic

KnobPath = tuple[str, ...]  # a knob's field, or a field and a key (an annotation's name)


@dataclass(frozen=True)
class KnobChange:
    hop: str
    path: KnobPath
    before: Any  # None: not set
    after: Any

    @property
    def key(self) -> tuple[str, KnobPath]:
        return self.hop, self.path

    @property
    def knob(self) -> str:
        """The knob's name as the server spells it (an annotation's full name, a directive)."""
        return self.path[-1]


def flat_knobs(knobs: Knobs) -> dict[KnobPath, Any]:
    flat: dict[KnobPath, Any] = {}
    for name, value in knobs.model_dump(mode="json").items():
        if isinstance(value, dict):
            flat.update({(name, key): inner for key, inner in value.items()})
        else:
            flat[(name,)] = value
    return flat


@dataclass(frozen=True)
class StepPlan:
    index: int
    step: Step
    knobs: dict[str, Knobs]  # every hop's effective knobs during this step
    traffic: UploadTraffic | LoadTraffic
    changed: tuple[str, ...]  # hops whose knobs differ from the previous step
    scale: TimeScale  # the step's time scale: the scenario's, unless the step sets its own

    @property
    def name(self) -> str:
        return self.step.name

    @property
    def role(self) -> str:
        return self.step.role

    def diff(self, other: StepPlan) -> tuple[KnobChange, ...]:
        """Every knob whose value differs between this step and `other`, hop by hop, in the topology's order."""
        found: list[KnobChange] = []
        for hop in other.knobs:
            old, new = flat_knobs(self.knobs[hop]), flat_knobs(other.knobs[hop])
            for path in sorted(set(old) | set(new)):
                if old.get(path) != new.get(path):
                    found.append(KnobChange(hop, path, old.get(path), new.get(path)))
        return tuple(found)

    def touches(self, key: tuple[str, KnobPath]) -> bool:
        """Whether this step's own `change` sets the knob (rather than inheriting it)."""
        hop, path = key
        change = self.step.change.get(hop, {})
        return path[0] in change and (len(path) == 1 or path[1] in (change[path[0]] or {}))

    @property
    def expects_error(self) -> bool:
        """The step expects HTTP errors (an error status, or failed requests): a fix step that does still
        fixes the failure before it and reveals the next one (a journey)."""
        expect = self.step.expect
        return (expect.status is not None and expect.status >= 400) or (
            expect.failures is not None and expect.failures.min > 0)


@dataclass(frozen=True)
class Plan:
    scenario: Scenario
    path: Path
    topology: Topology
    scale: TimeScale
    steps: tuple[StepPlan, ...]
    twin: Plan | None = None  # the same steps on the scenario's twin topology (Scenario.twin)

    @property
    def id(self) -> str:
        return self.scenario.id

    @property
    def broken(self) -> StepPlan:
        """The first broken step: what `fix`, `explain` and practice compare every other step with."""
        return next((step for step in self.steps if step.role == "broken"), self.steps[0])

    @property
    def fixes(self) -> tuple[StepPlan, ...]:
        return tuple(step for step in self.steps if step.role == "fix")

    @property
    def wrong_fixes(self) -> tuple[StepPlan, ...]:
        return tuple(step for step in self.steps if step.role == "wrong-fix")

    def step_named(self, name: str) -> StepPlan:
        for plan in self.steps:
            if plan.name == name:
                return plan
        names = [plan.name for plan in self.steps]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(f"scenario {self.scenario.id!r} has no step {name!r}.{hint}",
                         tip=f"its steps are: {', '.join(names)}")
