"""What `fix` prints is enough: the broken step's config with only the printed changes applied (nothing the
lab carried over from an earlier step) passes the fix step's own expectations on real servers."""

from __future__ import annotations

import dataclasses

import pytest

from faultlab.model import scenario
from faultlab.output import words
from faultlab.run import runner
from faultlab.tools import fix

pytestmark = pytest.mark.engine

CASES = [(scenario_id, one.step) for scenario_id in ("504-read-timeout", "502-keepalive")
         for one in fix.build(scenario.load(scenario_id)).fixes]


@pytest.mark.parametrize(("scenario_id", "fix_step"), CASES, ids=[f"{s}:{f}" for s, f in CASES])
def test_the_printed_fix_alone_clears_the_failure(scenario_id, fix_step, image_tags):
    plan = scenario.load(scenario_id)
    printed = next(one for one in fix.build(plan).fixes if one.step == fix_step)
    knobs = {hop: fix._with(plan.broken.knobs[hop], {c.path: c.after for c in printed.changes if c.hop == hop})
             for hop in plan.topology.hop_names}
    step = dataclasses.replace(plan.step_named(fix_step), knobs=knobs, index=0, changed=())
    result = runner.run(dataclasses.replace(plan, steps=(step,)))
    failed = [words.check(check) for check in result.steps[0].checks if not check.ok]
    assert result.ok, f"{words.changes(printed.changes)} alone: " + "; ".join(
        f"{text.label}: expected {text.expected}, saw {text.observed}" for text in failed)
