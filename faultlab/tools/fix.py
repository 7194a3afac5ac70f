"""The fix of a scenario, read from its steps' roles: what differs between the first `broken` step
and each `fix` step, which `wrong-fix` steps tempt on the way, and the config that says it.

Fix steps whose changes include the previous fix's are later stages of the same fix (a journey
accumulates fixes: body size, then read timeout, then gunicorn's timeout); a fix step that drops
one of them starts an alternative fix (502-keepalive: uwsgi http-keepalive, or traefik without
idle reuse). A knob an alternative inherits unchanged from the fix before it, without changing it
itself, is left out of it and named as carried over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faultlab.hops import FIX_FORMATS, HOP_KINDS, Knobs, RenderContext, Snippet
from faultlab.model.scenario import Plan, StepPlan

Key = tuple[str, tuple[str, ...]]  # (hop, knob path: a field, or a field and a key such as an annotation)


@dataclass(frozen=True)
class Change:
    hop: str
    knob: str
    before: Any  # None: not set
    after: Any

    def __str__(self) -> str:
        def shown(value: Any) -> str:
            return "(unset)" if value is None else str(value).lower() if isinstance(value, bool) else str(value)

        return f"{self.knob} {shown(self.before)} → {shown(self.after)}"


@dataclass(frozen=True)
class Stage:
    step: str
    says: str
    changes: tuple[Change, ...]  # what this stage adds to the one before (the first: to the broken step)


@dataclass(frozen=True)
class Fix:
    stages: tuple[Stage, ...]  # the last one is the complete fix
    changes: tuple[Change, ...]  # broken step → complete fix
    carried: tuple[Change, ...]  # inherited from the previous alternative, not part of this fix
    snippets: tuple[Snippet, ...]

    @property
    def step(self) -> str:
        return self.stages[-1].step


@dataclass(frozen=True)
class WrongFix:
    step: str
    says: str


@dataclass(frozen=True)
class FixReport:
    scenario_id: str
    title: str
    broken_step: str
    broken_says: str
    fixes: tuple[Fix, ...]
    wrong_fixes: tuple[WrongFix, ...]

    @property
    def formats(self) -> tuple[str, ...]:
        used = {snippet.format for fix in self.fixes for snippet in fix.snippets}
        return tuple(name for name in FIX_FORMATS if name in used)


def _flat(knobs: Knobs) -> dict[tuple[str, ...], Any]:
    flat: dict[tuple[str, ...], Any] = {}
    for name, value in knobs.model_dump(mode="json").items():
        if isinstance(value, dict):
            flat.update({(name, key): inner for key, inner in value.items()})
        else:
            flat[(name,)] = value
    return flat


def _with(knobs: Knobs, changes: dict[tuple[str, ...], Any]) -> Knobs:
    """`knobs` with some knobs set to new values (None: back to unset), validated by the hop's model.
    Starts from what the scenario set, so validators that look at the set fields see the same."""
    data = knobs.model_dump(mode="json", exclude_unset=True)
    for path, value in changes.items():
        node = data
        if len(path) == 2:
            node = data.setdefault(path[0], {})
        if value is None:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    return type(knobs).model_validate(data)


def _diff(before: StepPlan, after: StepPlan) -> dict[Key, tuple[Any, Any]]:
    found: dict[Key, tuple[Any, Any]] = {}
    for hop in after.knobs:
        old, new = _flat(before.knobs[hop]), _flat(after.knobs[hop])
        for path in sorted(set(old) | set(new)):
            if old.get(path) != new.get(path):
                found[(hop, path)] = (old.get(path), new.get(path))
    return found


def _changes(diff: dict[Key, tuple[Any, Any]]) -> tuple[Change, ...]:
    return tuple(Change(hop, path[-1], before, after) for (hop, path), (before, after) in diff.items())


def _touches(step: StepPlan, key: Key) -> bool:
    hop, path = key
    change = step.step.change.get(hop, {})
    return path[0] in change and (len(path) == 1 or path[1] in (change[path[0]] or {}))


def _snippets(plan: Plan, broken: StepPlan, diff: dict[Key, tuple[Any, Any]]) -> tuple[Snippet, ...]:
    snippets: list[Snippet] = []
    for hop in plan.topology.hops:
        paths = {path: after for (name, path), (_, after) in diff.items() if name == hop.name}
        if not paths:
            continue
        before = broken.knobs[hop.name]
        after = _with(before, paths)
        ctx = RenderContext(hop.name, hop.port, hop.upstream, plan.scale)
        snippets += HOP_KINDS[hop.kind].export(ctx, before, after)
    return tuple(snippets)


def _first_broken(plan: Plan) -> StepPlan:
    return next((p for p in plan.steps if p.step.role == "broken"), plan.steps[0])


def step_snippets(plan: Plan, step: StepPlan) -> tuple[Snippet, ...]:
    """The config that turns the first broken step into `step` (any step: tests check wrong fixes too)."""
    broken = _first_broken(plan)
    return _snippets(plan, broken, _diff(broken, step))


def build(plan: Plan) -> FixReport:
    steps = plan.steps
    broken = _first_broken(plan)
    groups: list[list[StepPlan]] = []
    for plan_step in (p for p in steps if p.step.role == "fix"):
        if groups and set(_diff(broken, groups[-1][-1])) <= set(_diff(broken, plan_step)):
            groups[-1].append(plan_step)
        else:
            groups.append([plan_step])
    fixes: list[Fix] = []
    previous_complete: dict[Key, tuple[Any, Any]] = {}
    for group in groups:
        complete = _diff(broken, group[-1])
        start = group[0]
        carried = {key: value for key, value in complete.items()
                   if previous_complete.get(key) == value and not _touches(start, key)} if fixes else {}
        kept = {key: value for key, value in complete.items() if key not in carried}
        stages, before = [], broken
        for stage in group:
            stage_diff = {key: value for key, value in _diff(before, stage).items() if key not in carried}
            stages.append(Stage(stage.step.name, stage.step.says, _changes(stage_diff)))
            before = stage
        fixes.append(Fix(tuple(stages), _changes(kept), _changes(carried), _snippets(plan, broken, kept)))
        previous_complete = complete
    wrong = tuple(WrongFix(p.step.name, p.step.says) for p in steps if p.step.role == "wrong-fix")
    return FixReport(plan.scenario.id, plan.scenario.title, broken.step.name, broken.step.says,
                     tuple(fixes), wrong)
