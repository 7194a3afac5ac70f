"""`fix`, `explain` and `diagnose` say the same thing about what a fix changes, for every scenario.

They all read one FixReport; this guards against a view that computes its own diff again (502-keepalive's
explain once listed `listen 100 → 1024` under the proxy-side fix and both wrong fixes, where fix did not)."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from faultlab.cli import HINTS
from faultlab.model import scenario
from faultlab.output import explain_text, fix_text, words
from faultlab.tools import diagnose, explain, fix

IDS = sorted(scenario.available())


@pytest.fixture(scope="module")
def causes() -> dict[tuple[str, str], diagnose.CauseStep]:
    return {(step.scenario_id, step.step): step for step in diagnose.catalogue()}


def _explained(plan: scenario.Plan) -> str:
    out = io.StringIO()
    explain_text.render(explain.explain(plan), Console(file=out, width=400, color_system=None), HINTS)
    return out.getvalue()


@pytest.mark.parametrize("scenario_id", IDS)
def test_the_three_views_agree(scenario_id, causes):
    plan = scenario.load(scenario_id)
    report = fix.build(plan)
    explained, fixed = _explained(plan), fix_text.full(report, HINTS)
    for one in report.fixes:
        complete = {change.key for change in one.changes}
        for stage in one.stages:
            assert f"{words.changes(stage.changes)}  ⇒" in explained, stage.step
            assert not {change.key for change in stage.changes} - complete, stage.step
        for change in one.changes:
            assert re.search(rf"^  {re.escape(change.hop)} +{re.escape(words.change(change))}$", fixed, re.M), change
        assert not {c.key for c in one.carried} & complete
    for wrong in report.wrong_fixes:
        assert f"{words.changes(wrong.changes)}  ⇒ still" in explained, wrong.step
        assert f"      {words.changes(wrong.changes)}" in fixed, wrong.step
    every_fix = {change.key for one in report.fixes for change in one.changes}
    for (cause_id, _), cause in causes.items():
        if cause_id == scenario_id:
            for line in cause.fixes:
                assert {change.key for change in line.changes} <= every_fix, (cause.step, line.step)


def test_values_read_as_config_does():
    text = _explained(scenario.load("502-keepalive"))
    assert "http_keepalive false → true" in text and "False" not in text


@pytest.mark.parametrize("scenario_id", IDS)
def test_the_printed_fix_is_the_config_the_lab_measured(scenario_id):
    """Applying only what `fix` prints to the broken step's knobs gives the knobs the fix step ran with,
    less what is printed apart as carried over: the printed fix is what the lab measured to clear the
    failure. (tests/scenarios/test_fix_sufficient.py runs it without the carried knobs.)"""
    plan = scenario.load(scenario_id)
    broken = plan.broken
    for one in fix.build(plan).fixes:
        measured = plan.step_named(one.step)
        for hop in plan.topology.hop_names:
            printed = {c.path: c.after for c in one.changes if c.hop == hop}
            carried = {c.path for c in one.carried if c.hop == hop}
            applied = fix._with(broken.knobs[hop], printed)
            differs = {c.path for c in measured.diff(_only(plan, hop, applied)) if c.hop == hop}
            assert differs <= carried, (one.step, hop, differs - carried)


def _only(plan: scenario.Plan, hop: str, knobs: object) -> scenario.StepPlan:
    import dataclasses

    return dataclasses.replace(plan.broken, knobs={**plan.broken.knobs, hop: knobs})
