"""`faultlab diagnose` on pasted default-format logs, status codes and garbage (no engine needed)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from faultlab.cli import HINTS
from faultlab.model import scenario
from faultlab.output import diagnose_text, words
from faultlab.tools import diagnose
from faultlab.tools.logformats import parse_lines, unwrapped

SAMPLES = Path(__file__).parent / "data" / "default-logs"


@pytest.fixture(scope="module")
def steps() -> list[diagnose.CauseStep]:
    return diagnose.catalogue()


def sample(name: str) -> list[str]:
    return (SAMPLES / name).read_text().splitlines()


def test_signatures_come_from_the_failing_steps_of_the_scenario_files(steps):
    by_scenario: dict[str, list[str]] = {}
    for step in steps:
        by_scenario.setdefault(step.scenario_id, []).append(step.step)
    # broken and wrong-fix steps, and a journey's fix that reveals the next failure (504, then 502);
    # not the steps whose users see success, nor a variant (nginx logging the app's 200 under ignore_client_abort).
    assert by_scenario["413-body-size"] == ["broken", "broken-chunked", "fix-host-only", "annotation-100mb"]
    assert by_scenario["499-client-abort"] == ["client-gives-up"]
    assert by_scenario["upload-journey"] == ["body-limit", "body-limit-host-only", "body-limit-both",
                                             "wrong-timeout-fix", "read-timeout-fix"]
    assert by_scenario["502-keepalive"] == ["broken", "quiet-hours", "traefik-retry", "traefik-timeouts"]
    assert by_scenario["502-retry-duplicate-post"] == ["broken", "retry-502s", "retry-502s-idempotent-only"]
    plans = {plan_id: scenario.load(plan_id) for plan_id in by_scenario}
    for step in steps:
        expected = plans[step.scenario_id].step_named(step.step).step.expect.logs
        assert [sig.pattern for sig in step.logs] == [sig.match for sig in expected]


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
    general = set(scenario.load(expected).scenario.refines)
    if result.causes[0].scenario_id in general:
        # A special case (a stale address) on the general cause's line alone: named beside it in the
        # differential, with what tells it apart.
        assert result.differential is not None
        entry = next(e for e in result.differential.entries if e.scenario_id == expected)
        assert entry.tells_apart
        return
    assert result.causes[0].scenario_id == expected, [(c.scenario_id, c.score, c.fit) for c in result.causes]


def test_nginx_upstream_scheme_tells_the_two_read_timeouts_apart(steps):
    http = diagnose.diagnose(sample("504-read-timeout.log"), steps).causes
    uwsgi = diagnose.diagnose(sample("504-uwsgi-read-timeout.log"), steps).causes
    assert http[0].scenario_id == "504-read-timeout" and uwsgi[0].scenario_id == "504-uwsgi-read-timeout"
    http_order, uwsgi_order = [c.scenario_id for c in http], [c.scenario_id for c in uwsgi]
    assert http_order.index("504-uwsgi-read-timeout") > http_order.index("504-retry-duplicates")  # http chains first
    assert uwsgi_order.index("504-read-timeout") == 1


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
    text = diagnose_text.render_text(diagnose.diagnose(sample("502-gunicorn-timeout.log"), steps), HINTS)
    assert "reproduce: faultlab run 502-gunicorn-timeout --step broken" in text
    # The fix is the knob the fix step changes, not the gunicorn release the next broken step switches to.
    assert [(fix.step, words.changes(fix.changes)) for fix in top.fixes] == [("fix", "app timeout 30s → 600s")]
    assert "fix: app timeout 30s → 600s (step fix)" in text


def test_fix_keeps_what_a_wrong_fix_changed_before_it(steps):
    fixes = next(step.fixes for step in steps if (step.scenario_id, step.step) == ("413-body-size", "broken"))
    assert [(fix.step, words.changes(fix.changes)) for fix in fixes] == [
        ("fix-both", "host-nginx client_max_body_size 1m → 1024m; "
                     "ingress nginx.ingress.kubernetes.io/proxy-body-size (unset) → 1024m")]


def test_every_alternative_fix_is_listed(steps):
    fixes = next(step.fixes for step in steps if (step.scenario_id, step.step) == ("502-keepalive", "broken"))
    assert [(fix.step, words.changes(fix.changes)) for fix in fixes] == [
        ("quiet-hours-idle-below", "app http_keepalive false → true; app listen 100 → 1024; "
                                   "traefik idleConnTimeout 90s → 30s"),
        # the listen queue the lab left raised is not part of the proxy-side fixes
        ("traefik-no-idle-reuse", "traefik maxIdleConnsPerHost 200 → -1"),
        ("traefik-retry-replays-502", "traefik retryAttempts 0 → 10; traefik retryNonIdempotentMethod false → true; "
                                      "traefik retryStatus [] → ['502']")]


def test_a_journey_fix_stops_at_the_next_broken_step(steps):
    fixes = next(step.fixes for step in steps
                 if (step.scenario_id, step.step) == ("traefik-journey", "errors-under-load"))
    assert [(fix.step, words.changes(fix.changes)) for fix in fixes] == [
        ("uwsgi-keepalive", "app http_keepalive false → true")]


def test_status_codes_alone_are_weak_evidence(steps):
    result = diagnose.diagnose(["504"], steps)
    assert result.found and not any(cause.strong for cause in result.causes)
    assert {cause.scenario_id for cause in result.causes} == {"504-read-timeout", "504-retry-duplicates",
                                                                "504-uwsgi-read-timeout", "upload-journey"}
    assert "only statuses do" in diagnose_text.render_text(result)


@pytest.mark.parametrize("lines", [
    [], [""], ["\x00\x01\xff\xfe garbage \x1b[31m"], ["x" * 2_000_000], ["{" * 10_000], ["hello world"] * 5000,
    ["200 OK", "GET / HTTP/1.1"],
], ids=["empty", "blank", "binary", "huge-line", "braces", "many-lines", "healthy"])
def test_garbage_gives_no_known_cause_and_never_raises(lines, steps):
    result = diagnose.diagnose(lines, steps)
    assert not result.found
    assert "No known cause" in diagnose_text.render_text(result)
    json.dumps(diagnose_text.to_dict(result))


def test_a_near_miss_is_shown_as_the_closest_partial_match(steps):
    result = diagnose.diagnose(["upstream tmed out (110: Connection timed out) while reading response"], steps)
    assert not result.found
    assert result.partial[0].scenario_id == "504-read-timeout"
    assert "Closest partial matches" in diagnose_text.render_text(result)


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
    parsed = parse_lines(unwrapped(lines))
    unmatched = {sig.pattern for step in steps for sig in step.logs
                 if diagnose.match_step(dataclasses.replace(step, logs=(sig,)), parsed) is None
                 or diagnose.match_step(dataclasses.replace(step, logs=(sig,)), parsed).missing}
    assert unmatched == set()


PREMATURE = ('2026/12/01 18:44:31 [error] 8#8: *108 upstream prematurely closed connection while reading response '
             'header from upstream, client: 10.0.0.7, server: example.com, request: "POST /orders HTTP/1.1", '
             'upstream: "http://10.244.0.12:8000/orders", host: "example.com"')


def test_one_line_of_several_causes_gets_a_differential_of_what_else_each_would_log(steps):
    result = diagnose.diagnose([PREMATURE], steps)
    assert result.differential is not None and result.differential.line == PREMATURE
    entries = {entry.scenario_id: entry for entry in result.differential.entries}
    assert {"502-upstream-keepalive", "502-gunicorn-timeout", "502-uwsgi-harakiri"} <= set(entries)
    assert entries["502-upstream-keepalive"].missing == ()
    assert [sig.pattern for sig in entries["502-gunicorn-timeout"].missing] == [r"WORKER TIMEOUT \(pid:\d+\)"]
    assert [sig.kind for sig in entries["502-uwsgi-harakiri"].missing] == ["uwsgi"]
    text = diagnose_text.render_text(result)
    assert "Tell them apart: " in text and "502-upstream-keepalive: nothing else" in text
    assert json.loads(json.dumps(diagnose_text.to_dict(result)))["differential"]["line"] == PREMATURE
    # The one thing to ask for next: the app server's log around the line's time.
    assert "error log of the app hop around 18:44:31" in result.differential.ask
    assert "Ask next for: " in text and json.loads(json.dumps(diagnose_text.to_dict(result)))["differential"]["ask"]


def test_the_app_line_settles_it_and_the_differential_says_so(steps):
    worker = "[2026-12-01 18:44:31 +0000] [1] [CRITICAL] WORKER TIMEOUT (pid:10)"
    result = diagnose.diagnose([PREMATURE, worker], steps)
    assert result.causes[0].scenario_id == "502-gunicorn-timeout"
    assert result.differential is not None
    first = result.differential.entries[0]
    assert first.scenario_id == "502-gunicorn-timeout" and first.missing == () and first.matched == 2


def test_a_cause_alone_has_no_differential(steps):
    result = diagnose.diagnose(['2026/11/24 10:05:00 [error] 7#7: *2 limiting connections by zone "faultlab_conn", '
                                'client: 172.17.0.1, server: , request: "GET / HTTP/1.1", host: "localhost"'], steps)
    assert [cause.scenario_id for cause in result.causes if cause.strong] == ["503-lb-throttle"]
    assert result.differential is None


def test_a_special_case_names_a_general_cause_that_logs_its_lines(steps):
    signatures = {}
    for step in steps:
        signatures.setdefault(step.scenario_id, set()).update(
            pattern for sig in step.logs for pattern in (sig.pattern, *sig.variants))
    refining = [plan for plan in diagnose.loadable()[0] if plan.scenario.refines]
    assert refining
    for plan in refining:
        for general in plan.scenario.refines:
            assert signatures[plan.scenario.id] & signatures[general], f"{plan.scenario.id} refines {general}"


def test_a_general_cause_comes_before_its_special_case_and_the_chain_still_decides(steps):
    def named(*lines: str) -> list[str]:
        return [cause.scenario_id for cause in diagnose.diagnose(list(lines), steps).causes if cause.strong]

    # A refused connect over proxy_pass: nobody listens there (502-connection-refused runs uwsgi_pass, and
    # says the line is the same for http), then the stale address.
    refused = named('2020/04/20 14:59:27 [error] 8#8: *5 connect() failed (111: Connection refused) while connecting '
                    'to upstream, client: 37.112.0.151, server: x, request: "GET / HTTP/1.1", '
                    'upstream: "http://172.18.0.2:8000/", host: "x"')
    assert refused.index("502-connection-refused") < refused.index("502-stale-upstream-dns")
    # A read timeout without nginx's upstream field: proxy_pass's before uwsgi_pass's; with uwsgi:// the
    # chain decides (test_nginx_upstream_scheme_tells_the_two_read_timeouts_apart).
    bare = named("[error] 191#0: *82 upstream timed out (110: Connection timed out) while reading response header "
                 "from upstream")
    assert bare[0] == "504-read-timeout" and "504-uwsgi-read-timeout" in bare


def test_a_journey_declares_the_scenarios_it_replays_and_only_those_fold_into_each_other(steps):
    for plan in diagnose.loadable()[0]:
        for replayed in plan.scenario.replays + plan.scenario.refines:
            assert replayed in scenario.available(), f"{plan.scenario.id} names unknown {replayed}"
    # Two single scenarios with the same line on the same chain stay two causes, told apart by their clues.
    refused = sample("502-stale-upstream-dns.log")
    result = diagnose.diagnose(refused, steps)
    strong = [cause.scenario_id for cause in result.causes if cause.strong]
    assert {"502-stale-upstream-dns", "502-connection-refused"} <= set(strong)
    assert result.differential is not None
    clues = {entry.scenario_id: entry.tells_apart for entry in result.differential.entries}
    assert "upstream: field is not the app's address now" in clues["502-stale-upstream-dns"]
    assert "nothing listens" in clues["502-connection-refused"]
    text = diagnose_text.render_text(result)
    assert "look at: nothing listens" in text
    assert json.loads(json.dumps(diagnose_text.to_dict(result)))["differential"]["causes"][0]["tells_apart"]


def test_a_variant_wording_names_its_scenario_and_a_contradicting_line_demotes_it(steps):
    # The kernel's own OOM line (dokku/dokku#4676) is a variant of gunicorn's SIGKILL signature.
    kernel = ("Jul 10 22:05:17 researchy-api kernel: [159805.364253] oom-kill:constraint=CONSTRAINT_NONE,"
              "nodemask=(null),task_memcg=/docker/3f6d,task=gunicorn,pid=1026306,uid=32767")
    assert diagnose.diagnose([kernel], steps).causes[0].scenario_id == "502-worker-oom"
    # gunicorn's own timeout logs WORKER TIMEOUT before the same SIGKILL line (open-runtimes/open-runtimes#330).
    timeout = ["[2024-11-05 09:25:59 +0000] [16] [CRITICAL] WORKER TIMEOUT (pid:17)",
               "[2024-11-05 09:26:00 +0000] [16] [ERROR] Worker (pid:17) was sent SIGKILL! Perhaps out of memory?"]
    causes = diagnose.diagnose(timeout, steps).causes
    assert causes[0].scenario_id == "502-gunicorn-timeout"
    oom = next(cause for cause in causes if cause.scenario_id == "502-worker-oom")
    assert "WORKER TIMEOUT" not in oom.contradicted and "502-gunicorn-timeout" in oom.contradicted


LIMITED = ('2026/11/24 10:05:00 [error] 7#7: *2 limiting connections by zone "faultlab_conn", client: 172.17.0.1, '
           'server: , request: "GET / HTTP/1.1", host: "localhost"')


def test_each_strong_cause_has_its_standing_and_the_corpus_confidence_of_that_standing(steps):
    counts = diagnose.calibration()
    assert set(counts) == set(diagnose.STANDINGS)
    alone = diagnose.diagnose([LIMITED], steps).causes[0]
    assert alone.standing == "alone" and alone.confidence == (counts["alone"][0] + 1) / (counts["alone"][1] + 2)
    shared = [cause for cause in diagnose.diagnose([PREMATURE], steps).causes if cause.strong]
    assert [cause.standing for cause in shared] == ["leading"] + ["alternative"] * (len(shared) - 1)
    assert shared[0].confidence > diagnose.KNOWN_AT > shared[1].confidence  # as measured on the corpus
    over_http = PREMATURE.replace("prematurely closed connection", "timed out (110: Connection timed out)")
    ruled_out = next(cause for cause in diagnose.diagnose([over_http], steps).causes
                     if cause.scenario_id == "504-uwsgi-read-timeout")
    assert ruled_out.standing == "contradicted" and ruled_out.confidence < diagnose.KNOWN_AT
    shown = diagnose_text.to_dict(diagnose.diagnose([LIMITED], steps))
    assert shown["known"] is True and shown["causes"][0]["standing"] == "alone"


def test_a_first_cause_that_was_rarely_right_on_the_corpus_is_no_known_cause(steps, monkeypatch):
    monkeypatch.setattr(diagnose, "_CALIBRATION", {"alone": (1, 10)})
    result = diagnose.diagnose([LIMITED], steps)
    assert result.causes[0].strong and result.causes[0].confidence == 2 / 12
    assert not result.known and result.matches == []
    text = diagnose_text.render_text(result)
    assert "No known cause: the best match is right less than half the time on the corpus (17%)" in text
    assert "1. 503-lb-throttle (partial):" in text
    assert diagnose_text.to_dict(result)["known"] is False


def test_the_http2_wording_of_a_chunked_413_names_the_body_limit(steps):
    # Measured on the lab's nginx 1.22.1 over HTTP/2 without a Content-Length (see 413-body-size.md).
    line = ('2026/12/02 16:42:01 [error] 7#7: *2 client intended to send too large chunked body: 5000 bytes, '
            'client: 172.17.0.1, server: , request: "PUT /up HTTP/2.0", host: "127.0.0.1:18089"')
    first = diagnose.diagnose([line], steps).matches[0]
    assert (first.scenario_id, first.step, first.standing) == ("413-body-size", "broken-chunked", "alone")
    assert not first.matched[0].exact  # through the variant, not the HTTP/1.1 signature


@pytest.mark.parametrize("line", [
    "[2026-11-24 10:10:00,120] ERROR in app: Exception on /error [GET]",  # the lab's Flask app
    "Internal Server Error: /",  # Django (openplans/shareabouts#223)
    "\t[2021-02-14 05:24:40 +0000] [21] [ERROR] Exception in ASGI application",  # uvicorn (newrelic-python-agent#146)
    " TypeError: 'str' object is not callable",  # a traceback's end, quoted indented (heroku-python/dj-static#19)
])
def test_the_frameworks_own_error_lines_name_the_app_error(line, steps):
    assert [cause.scenario_id for cause in diagnose.diagnose([line], steps).matches] == ["500-app-error"]


def test_a_big_post_on_a_closed_keepalive_connection_names_the_upstream_keepalive_race(steps):
    # The ingress's line in a lab run of 502-upstream-keepalive's bursts with a 512 KiB POST (see its .md).
    line = ('2026/12/02 17:24:55 [error] 7#7: *385 writev() failed (32: Broken pipe) while sending request to '
            'upstream, client: 192.168.48.1, server: , request: "POST /account/users/login/?work_s=0.010 HTTP/1.1", '
            'upstream: "http://192.168.48.2:8000/account/users/login/?work_s=0.010", host: "127.0.0.1:33182"')
    assert [cause.scenario_id for cause in diagnose.diagnose([line], steps).matches][:1] == ["502-upstream-keepalive"]
