"""Practice mode against real containers.

The solve tests, as hands-on platforms test their challenges (instruqt `track test`): for every scenario
that can be practised, each of its fixes written into a fresh workspace as a learner would write it
(derived from the fix step's knobs, not by hand) must check `solved`, and each wrong fix must check as
that known wrong fix. Then a learner's whole session through the command line, and nginx -t's own words
for a file it refuses.

A fix's probes are the fix's own steps, so when the files give back exactly the fix step's knobs (practice's
round trip promises that) the probe is the step the scenario test already ran in this session: the check
then judges that real run's result instead of bringing a stack up again for the same traffic."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from faultlab.infra import toolbox
from faultlab.model import catalogue, scenario
from faultlab.model.plan import Plan, StepPlan
from faultlab.run import runner
from faultlab.run.events import ScenarioResult
from faultlab.tools import fix as fixes
from faultlab.tools import practice

from .conftest import RealRun, by_scenario, leftovers

pytestmark = pytest.mark.engine

PRACTICABLE = practice.practicable([scenario.load(entry.id) for entry in catalogue.entries() if entry.problem is None])


def _cases() -> list[object]:
    cases = []
    for scenario_id in PRACTICABLE:
        report = fixes.build(scenario.load(scenario_id))
        cases += [by_scenario(scenario_id, (scenario_id, "fix", fix.step), f"{scenario_id}-fix-{fix.step}")
                  for fix in report.fixes]
        cases += [by_scenario(scenario_id, (scenario_id, "wrong-fix", wrong.step), f"{scenario_id}-wrong-{wrong.step}")
                  for wrong in report.wrong_fixes if wrong.changes]  # not one that is the broken config again
    return cases


def replayed(probe: Plan, whole: ScenarioResult) -> ScenarioResult | None:
    """The scenario run's results for the probe's steps, when every probe step is that scenario step with
    only its name and words changed (same knobs, traffic, actions, expectations); None otherwise."""
    def same(step: StepPlan, ran: StepPlan) -> bool:
        words = {"name": step.step.name, "says": step.step.says}
        return replace(step, step=ran.step) == ran and ran.step.model_copy(update=words) == step.step

    steps = []
    for step in probe.steps:
        ran = next((result for result in whole.steps if same(step, result.plan)), None)
        if ran is None:
            return None
        steps.append(replace(ran, plan=step))
    return replace(whole, plan=probe, steps=steps, twin=None)


def check_reusing(workspace: practice.Workspace,
                  real_run: Callable[[str], RealRun]) -> tuple[practice.CheckResult, bool]:
    """The check, its probe replayed from the session's real run where the probe is that run's steps (True),
    else run on a stack of its own (False: a wrong fix, or a fix probed with another step's traffic)."""
    replays: list[bool] = []

    def run(probe: Plan) -> ScenarioResult:
        found = replayed(probe, real_run(probe.id).result)
        replays.append(found is not None)
        return found if found is not None else runner.run(probe, until_failure=True)

    return practice.check(workspace, run, toolbox.check), replays == [True]


@pytest.mark.parametrize("case", _cases())
def test_a_fix_written_into_the_files_solves_and_a_wrong_fix_is_named(case, tmp_path, client, real_run):
    scenario_id, role, step = case
    plan = scenario.load(scenario_id)
    workspace = practice.start(plan, tmp_path / "ws")
    practice._write(workspace.directory, practice.files_for(plan, plan.step_named(step).knobs))
    outcome, replayed_run = check_reusing(workspace, real_run)
    if role == "fix":
        knobs = plan.step_named(step).knobs
        assert practice.read(workspace) == knobs, f"{step}: the files do not give back the fix step's knobs"
        stages = next(fix for fix in fixes.build(plan).fixes if fix.step == step).stages
        assert replayed_run == all(plan.steps[stage.index].knobs == knobs for stage in stages), step
        assert outcome.outcome == "solved", f"{step}: {outcome.summary}"
    else:
        assert outcome.outcome == "known-wrong-fix", f"{step}: {outcome.outcome}: {outcome.summary}"
        assert outcome.wrong_fix is not None and outcome.wrong_fix.step == step
    assert workspace.state.attempts[-1].outcome == outcome.outcome
    assert outcome.result is not None and not leftovers(client, outcome.result.project)


def test_nginx_t_refuses_a_bad_value_in_its_own_words_and_nothing_runs(tmp_path, image_tags):
    plan = scenario.load("413-body-size")
    workspace = practice.start(plan, tmp_path / "ws")
    conf = tmp_path / "ws/host-nginx/nginx.conf"
    conf.write_text(conf.read_text().replace("client_max_body_size 1m;", "client_max_body_size 1024x;"))
    started = []
    with pytest.raises(practice.WorkspaceError) as caught:
        practice.check(workspace, lambda probe: started.append(probe), toolbox.check)  # type: ignore[func-returns-value]
    message = caught.value.message
    assert message.startswith("nginx -t refuses host-nginx/nginx.conf: [emerg]"), message
    assert '"client_max_body_size" directive invalid value in host-nginx/nginx.conf:' in message
    assert not started and workspace.state.attempts[-1].outcome == "invalid"


def test_uwsgi_strict_mode_refuses_an_unknown_option_in_its_own_words(tmp_path, image_tags):
    workspace = practice.start(scenario.load("502-keepalive"), tmp_path / "ws")
    ini = tmp_path / "ws/app/uwsgi.ini"
    ini.write_text(ini.read_text().replace("listen = 100", "lisen = 1024"))
    with pytest.raises(practice.WorkspaceError) as caught:
        practice.check(workspace, lambda probe: pytest.fail("nothing runs"), toolbox.check)
    assert caught.value.message == ("uwsgi --strict refuses app/uwsgi.ini: [strict-mode] unknown config directive: "
                                    "lisen"), caught.value.message


def said(done: subprocess.CompletedProcess[str]) -> str:
    """Its output on one line (the terminal view wraps at the console's width)."""
    return " ".join(done.stdout.split())


def faultlab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "faultlab", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.parametrize("case", [by_scenario("413-body-size", "413-body-size", "cli-session")])
def test_a_learners_session_through_the_command_line(case, tmp_path, client, image_tags):
    done = faultlab("practice", "start", "413-body-size", cwd=tmp_path)
    assert done.returncode == 0 and "they get 413" in said(done), done.stdout + done.stderr
    root = tmp_path / "practice-413-body-size"
    project = practice.open_workspace(root).stack[0]
    assert leftovers(client, project), "practice start brings the broken stack up, for the learner's own requests"
    done = faultlab("practice", "check", "-q", cwd=tmp_path)
    assert done.returncode == 1 and "not yet: 413 ×1, answered by host-nginx" in said(done), done.stdout
    conf = root / "host-nginx/nginx.conf"
    conf.write_text(conf.read_text().replace("client_max_body_size 1m;", "client_max_body_size 1024m;"))
    done = faultlab("practice", "check", "-q", cwd=tmp_path)
    assert done.returncode == 1 and "413 ×1, answered by ingress" in said(done), done.stdout
    assert "fix-host-only" in done.stdout
    ingress = root / "ingress/ingress.yaml"
    ingress.write_text(ingress.read_text().replace(
        "annotations: {}", "annotations:\n    nginx.ingress.kubernetes.io/proxy-body-size: 1024m"))
    done = faultlab("practice", "check", "-q", cwd=root)  # from inside the workspace, as a learner may
    assert done.returncode == 0 and "solved: 200 ×1, answered by app" in said(done), done.stdout
    done = faultlab("practice", "status", cwd=tmp_path)
    assert done.returncode == 0 and "checks 3, solved after" in said(done), done.stdout
    assert leftovers(client, project), "the stack stays up between checks"
    done = faultlab("practice", "stop", cwd=tmp_path)
    assert done.returncode == 0 and conf.is_file()
    assert not leftovers(client, project)
