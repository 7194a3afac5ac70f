"""The runner's decisions without an engine: batches of a race, what restarts between steps, and a run
that fails still ends every handler (the HTML report is written, marked so)."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator

import pytest
from rich.console import Console

from faultlab.errors import EnvironmentError_
from faultlab.infra.stack import restart_order
from faultlab.model import scenario
from faultlab.model.scenario import Expect
from faultlab.output.html import HtmlReport
from faultlab.output.json import JsonReport
from faultlab.output.terminal import TerminalReport
from faultlab.run import runner
from faultlab.run.events import BatchDone, Event, Recorder, RequestResult, RunFailed, ScenarioStarted
from faultlab.run.evidence import AccessEvent, Evidence
from faultlab.run.traffic import RequestRecord

HOPS = ["host-nginx", "ingress", "app"]


def records(failed: int, total: int) -> list[RequestRecord]:
    return [RequestRecord(f"r{n}", 0.0, status=502 if n < failed else 200) for n in range(total)]


def test_a_race_stops_sending_batches_once_it_has_seen_enough_failures():
    sent: list[int] = []
    events: list[Event] = []

    def batch(before: int) -> list[RequestRecord]:
        sent.append(before)
        return records(1 if len(sent) == 2 else 0, 200)  # the race shows up in the second batch

    got = runner.send_batches(batch, 5, Expect(failures={"min": 1}), events.append)
    assert sent == [0, 200] and len(got) == 400
    assert [(e.batch, e.failed, e.enough) for e in events if isinstance(e, BatchDone)] == [(1, 0, False),
                                                                                           (2, 1, True)]


def test_a_step_that_expects_no_failure_sends_every_batch():
    sent: list[int] = []
    got = runner.send_batches(lambda before: sent.append(before) or records(0, 10), 3, Expect(failures={"max": 0}),
                              lambda event: None)
    assert sent == [0, 10, 20] and len(got) == 30


def test_a_step_that_expects_no_failure_stops_at_its_first_failing_batch():
    sent: list[int] = []
    got = runner.send_batches(lambda before: sent.append(before) or records(1 if before else 0, 10), 5,
                              Expect(failures={"max": 0}), lambda event: None)
    assert sent == [0, 10] and len(got) == 20


@pytest.mark.parametrize(("expect", "failed", "enough"), [
    (Expect(failures={"min": 3}), 2, False), (Expect(failures={"min": 3}), 3, True),
    (Expect(failures={"min": 1, "max": 5}), 4, False),  # a bounded count needs every batch, until it is over
    (Expect(failures={"min": 1, "max": 5}), 6, True), (Expect(failures={"max": 0}), 1, True),
    (Expect(failures={"max": 0}), 0, False),
    (Expect(status=502), 10, False),
])
def test_enough_failures(expect, failed, enough):
    assert runner.enough_failures(expect, failed) is enough


def evidence(*events: tuple[str, str, int, bool]) -> Evidence:
    return Evidence(HOPS, [], [AccessEvent(hop, rid, status, forwarded, 0.0) for hop, rid, status, forwarded in events])


def result(request_id: str, status: int | None, answered_by: str | None) -> RequestResult:
    return RequestResult(RequestRecord(request_id, 0.0, status=status), answered_by, [])


def test_hops_behind_the_one_that_gave_up_are_restarted_before_the_next_step():
    # The ingress timed out (504) after passing the request on: the app may still be working on it.
    seen = evidence(("host-nginx", "r1", 504, True), ("ingress", "r1", 504, True))
    assert runner.unsettled_hops(HOPS, [result("r1", 504, "ingress")], seen) == ["app"]


def test_a_hop_that_answered_by_itself_leaves_nothing_unsettled():
    seen = evidence(("host-nginx", "r1", 413, False))
    assert runner.unsettled_hops(HOPS, [result("r1", 413, "host-nginx")], seen) == []


def test_a_request_nobody_answered_unsettles_every_hop():
    assert runner.unsettled_hops(HOPS, [result("r1", None, None)], evidence()) == HOPS


@pytest.mark.parametrize(("changed", "order"), [
    ({"app"}, ["app", "ingress", "host-nginx"]),  # the hops in front pool connections to it
    ({"ingress"}, ["ingress", "host-nginx"]),
    ({"host-nginx"}, ["host-nginx"]),
    (set(), []),
])
def test_what_a_knob_change_restarts_and_in_which_order(changed, order):
    assert restart_order(HOPS, changed) == order


@contextlib.contextmanager
def _engine_gone(*args: object, **kwargs: object) -> Iterator[None]:
    raise EnvironmentError_("Docker engine not reachable at unix:///nonexistent.sock")
    yield  # pragma: no cover - a generator, like the real open_stack


def test_a_failed_run_still_closes_every_handler_and_writes_its_report(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "open_stack", _engine_gone)
    recorder, json_out = Recorder(), io.StringIO()
    console = Console(file=io.StringIO(), width=120, color_system=None)
    html = HtmlReport(tmp_path / "out")
    with pytest.raises(EnvironmentError_):
        runner.run(scenario.load("500-app-error"), [recorder, JsonReport(json_out), TerminalReport(console), html])
    assert [type(event) for event in recorder.events] == [ScenarioStarted, RunFailed]
    document = json.loads(json_out.getvalue())
    assert document["ok"] is False and document["ended"] == "failed"
    assert "not reachable" in document["error"]
    page = (tmp_path / "out" / "index.html").read_text()
    assert "Stopped early: the run failed: Docker engine not reachable" in page


def test_bursty_traffic_idles_between_batches_never_before_the_first_or_after_the_last():
    timeline: list[str] = []

    def batch(before: int) -> list[RequestRecord]:
        timeline.append(f"batch@{before}")
        return records(0, 10)

    runner.send_batches(batch, 3, Expect(failures={"max": 0}), lambda event: None, lambda: timeline.append("idle"))
    assert timeline == ["batch@0", "idle", "batch@10", "idle", "batch@20"]


def test_the_lab_runs_a_hops_own_compose_healthcheck_after_a_restart():
    """What `wait_healthy` execs: the compose file's `test`, as the engine would run it."""
    from types import SimpleNamespace

    from faultlab.infra.stack import _health_command

    def container(test: list[str] | None) -> SimpleNamespace:
        config = {"Healthcheck": {"Test": test}} if test is not None else {}
        return SimpleNamespace(attrs={"Config": config})

    tcp = ["CMD", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/$FAULTLAB_HEALTH_PORT"]
    assert _health_command(container(tcp)) == tcp[1:]
    assert _health_command(container(["CMD-SHELL", "curl -f localhost"])) == ["/bin/sh", "-c", "curl -f localhost"]
    assert _health_command(container(["NONE"])) is None  # then the engine's own status is waited for
    assert _health_command(container(None)) is None
