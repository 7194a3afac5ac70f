"""Practice mode without an engine: every kind's workspace reads back into the knobs it was written from,
the readers refuse what the lab cannot run with the file and line, the wrong fixes are recognised from
their files, and the workspace's state (diff, reset, hints, stop). `check` against real containers, and
the solve tests, are in tests/scenarios/test_practice.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from faultlab.errors import InputError
from faultlab.hops import HOP_KINDS, RenderContext
from faultlab.hops.base import STORY, WorkspaceError, WorkspaceKind
from faultlab.hops.nginx import nginx_time_s
from faultlab.hops.traefik import go_duration_s
from faultlab.hops.uwsgi import ini_options
from faultlab.model import catalogue, scenario
from faultlab.model.plan import Plan
from faultlab.tools import fix as fixes
from faultlab.tools import practice

PLANS = {entry.id: scenario.load(entry.id) for entry in catalogue.entries() if entry.problem is None}
PRACTICABLE = practice.practicable(list(PLANS.values()))


def write(directory: Path, files: dict[str, str]) -> None:
    practice._write(directory, files)


def read_back(plan: Plan, directory: Path) -> dict:
    """The knobs of every editable hop, read from `directory` (no nginx -t: that needs the engine)."""
    found = {}
    for hop in practice.editable_hops(plan):
        kind = HOP_KINDS[plan.topology.hop(hop).kind]
        assert isinstance(kind, WorkspaceKind)
        ctx = RenderContext(hop, plan.topology.hop(hop).port, plan.topology.hop(hop).upstream, STORY)
        found[hop] = kind.read_workspace(directory / hop, plan.broken.knobs[hop], ctx)
    return found


def test_the_three_scenarios_of_the_workshop_guide_can_be_practised():
    assert {"413-body-size", "504-read-timeout", "502-keepalive"} <= set(PRACTICABLE)
    assert len(PRACTICABLE) >= 10


@pytest.mark.parametrize("scenario_id", PRACTICABLE)
def test_the_broken_fix_and_wrong_fix_steps_read_back_into_their_own_knobs(scenario_id, tmp_path):
    plan = PLANS[scenario_id]
    for step in (plan.broken, *plan.fixes, *plan.wrong_fixes):
        directory = tmp_path / step.name
        write(directory, practice.files_for(plan, step.knobs))
        found = read_back(plan, directory)
        for hop, knobs in found.items():
            assert knobs == step.knobs[hop], f"{step.name}: {hop} read back as {knobs!r}"


@pytest.mark.parametrize("scenario_id", PRACTICABLE)
def test_each_wrong_fix_written_as_files_is_recognised_and_the_fix_is_not(scenario_id, tmp_path):
    plan = PLANS[scenario_id]
    report = fixes.build(plan)
    for wrong in report.wrong_fixes:
        if not wrong.changes:  # the broken config itself, told as a tempting idea (502-upstream-tls-sni's verify-off)
            continue
        write(tmp_path / wrong.step, practice.files_for(plan, plan.step_named(wrong.step).knobs))
        knobs = {**plan.broken.knobs, **read_back(plan, tmp_path / wrong.step)}
        found = practice.known_wrong_fix(report, knobs, plan)
        assert found is not None and found.step == wrong.step
    for fix in report.fixes:
        knobs = plan.step_named(fix.step).knobs
        assert practice.closest_fix(report, practice.changed_keys(plan, knobs)) is fix


def test_why_not_names_the_reason_for_the_scenarios_that_cannot_be_practised():
    for journey in ("upload-journey", "keepalive-journey", "ingress-migration"):
        assert "journey" in practice.why_not(PLANS[journey])
    assert "no fix step" in practice.why_not(PLANS["499-client-abort"])
    assert "deploy" in practice.why_not(PLANS["502-deploy-drain"])


# The readers ------------------------------------------------------------------------------------------

def broken_files(scenario_id: str, tmp_path: Path) -> tuple[Plan, dict[str, str]]:
    plan = PLANS[scenario_id]
    files = practice.files_for(plan, plan.broken.knobs)
    write(tmp_path, files)
    return plan, files


def refused(plan: Plan, tmp_path: Path, name: str, old: str, new: str, files: dict[str, str]) -> WorkspaceError:
    assert old in files[name]
    (tmp_path / name).write_text(files[name].replace(old, new, 1))
    with pytest.raises(WorkspaceError) as caught:
        read_back(plan, tmp_path)
    return caught.value


def test_nginx_reads_a_change_in_any_time_unit_and_a_removed_directive_as_the_default(tmp_path):
    plan, files = broken_files("504-read-timeout", tmp_path)
    conf = files["host-nginx/nginx.conf"]
    assert "proxy_read_timeout 60s;" in conf and "ms;" not in conf  # whole seconds, as people write them
    (tmp_path / "host-nginx/nginx.conf").write_text(conf.replace("proxy_read_timeout 60s;", "proxy_read_timeout 10m;")
                                                    .replace("    proxy_send_timeout 60s;\n", ""))
    knobs = read_back(plan, tmp_path)["host-nginx"]
    assert knobs.proxy_read_timeout == 600 and knobs.proxy_send_timeout == 60
    assert "proxy_send_timeout" not in knobs.model_fields_set


@pytest.mark.parametrize("old,new,words", [
    ("proxy_read_timeout 60s;", "proxy_read_timeout 60x;", "'60x' is not an nginx time"),
    ("proxy_buffering on;", "proxy_buffering on;\n            gzip on;", "`gzip on;` is outside what practice"),
    ("access_log /dev/stdout faultlab;", "", "`access_log /dev/stdout faultlab;` is gone"),
    ("proxy_buffering on;", "proxy_buffering;", 'invalid number of arguments in "proxy_buffering"'),
    ("proxy_buffering on;", "proxy_buffering on;\n            proxy_buffering off;", "is duplicate"),
    ("location / {", "location / {\n            include /etc/passwd;", "`include /etc/passwd;` is outside"),
    ("listen 8080;", "listen 80;", "`listen 80;` is outside"),
])
def test_nginx_refuses_with_file_and_line(tmp_path, old, new, words):
    plan, files = broken_files("504-read-timeout", tmp_path)
    error = refused(plan, tmp_path, "host-nginx/nginx.conf", old, new, files)
    assert words in error.message and error.message.startswith("host-nginx/nginx.conf"), error.message
    assert error.exit_code == 1


def test_nginx_times_read_as_nginx_reads_them():
    assert nginx_time_s("60") == 60 and nginx_time_s("1m30s") == 90 and nginx_time_s("500ms") == 0.5
    with pytest.raises(ValueError):
        nginx_time_s("1 m")


@pytest.mark.parametrize("old,new,words", [
    ("annotations: {}", "annotations:\n    nginx.ingress.kubernetes.io/proxy-read-timeout: 600", "is not a string"),
    ("networking.k8s.io/v1", "extensions/v1beta1", "removed in Kubernetes 1.22"),
    ("number: 8000", "number: 9000", "only metadata.annotations may change"),
    ("kind: Ingress", "kind: Service", "not an Ingress"),
    ("annotations: {}", "annotations: {", "not valid YAML"),
])
def test_ingress_refuses_what_the_api_server_would(tmp_path, old, new, words):
    plan, files = broken_files("413-body-size", tmp_path)
    error = refused(plan, tmp_path, "ingress/ingress.yaml", old, new, files)
    assert words in error.message, error.message


def test_ingress_keeps_a_value_the_controller_rejects_for_the_run_to_show(tmp_path):
    plan, files = broken_files("413-body-size", tmp_path)
    (tmp_path / "ingress/ingress.yaml").write_text(files["ingress/ingress.yaml"].replace(
        "annotations: {}", "annotations:\n    nginx.ingress.kubernetes.io/proxy-body-size: 100mb"))
    knobs = read_back(plan, tmp_path)["ingress"]
    assert knobs.rejected() == [("proxy-body-size", "100mb")]  # the controller logs it and keeps 1m


def test_ingress_configmap_keys_are_checked(tmp_path):
    plan, files = broken_files("413-body-size", tmp_path)
    error = refused(plan, tmp_path, "ingress/configmap.yaml", "data: {}", "data:\n  proxy-body-sise: 1g", files)
    assert "did you mean proxy-body-size" in error.message
    error = refused(plan, tmp_path, "ingress/configmap.yaml", "data: {}", "data:\n  proxy-body-size: 1", files)
    assert "is not a string" in error.message


def test_uwsgi_options_are_read_as_uwsgi_reads_its_ini():
    text = "; comment\n[uwsgi]\n  socket = a\nsocket = b\n# x\n[other]\nlisten = 5\n"
    assert ini_options(text) == [("uwsgi", "socket", "a", 3), ("uwsgi", "socket", "b", 4), ("other", "listen", "5", 7)]


@pytest.mark.parametrize("old,new,words", [
    ("listen = 100", "listen = 1k", "uwsgi reads it with atoi()"),
    ("listen = 100", "http-keepalive = true", "1: on"),
    ("listen = 100", "lisen = 1024", "did you mean listen?"),
    ("listen = 100", "listen = 1024\nlisten = 100", "set twice"),
    ("master = true", "", "`master = true` is gone"),
])
def test_uwsgi_refuses_with_file_and_line(tmp_path, old, new, words):
    plan, files = broken_files("502-keepalive", tmp_path)
    error = refused(plan, tmp_path, "app/uwsgi.ini", old, new, files)
    assert words in error.message and error.message.startswith("app/uwsgi.ini"), error.message


def test_traefik_reads_option_names_in_any_case_and_go_durations(tmp_path):
    plan, files = broken_files("502-keepalive", tmp_path)
    (tmp_path / "traefik/traefik.yml").write_text(files["traefik/traefik.yml"].replace(
        "maxIdleConnsPerHost: 200", "MaxIdleConnsPerHost: -1").replace("idleConnTimeout: 90s", "idleConnTimeout: 1m"))
    knobs = read_back(plan, tmp_path)["traefik"]
    assert knobs.maxIdleConnsPerHost == -1 and knobs.idleConnTimeout == 60
    assert go_duration_s("1m30s") == 90 and go_duration_s(30) == 30 and go_duration_s("250ms") == 0.25


@pytest.mark.parametrize("name,old,new,words", [
    ("traefik/traefik.yml", "idleConnTimeout: 90s", "idleConnTimeout: 90x", "is not a duration"),
    ("traefik/dynamic.yml", "      service: app", "      service: app\n      middlewares: [retry]",
     "http.routers.app.middlewares"),
    ("traefik/traefik.yml", "address: \":8080\"", "address: \":80\"", "entrypoints.web.address"),
])
def test_traefik_refuses_with_the_path(tmp_path, name, old, new, words):
    plan, files = broken_files("502-keepalive", tmp_path)
    error = refused(plan, tmp_path, name, old, new, files)
    assert words in error.message, error.message


# The workspace ------------------------------------------------------------------------------------------

def test_start_writes_the_broken_files_and_refuses_a_second_start(tmp_path):
    plan = PLANS["413-body-size"]
    workspace = practice.start(plan, tmp_path / "ws", time_limit_s=1200)
    assert (tmp_path / "ws/host-nginx/nginx.conf").is_file() and (tmp_path / "ws/ingress/ingress.yaml").is_file()
    assert practice.diff(workspace) == ""
    with pytest.raises(InputError, match="already holds a practice"):
        practice.start(plan, tmp_path / "ws")
    (tmp_path / "other").mkdir()
    (tmp_path / "other/keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not an empty directory"):
        practice.start(plan, tmp_path / "other")
    with pytest.raises(InputError, match="cannot be practised: it is a journey"):
        practice.start(PLANS["keepalive-journey"], tmp_path / "journey")


def test_diff_reset_hints_and_stop(tmp_path):
    workspace = practice.start(PLANS["413-body-size"], tmp_path / "ws")
    conf = tmp_path / "ws/host-nginx/nginx.conf"
    conf.write_text(conf.read_text().replace("client_max_body_size 1m;", "client_max_body_size 1024m;"))
    shown = practice.diff(workspace)
    assert "-    client_max_body_size 1m;\n+    client_max_body_size 1024m;\n" in shown
    hints = [practice.hint(workspace) for _ in range(4)]
    assert [hint.tier for hint in hints] == [1, 2, 3, 3]
    assert "host-nginx" in hints[0].text and "client_max_body_size" not in hints[0].text  # tier 1 names no setting
    assert "nginx.ingress.kubernetes.io/proxy-body-size" in hints[1].text and "1024m" not in hints[1].text
    assert "1024m" in hints[2].text
    again = practice.open_workspace(tmp_path / "ws")
    assert again.state.hints == 3 and again.state.scenario == "413-body-size"
    practice.reset(again)
    assert practice.diff(again) == ""
    practice.stop(again)
    assert conf.is_file()  # the learner's files stay
    with pytest.raises(InputError, match="no practice in"):
        practice.open_workspace(tmp_path / "ws")


def test_brief_says_the_symptom_not_the_cause():
    brief = practice.brief(PLANS["413-body-size"])
    assert "413" in brief and "64 MiB" in brief and "client_max_body_size" not in brief and "1m" not in brief
    assert "fail" in practice.brief(PLANS["502-keepalive"])


def test_the_first_hint_follows_the_learners_last_check(tmp_path):
    workspace = practice.start(PLANS["413-body-size"], tmp_path / "ws")
    assert "host-nginx" in practice.hint(workspace, 1).text
    workspace.state.attempts.append(practice.Attempt(0.0, "known-wrong-fix", "413 ×1", "fix-host-only", 6.0, "ingress"))
    text = practice.hint(workspace, 1).text
    assert "came from ingress" in text and "host-nginx" not in text


@pytest.mark.parametrize("scenario_id", [sid for sid, plan in PLANS.items() if plan.fixes])
def test_a_scenario_with_a_fix_is_practised_unless_its_file_says_why_not(scenario_id):
    plan = PLANS[scenario_id]
    stops = practice.what_stops(plan)
    assert plan.scenario.practice == (stops is None), (
        f"{scenario_id}: {stops}: say `practice: false` in its file" if stops else
        f"{scenario_id} can be practised: its file's `practice: false` takes it out")
