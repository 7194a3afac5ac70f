"""Every scenario file, run against real nginx and gunicorn containers: each step must match what
the servers really did, and the run must leave nothing of its compose project behind."""

from __future__ import annotations

import pytest

from faultlab.model import scenario
from faultlab.output import words
from faultlab.run import runner
from faultlab.run.events import ScenarioFinished, ScenarioResult, StepFinished, StepStarted

from .conftest import by_scenario, leftovers

pytestmark = pytest.mark.engine


@pytest.mark.parametrize("scenario_id", [by_scenario(s, s) for s in sorted(scenario.available())])
def test_scenario_matches_every_step(scenario_id, client, real_run):
    run = real_run(scenario_id)
    result: ScenarioResult = run.result

    report = "\n".join(
        f"{step.plan.step.name}: " + "; ".join(
            f"{text.label}: expected {text.expected}, saw {text.observed}"
            for text in (words.check(c) for c in step.checks if not c.ok))
        for step in [*result.steps, *(result.twin.steps if result.twin else [])] if not step.ok
    )
    assert result.ok, f"steps that did not match:\n{report}"
    # Each step's verdict rests on what the servers logged: the hop the client talked to logged every
    # request the client saw answered (a run whose log collection broke would judge nothing).
    sides = [result] if result.twin is None else [result, result.twin]  # a twin runs the same steps again
    for side in sides:
        for step in side.steps:
            assert step.evidence is not None
            entry = step.plan.traffic.target or side.plan.topology.entry.name
            logged = {event.request_id for event in step.evidence.access if event.hop == entry}
            answered = {r.record.request_id for r in step.requests if r.record.status is not None}
            missing = len(answered - logged)
            assert answered <= logged, f"{step.plan.name}: {missing} answered requests not in {entry}'s log"
        assert leftovers(client, side.project) == []
    kinds = [type(event) for event in run.events if isinstance(event, StepStarted | StepFinished)]
    assert kinds == [StepStarted, StepFinished] * len(result.plan.steps) * len(sides)
    assert isinstance(run.events[-1], ScenarioFinished)


def test_a_single_step_runs_with_the_earlier_changes_applied(client, image_tags):
    plan = scenario.load("413-body-size")
    result = runner.run(plan, only_step="fix-host-only")
    assert [step.plan.step.name for step in result.steps] == ["fix-host-only"]
    assert result.ok  # the 413 comes from the ingress only if the host's limit was raised first
