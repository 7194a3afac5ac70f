"""`lab diagnose` on lines real servers wrote. Failing steps are run alone against real containers and
every hop's captured lines (text only, as a user would paste them) go to diagnose, which must

- match each of the step's signatures itself (server kind read from the line, stream, regex): with
  the steps chosen below, every signature diagnose knows is observed in a real run;
- name the step's scenario first, or, for a scenario that `refines` another's cause, list it in the
  differential beside that cause, with what tells them apart. A journey replays single scenarios on the
  same chain with the same signatures, so its lines legitimately name the single scenario; diagnose folds
  the journey into that cause ("also seen in"), and that is what is asserted for it. The journey's step
  may be another of its steps with the same lines: the host's and the ingress's nginx error lines read
  the same.

The steps: the first `broken` step of every scenario, plus the fewest more that bring every distinct
signature (regex, server kind, stream) into a run. Their lines come from the scenarios' whole runs,
which tests/scenarios/test_scenarios.py judges (one run per scenario per session, `real_run`).
"""

from __future__ import annotations

import pytest

from faultlab.model import scenario
from faultlab.tools import diagnose
from faultlab.tools.logformats import parse_lines

from .conftest import by_scenario

pytestmark = pytest.mark.engine

STEPS = diagnose.catalogue()


def _signature(sig: diagnose.Signature) -> tuple[str, str, str]:
    return sig.pattern, sig.kind, sig.stream


def _steps_to_run() -> list[diagnose.CauseStep]:
    chosen: list[diagnose.CauseStep] = []
    for step in STEPS:
        if step.role == "broken" and step.scenario_id not in {c.scenario_id for c in chosen}:
            chosen.append(step)
    covered = {_signature(sig) for step in chosen for sig in step.logs}
    for step in STEPS:
        if {_signature(sig) for sig in step.logs} - covered:
            chosen.append(step)
            covered |= {_signature(sig) for sig in step.logs}
    return chosen


RUN = _steps_to_run()


def test_the_runs_cover_every_scenario_and_every_signature():
    # A scenario with a twin compares two servers and names no cause (diagnose.catalogue leaves it out).
    causes = {scenario_id for scenario_id in scenario.available() if scenario.load(scenario_id).twin is None}
    assert {step.scenario_id for step in RUN} == causes
    assert {_signature(sig) for step in RUN for sig in step.logs} == {_signature(sig) for s in STEPS for sig in s.logs}


@pytest.mark.parametrize("cause", [by_scenario(step.scenario_id, step, f"{step.scenario_id}:{step.step}")
                                   for step in RUN])
def test_real_lines_of_a_failing_step_name_its_scenario(cause, real_run):
    step = next(step for step in real_run(cause.scenario_id).result.steps if step.plan.step.name == cause.step)
    evidence = step.evidence
    assert evidence is not None
    lines = [line.text for line in evidence.lines]

    own = diagnose.match_step(cause, parse_lines(lines))
    assert own is not None and not own.missing, f"signatures diagnose did not match: {own and own.missing}"

    result = diagnose.diagnose(lines, STEPS)
    top = result.causes[0]
    assert result.known, f"{top.scenario_id} first, confidence {top.confidence:.2f} ({top.standing})"
    if top.scenario_id in scenario.load(cause.scenario_id).scenario.refines:
        # A special case on its general cause's lines alone (a stale address behind a refused connect):
        # named beside it in the differential, with what tells them apart.
        assert result.differential is not None
        entry = next(e for e in result.differential.entries if e.scenario_id == cause.scenario_id)
        assert entry.tells_apart
    elif top.scenario_id != cause.scenario_id:
        assert any(also.startswith(f"{cause.scenario_id} (step ") for also in top.also), (
            f"{top.scenario_id} (step {top.step}) ranked first; also: {top.also}")
        assert top.strong and top.score == 1.0  # folded only with the same full evidence on the same chain
