"""`lab diagnose` on pasted default-format logs, status codes and garbage (no engine needed)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from faultlab.model import scenario
from faultlab.tools import diagnose
from faultlab.tools.logformats import parse_lines

SAMPLES = Path(__file__).parent / "data" / "default-logs"


@pytest.fixture(scope="module")
def steps() -> list[diagnose.CauseStep]:
    return diagnose.catalogue()


def sample(name: str) -> list[str]:
    return (SAMPLES / name).read_text().splitlines()


def test_signatures_come_from_every_failing_step_of_the_scenario_files(steps):
    plans = [scenario.load(scenario_id) for scenario_id in scenario.available()]
    failing = [(plan.scenario.id, step.step.name) for plan in plans for step in plan.steps
               if step.step.role in ("broken", "wrong-fix") or (step.step.expect.status or 0) >= 400
               or (step.step.expect.failures is not None and step.step.expect.failures.min > 0)]
    assert [(step.scenario_id, step.step) for step in steps] == failing
    by_step = {(plan.scenario.id, step.step.name): step.step.expect.logs for plan in plans for step in plan.steps}
    for step in steps:
        assert [sig.pattern for sig in step.logs] == [sig.match for sig in by_step[step.scenario_id, step.step]]
    # A variant step (nginx logging the app's 200 under ignore_client_abort) is not a failure to diagnose.
    assert ("499-client-abort", "ignore-client-abort") not in failing


def test_signatures_carry_the_server_kind_of_their_hop(steps):
    kinds = {(step.scenario_id, sig.hop): sig.kind for step in steps for sig in step.logs}
    assert kinds["413-body-size", "host-nginx"] == "nginx"
    assert kinds["413-body-size", "ingress"] == "ingress-nginx"
    assert kinds["502-gunicorn-timeout", "app"] == "gunicorn"
    assert kinds["502-uwsgi-harakiri", "app"] == "uwsgi"
    assert kinds["502-keepalive", "traefik"] == "traefik"


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.log")), ids=lambda path: path.stem)
def test_a_default_format_paste_names_its_scenario_first(path, steps):
    expected = path.name.split(".")[0]  # <scenario-id>[.<variant>].log
    result = diagnose.diagnose(path.read_text().splitlines(), steps)
    assert result.causes and result.causes[0].strong
    assert result.causes[0].scenario_id == expected, [(c.scenario_id, c.score, c.fit) for c in result.causes]


def test_nginx_upstream_scheme_tells_the_two_read_timeouts_apart(steps):
    http = diagnose.diagnose(sample("504-read-timeout.log"), steps).causes
    uwsgi = diagnose.diagnose(sample("504-uwsgi-read-timeout.log"), steps).causes
    assert [c.scenario_id for c in http[:2]] == ["504-read-timeout", "504-uwsgi-read-timeout"]
    assert [c.scenario_id for c in uwsgi[:2]] == ["504-uwsgi-read-timeout", "504-read-timeout"]


def test_a_journey_with_the_same_evidence_is_folded_into_the_single_scenario(steps):
    top = diagnose.diagnose(sample("413-body-size.log"), steps).causes[0]
    assert top.scenario_id == "413-body-size"
    assert top.also == ["upload-journey (step body-limit)"]


def test_own_sizes_and_names_match_the_scenarios_numbers_loosely(steps):
    # The scenario's regex says 67108864 bytes; the user's upload was 52428800 bytes.
    top = diagnose.diagnose(sample("413-body-size.log"), steps).causes[0]
    assert [match.exact for match in top.matched] == [False]
    throttle = diagnose.diagnose(sample("503-lb-throttle.log"), steps).causes[0]  # zone "perip", not "faultlab_conn"
    assert throttle.scenario_id == "503-lb-throttle" and throttle.score == 1.0


def test_cause_names_evidence_hop_reproduction_and_fix(steps):
    top = diagnose.diagnose(sample("502-gunicorn-timeout.log"), steps).causes[0]
    assert top.scenario_id == "502-gunicorn-timeout" and top.step == "broken"
    assert {match.signature.hop for match in top.matched} == {"ingress", "app"}
    assert any("WORKER TIMEOUT (pid:8)" in line for match in top.matched for line in match.lines)
    assert top.reproduce == "lab run 502-gunicorn-timeout --step broken"
    # The fix is the knob the fix step changes, not the gunicorn release the next broken step switches to.
    assert top.fixes == ["app timeout: 30s → 600s (step fix)"]


def test_fix_keeps_what_a_wrong_fix_changed_before_it(steps):
    fixes = next(step.fixes for step in steps if (step.scenario_id, step.step) == ("413-body-size", "broken"))
    assert list(fixes) == ["host-nginx client_max_body_size: 1m → 1024m; "
                     "ingress nginx.ingress.kubernetes.io/proxy-body-size: default → 1024m (step fix-both)"]


def test_every_alternative_fix_is_listed(steps):
    fixes = next(step.fixes for step in steps if (step.scenario_id, step.step) == ("502-keepalive", "broken"))
    assert [fix.rsplit("(step ", 1)[1] for fix in fixes] == [
        "uwsgi-keepalive)", "uwsgi-keepalive-c200)", "traefik-no-idle-reuse)"]
    assert "traefik maxIdleConnsPerHost: 200 → -1" in fixes[2]


def test_status_codes_alone_are_weak_evidence(steps):
    result = diagnose.diagnose(["504"], steps)
    assert result.found and not any(cause.strong for cause in result.causes)
    assert {cause.scenario_id for cause in result.causes} == {"504-read-timeout", "504-uwsgi-read-timeout",
                                                                "upload-journey"}
    assert "only statuses do" in diagnose.render_text(result)


@pytest.mark.parametrize("lines", [
    [], [""], ["\x00\x01\xff\xfe garbage \x1b[31m"], ["x" * 2_000_000], ["{" * 10_000], ["hello world"] * 5000,
    ["200 OK", "GET / HTTP/1.1"],
], ids=["empty", "blank", "binary", "huge-line", "braces", "many-lines", "healthy"])
def test_garbage_gives_no_known_cause_and_never_raises(lines, steps):
    result = diagnose.diagnose(lines, steps)
    assert not result.found
    assert "No known cause" in diagnose.render_text(result)
    json.dumps(diagnose.to_dict(result))


def test_a_near_miss_is_shown_as_the_closest_partial_match(steps):
    result = diagnose.diagnose(["upstream tmed out (110: Connection timed out) while reading response"], steps)
    assert not result.found
    assert result.partial[0].scenario_id == "504-read-timeout"
    assert "Closest partial matches" in diagnose.render_text(result)


def lab(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faultlab", *args], input=stdin, capture_output=True, timeout=60,
                          env={**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock"})


def test_cli_reads_files_and_stdin_and_exits_by_outcome():
    found = lab("diagnose", str(SAMPLES / "502-connection-reset.log"))
    assert found.returncode == 0 and b"1. 502-connection-reset:" in found.stdout
    piped = lab("diagnose", "--json", stdin=(SAMPLES / "502-keepalive.log").read_bytes())
    assert piped.returncode == 0 and json.loads(piped.stdout)["causes"][0]["scenario"] == "502-keepalive"
    junk = lab("diagnose", "-", stdin=bytes(range(256)) * 100)
    assert junk.returncode == 1 and b"No known cause" in junk.stdout and b"Traceback" not in junk.stderr
    missing = lab("diagnose", "/nonexistent/file.log")
    assert missing.returncode == 2 and b"cannot read /nonexistent/file.log" in missing.stderr


def test_every_signature_matches_a_default_format_line(steps):
    # Error-log signatures read the same in every format; access signatures written against the lab's
    # JSON formats match default-format lines through their lab-format twin (ingress-nginx's
    # upstreaminfo carries nginx's upstream status; nginx's `combined` does not, see test_logformats).
    lines = [line for path in sorted(SAMPLES.glob("*.log")) for line in path.read_text().splitlines()]
    parsed = parse_lines(lines)
    unmatched = {sig.pattern for step in steps for sig in step.logs
                 if diagnose.match_step(dataclasses.replace(step, logs=(sig,)), parsed) is None
                 or diagnose.match_step(dataclasses.replace(step, logs=(sig,)), parsed).missing}
    assert unmatched == set()
