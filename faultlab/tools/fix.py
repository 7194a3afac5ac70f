"""The fix of a scenario, read from its steps' roles: what differs between the first `broken` step
and each `fix` step, which `wrong-fix` steps tempt on the way and what each of them changes, and the
config that says it. This FixReport is the one answer to "what does a fix change": `fix`, `explain`
and `diagnose` all show it.

Fix steps whose changes include the previous fix's are later stages of the same fix (a journey
accumulates fixes: body size, then read timeout, then gunicorn's timeout); a fix step that drops
one of them starts an alternative fix (502-keepalive: uwsgi http-keepalive, or traefik without
idle reuse). A knob that a step inherits from an earlier lineage without its own steps setting it
(502-keepalive's `listen 1024`, the body sizes a journey's wrong timeout fix sits on) is not part of
that fix or wrong fix: it is listed as carried over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faultlab.hops import FIX_FORMATS, HOP_KINDS, Knobs, RenderContext, Snippet
from faultlab.model.plan import KnobChange, KnobPath, Plan, StepPlan
from faultlab.model.scenario import Action
from faultlab.tools import deploy

# `fix --format` choices: each server's config, then a deploy's order as a Kubernetes Deployment.
FORMATS: tuple[str, ...] = (*FIX_FORMATS, deploy.FORMAT)


@dataclass(frozen=True)
class Stage:
    step: str
    index: int  # the step's place in the scenario
    says: str
    changes: tuple[KnobChange, ...]  # what this stage adds to the one before (the first: to the broken step)
    expects_error: bool  # the stage fixes the failure before it and reveals the next one (a journey)


@dataclass(frozen=True)
class Fix:
    stages: tuple[Stage, ...]  # the last one is the complete fix
    changes: tuple[KnobChange, ...]  # broken step → complete fix
    carried: tuple[KnobChange, ...]  # inherited from an earlier lineage, not part of this fix
    snippets: tuple[Snippet, ...]
    actions: tuple[Action, ...] = ()  # the complete fix's actions during traffic (a deploy's order)

    @property
    def step(self) -> str:
        return self.stages[-1].step

    def clearing(self, index: int, next_broken: int | None = None) -> tuple[Stage, ...]:
        """The stages that clear the failure seen at step `index`: from the first stage after it up to the
        first one that reveals another failure, and before the story's next broken step (a journey's next
        failure has its own fix)."""
        chosen: list[Stage] = []
        for stage in self.stages:
            if next_broken is not None and stage.index > next_broken:
                break
            if stage.index > index:
                chosen.append(stage)
                if stage.expects_error:
                    break
        return tuple(chosen)


@dataclass(frozen=True)
class WrongFix:
    step: str
    index: int
    says: str
    changes: tuple[KnobChange, ...]  # what the tempting change sets, against the broken step
    carried: tuple[KnobChange, ...]  # what it sits on (an earlier fix it does not change)
    lesson: str = ""  # why it does not work (the step's `lesson`; practice mode shows it)


@dataclass(frozen=True)
class FixReport:
    scenario_id: str
    title: str
    broken_step: str
    broken_says: str
    fixes: tuple[Fix, ...]
    wrong_fixes: tuple[WrongFix, ...]
    broken_indices: tuple[int, ...] = ()  # every broken step's place (a journey has several)

    @property
    def formats(self) -> tuple[str, ...]:
        used = {snippet.format for fix in self.fixes for snippet in fix.snippets}
        return tuple(name for name in FORMATS if name in used)


def _with(knobs: Knobs, changes: dict[KnobPath, Any]) -> Knobs:
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


def snippets(plan: Plan, changes: tuple[KnobChange, ...]) -> tuple[Snippet, ...]:
    """`changes` (against the broken step) as config in each server's own syntax, at story time."""
    found: list[Snippet] = []
    broken = plan.broken
    for hop in plan.topology.hops:
        paths = {change.path: change.after for change in changes if change.hop == hop.name}
        if not paths:
            continue
        before = broken.knobs[hop.name]
        ctx = RenderContext(hop.name, hop.port, hop.upstream, plan.scale)
        found += HOP_KINDS[hop.kind].export(ctx, before, _with(before, paths))
    return tuple(found)


def step_snippets(plan: Plan, step: StepPlan) -> tuple[Snippet, ...]:
    """The config that turns the first broken step into `step` (any step: tests check wrong fixes too)."""
    return snippets(plan, plan.broken.diff(step))


def _fix_changes(plan: Plan, group: list[StepPlan]) -> tuple[tuple[KnobChange, ...], tuple[KnobChange, ...]]:
    """(own, carried) of a fix: what differs from the broken step, less what this fix inherits without
    setting it from a step that is not a try at fixing it: another alternative fix (a knob the lab left in
    place), or another broken step (502-gunicorn-timeout's newer gunicorn release). A wrong fix's change
    that the fix keeps (the host's body size in 413-body-size) is part of the fix."""
    own: list[KnobChange] = []
    carried: list[KnobChange] = []
    for change in plan.broken.diff(group[-1]):
        setters = [step for step in plan.steps[: group[-1].index + 1] if step.touches(change.key)]
        last = setters[-1] if setters else None
        ours = last is None or last in group or last.role == "wrong-fix"
        (own if ours else carried).append(change)
    return tuple(own), tuple(carried)


def _wrong_fix_changes(plan: Plan, step: StepPlan) -> tuple[tuple[KnobChange, ...], tuple[KnobChange, ...]]:
    """(own, carried) of a wrong fix: the knobs its own step sets, against the broken step; the rest
    (an earlier fix it sits on, a journey's body size under its timeout) is what it is tried on top of."""
    changes = plan.broken.diff(step)
    own = tuple(change for change in changes if step.touches(change.key))
    return own, tuple(change for change in changes if change not in own)


def build(plan: Plan) -> FixReport:
    broken = plan.broken
    groups: list[list[StepPlan]] = []
    for step in plan.fixes:
        if groups and {c.key for c in broken.diff(groups[-1][-1])} <= {c.key for c in broken.diff(step)}:
            groups[-1].append(step)
        else:
            groups.append([step])
    fixes: list[Fix] = []
    for group in groups:
        kept, carried = _fix_changes(plan, group)
        carried_keys = {c.key for c in carried}
        stages, before = [], broken
        for stage in group:
            added = tuple(c for c in before.diff(stage) if c.key not in carried_keys)
            stages.append(Stage(stage.name, stage.index, stage.step.says, added, stage.expects_error))
            before = stage
        fixes.append(Fix(tuple(stages), kept, carried, snippets(plan, kept) + deploy.snippets(group[-1]),
                         tuple(group[-1].step.actions)))
    wrong = []
    for step in plan.wrong_fixes:
        own, carried = _wrong_fix_changes(plan, step)
        wrong.append(WrongFix(step.name, step.index, step.step.says, own, carried, step.step.lesson))
    return FixReport(plan.scenario.id, plan.scenario.title, broken.name, broken.step.says, tuple(fixes), tuple(wrong),
                     tuple(step.index for step in plan.steps if step.role == "broken"))
