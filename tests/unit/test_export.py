"""`faultlab fix`: which steps make the fix, and the shape of each target's snippet (the real tools check
the snippets in tests/scenarios/test_fix_exports.py)."""

import subprocess
import sys

import pytest
import yaml

from faultlab.errors import InputError
from faultlab.hops.gunicorn import flag
from faultlab.hops.nginx import Statement, changed, statements
from faultlab.hops.traefik import difference, dropped_paths
from faultlab.model import scenario
from faultlab.output import fix_text as text
from faultlab.output import words
from faultlab.tools import fix as export
from faultlab.tools.fix import step_snippets


def report(scenario_id: str) -> export.FixReport:
    return export.build(scenario.load(scenario_id))


def snippet(fix: export.Fix, target: str, title: str | None = None) -> str:
    found = [s.text for s in fix.snippets if s.format == target and (title is None or s.title == title)]
    assert len(found) == 1, [s.title for s in fix.snippets]
    return found[0]


def test_body_limit_fix_is_an_http_directive_and_an_ingress_annotation():
    fixed = report("413-body-size")
    assert fixed.broken_step == "broken" and fixed.formats == ("nginx", "ingress")
    (fix,) = fixed.fixes
    assert fix.step == "fix-both"
    assert snippet(fix, "nginx") == "http {\n    client_max_body_size 1024m;\n}\n"
    manifest = yaml.safe_load(snippet(fix, "ingress"))
    assert (manifest["apiVersion"], manifest["kind"]) == ("networking.k8s.io/v1", "Ingress")
    assert manifest["metadata"]["annotations"] == {"nginx.ingress.kubernetes.io/proxy-body-size": "1024m"}
    backend = manifest["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "app", "port": {"number": 8000}}  # the ingress's next hop in the topology
    assert [wrong.step for wrong in fixed.wrong_fixes] == ["fix-host-only", "annotation-100mb"]


def test_timeouts_are_story_values_inside_their_location_block():
    (fix,) = report("504-read-timeout").fixes  # time scale 1/30: the lab ran 20 s, the story says 600 s
    assert snippet(fix, "nginx") == (
        "http {\n    server {\n        location / {\n"
        "            proxy_read_timeout 600s;\n"
        "        }\n    }\n}\n")
    annotations = yaml.safe_load(snippet(fix, "ingress"))["metadata"]["annotations"]
    # only what clears the 504: the write-up's proxy_send_timeout 30s is not part of the fix
    assert annotations == {"nginx.ingress.kubernetes.io/proxy-read-timeout": "600"}  # a string, as Kubernetes wants


def test_a_journey_accumulates_its_fixes_into_one_with_stages():
    fixed = report("upload-journey")
    (fix,) = fixed.fixes
    assert [stage.step for stage in fix.stages] == ["body-limit-both", "read-timeout-fix", "gunicorn-timeout-fix"]
    assert [words.change(change) for change in fix.stages[-1].changes] == ["timeout 120s → 600s"]
    assert fixed.formats == ("nginx", "ingress", "gunicorn")
    assert snippet(fix, "gunicorn", "gunicorn.conf.py") == "timeout = 600\n"
    assert snippet(fix, "gunicorn", "gunicorn command line").startswith("gunicorn --timeout 600 faultapp:app  #")
    assert [wrong.step for wrong in fixed.wrong_fixes] == ["body-limit-host-only", "wrong-timeout-fix"]


def test_alternative_fixes_stay_apart_and_leftovers_are_named_not_exported():
    fixed = report("502-keepalive")
    first, second, third = fixed.fixes
    assert [stage.step for stage in first.stages] == ["uwsgi-keepalive", "uwsgi-keepalive-c200",
                                                      "quiet-hours-idle-below"]
    assert snippet(first, "uwsgi") == "[uwsgi]\nlisten = 1024\nhttp-keepalive = 1\n"
    # the quiet-hours stage runs at its own time scale, and its fix is printed in story time
    assert yaml.safe_load(snippet(first, "traefik", "static configuration (traefik.yml)")) == {
        "serversTransport": {"forwardingTimeouts": {"idleConnTimeout": "30s"}}}
    assert second.step == "traefik-no-idle-reuse"
    assert [words.change(change) for change in second.carried] == ["listen 100 → 1024"]
    assert not [s for s in second.snippets if s.format == "uwsgi"]
    static = yaml.safe_load(snippet(second, "traefik", "static configuration (traefik.yml)"))
    assert static == {"serversTransport": {"maxIdleConnsPerHost": -1}}
    per_service = yaml.safe_load(snippet(second, "traefik", "or per service: dynamic configuration (file provider)"))
    assert per_service["http"]["serversTransports"]["app"] == {"maxIdleConnsPerHost": -1}
    assert per_service["http"]["services"]["app"]["loadBalancer"]["serversTransport"] == "app"
    assert third.step == "traefik-retry-replays-502"
    assert [words.change(change) for change in third.changes] == [
        "retryAttempts 0 → 10", "retryNonIdempotentMethod false → true", "retryStatus [] → ['502']"]
    assert [wrong.step for wrong in fixed.wrong_fixes] == ["traefik-retry", "traefik-timeouts"]


def test_the_retry_middleware_lands_in_the_dynamic_configuration():
    plan = scenario.load("502-keepalive")
    (dynamic,) = [s for s in step_snippets(plan, plan.step_named("traefik-retry"))
                  if s.title.startswith("dynamic")]
    document = yaml.safe_load(dynamic.text)
    assert document["http"]["routers"]["app"] == {"middlewares": ["retry"]}
    assert document["http"]["middlewares"]["retry"]["retry"]["attempts"] == 10


def test_a_limit_brings_the_zone_it_uses():
    (fix,) = report("503-lb-throttle").fixes
    assert snippet(fix, "nginx") == (
        "http {\n    limit_conn_zone $server_port zone=faultlab_conn:1m;\n    server {\n        location / {\n"
        "            limit_conn faultlab_conn 400;\n        }\n    }\n}\n")


def test_a_release_another_broken_step_switched_to_is_not_part_of_the_fix():
    (fix,) = report("502-gunicorn-timeout").fixes
    assert [words.change(change) for change in fix.changes] == ["timeout 30s → 600s"]
    assert [words.change(change) for change in fix.carried] == ["release 21.2.0 → 27.0.1"]
    assert snippet(fix, "gunicorn", "gunicorn.conf.py") == "timeout = 600\n"


def test_a_release_change_is_said_not_exported_as_a_setting():
    from faultlab.hops import HOP_KINDS, RenderContext
    from faultlab.hops.gunicorn import GunicornKnobs
    from faultlab.units import TimeScale

    ctx = RenderContext("app", 8000, None, TimeScale.parse("1/10"))
    snippets = HOP_KINDS["gunicorn"].export(ctx, GunicornKnobs(release="21.2.0"),
                                            GunicornKnobs(release="27.0.1", timeout="600s"))
    conf = next(s.text for s in snippets if s.title == "gunicorn.conf.py")
    assert conf.endswith("timeout = 600\n") and "gunicorn 27.0.1 instead of 21.2.0" in conf


def test_a_scenario_without_a_fix_step_says_so():
    fixed = report("500-app-error")
    assert fixed.fixes == () and fixed.formats == ()
    assert "No step of this scenario is a fix" in text.full(fixed)
    with pytest.raises(InputError, match="500-app-error has no nginx fix"):
        text.only(fixed, "nginx")


def test_a_format_that_does_not_apply_names_the_ones_that_do():
    with pytest.raises(InputError, match="413-body-size has no uwsgi fix; the formats that apply: nginx, ingress"):
        text.only(report("413-body-size"), "uwsgi")


def test_one_format_alone_is_commented_in_its_own_syntax():
    assert text.only(report("502-keepalive"), "uwsgi").startswith(
        "; 502-keepalive, fix 1 of 3, step quiet-hours-idle-below: app, uwsgi.ini\n[uwsgi]\n")
    full = text.full(report("413-body-size"))
    assert "Tempting but does not help:\n  ✗ fix-host-only:" in full
    assert "── nginx · host-nginx · nginx.conf ──" in full


def test_nginx_parser_keeps_quoted_braces_and_skips_comments():
    conf = "http { # a comment {\n log_format x '{\"a\":1}';\n server { listen 80; }\n server { listen 81; } }"
    found = statements(conf)
    assert found[0] == Statement((("http", 0),), "log_format x '{\"a\":1}'")
    assert found[2].path == (("http", 0), ("server", 1))  # the second server block is told apart


def test_nginx_removed_directive_is_reported_once():
    added, removed = changed("http { limit_conn z 5; gzip on; }", "http { gzip on; }")
    assert added == [] and [s.text for s in removed] == ["limit_conn z 5"]


def test_gunicorn_flag_names_follow_gunicorn():
    assert flag("keepalive", "5") == "--keep-alive 5"
    assert flag("worker_class", '"gthread"') == "--worker-class gthread"


def test_traefik_difference_keeps_only_what_changed():
    before = {"a": {"b": 1, "c": [1]}, "gone": {"x": 1}}
    after = {"a": {"b": 2, "c": [1]}}
    assert difference(before, after) == {"a": {"b": 2}}
    assert dropped_paths(before, after) == ["gone"]


def test_cli_prints_one_format_and_rejects_an_unknown_scenario():
    done = subprocess.run([sys.executable, "-m", "faultlab", "fix", "504-uwsgi-read-timeout", "--format", "nginx"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "uwsgi_read_timeout 120s;" in done.stdout
    done = subprocess.run([sys.executable, "-m", "faultlab", "fix", "504-read-timout"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "Did you mean 504-read-timeout" in done.stderr
