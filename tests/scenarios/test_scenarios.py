"""Every scenario file, run against real nginx and gunicorn containers: each step must match what
the servers really did, and the run must leave nothing of its compose project behind."""

from __future__ import annotations

import pytest

from faultlab.model import scenario
from faultlab.run import runner
from faultlab.run.events import Event, ScenarioResult

from .conftest import leftovers

pytestmark = pytest.mark.engine


@pytest.mark.parametrize("scenario_id", sorted(scenario.available()))
def test_scenario_matches_every_step(scenario_id, client, image_tags):
    events: list[Event] = []
    result: ScenarioResult = runner.run(scenario.load(scenario_id), events.append)

    report = "\n".join(
        f"{step.plan.step.name}: " + "; ".join(f"{c.what}: expected {c.expected}, saw {c.observed}"
                                               for c in step.checks if not c.ok)
        for step in result.steps if not step.ok
    )
    assert result.ok, f"steps that did not match:\n{report}"
    assert [step.plan.step.name for step in result.steps] == [s.name for s in result.plan.scenario.steps]
    assert leftovers(client, result.project) == []


def test_a_single_step_runs_with_the_earlier_changes_applied(client, image_tags):
    plan = scenario.load("413-body-size")
    result = runner.run(plan, lambda event: None, only_step="fix-host-only")
    assert [step.plan.step.name for step in result.steps] == ["fix-host-only"]
    assert result.ok  # the 413 comes from the ingress only if the host's limit was raised first
