"""The HTML/markdown report and its SVG chart, from a run's events built by hand (no engine)."""

from __future__ import annotations

from pathlib import Path

from faultlab.hops import Setting
from faultlab.model import scenario
from faultlab.output.chart import BARS_UP_TO, colour, status_chart
from faultlab.output.html import HtmlReport
from faultlab.run.events import (
    RequestResult,
    ScenarioFinished,
    ScenarioResult,
    ScenarioStarted,
    StepFinished,
    StepResult,
    StepStarted,
)
from faultlab.run.evidence import AccessEvent, Evidence, LogLine
from faultlab.run.traffic import RequestRecord
from faultlab.run.verdict import judge

HOPS = ["nginx", "app"]


def step_events(plan: scenario.Plan, index: int, statuses: list[int | None], settings: dict[str, list[Setting]],
                error_line: str) -> tuple[StepStarted, StepFinished]:
    step = plan.steps[index]
    records = [RequestRecord(f"{index}-{n:030d}", 1000.0 + n * 0.01, elapsed_s=0.005, status=status,
                             error=None if status else "ReadTimeout") for n, status in enumerate(statuses)]
    access = [AccessEvent(hop, r.request_id, r.status, r.status == 200, r.started_at)
              for r in records if r.status for hop in (HOPS if r.status == 200 else HOPS[:1])]
    lines = [LogLine("nginx", "error", 1000.0, error_line)]
    lines += [LogLine("nginx", "access", a.ts, f'{{"id": "{a.request_id}", "status": {a.status}}}') for a in access]
    evidence = Evidence(HOPS, lines, access)
    requests = [RequestResult(r, evidence.answered_by(r.request_id, r.status), evidence.trace(r.request_id))
                for r in records]
    result = StepResult(step, judge(step.step.expect, records, evidence), requests, 1.5, None, evidence)
    return StepStarted(step, index + 1, len(plan.steps), settings, []), StepFinished(result)


def written_report(tmp_path: Path) -> Path:
    plan = scenario.load("502-connection-refused")
    report = HtmlReport(tmp_path / "out")
    report.start()
    report.handle(ScenarioStarted(plan, plan.steps))
    broken = {"nginx": [Setting("uwsgi_read_timeout", "60s", "60s", False)],
              "app": [Setting("socket", "127.0.0.1:8080", "127.0.0.1:8080", True)]}
    fixed = {**broken, "app": [Setting("socket", "0.0.0.0:8080", "0.0.0.0:8080", True)]}
    result = ScenarioResult(plan, "faultlab-test")
    for index, (statuses, settings) in enumerate([([502] * 3, broken), ([200] * 3, fixed)]):
        started, finished = step_events(plan, index, statuses, settings,
                                        "connect() failed (111: Connection refused) while connecting to upstream "
                                        "<script>alert(1)</script> a|b")
        report.handle(started)
        report.handle(finished)
        result.steps.append(finished.result)
    report.handle(ScenarioFinished(result))
    report.close()
    return tmp_path / "out" / "index.html"


def test_each_step_shows_its_config_diff_checks_and_hop_trace(tmp_path):
    page = written_report(tmp_path).read_text()
    assert "2/2 steps matched" in page
    assert page.count('class="step"') == 2
    assert '<span class="old">127.0.0.1:8080</span> → <b>0.0.0.0:8080</b>' in page  # the fix's diff only
    assert page.count("uwsgi_read_timeout") == 1  # unchanged settings appear in the first step only
    assert '<code class="hop">nginx 502</code> ← <code class="hop">app —</code>' in page
    assert "<svg" in page and colour(502) in page and colour(200) in page


def test_the_page_escapes_log_text_and_loads_nothing(tmp_path):
    page = written_report(tmp_path).read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "src=" not in page and "<link" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


def test_markdown_keeps_tables_whole(tmp_path):
    markdown = (written_report(tmp_path).parent / "report.md").read_text()
    assert "## Step 2/2: fix (fix) — matched" in markdown
    assert "| app | `socket` | 127.0.0.1:8080 → **0.0.0.0:8080** |" in markdown
    assert "a\\|b" in markdown  # a pipe in a log line inside a table cell would end the cell


def test_few_requests_get_a_bar_each_and_many_are_counted_per_time_slice():
    few = [RequestRecord(f"r{n}", 1000.0 + n, elapsed_s=0.5, status=413) for n in range(3)]
    bars = status_chart(few)
    assert bars.count(f'fill="{colour(413)}"') == 3 and "413 · 500 ms" in bars and ">#3<" in bars
    many = [RequestRecord(f"r{n}", 1000.0 + n / 100, elapsed_s=0.01, status=200 if n % 10 else None)
            for n in range(BARS_UP_TO * 10)]
    buckets = status_chart(many)
    assert "stacked by status" in buckets and ">#1<" not in buckets
    assert colour("no response") in buckets and colour(200) in buckets
    assert status_chart([]) == ""


def test_a_steps_actions_are_numbered_under_its_chart_and_drawn_on_it(tmp_path):
    from faultlab.model.scenario import Action
    from faultlab.run.events import ActionRecord

    plan = scenario.load("502-connection-refused")
    started, finished = step_events(plan, 0, [502] * 40, {}, "connect() failed")
    term = Action.model_validate({"at": "2s", "do": "signal", "hop": "app"})
    finished.result.actions.append(ActionRecord(term, 0.2, 1000.2, 0.01))
    report = HtmlReport(tmp_path / "out")
    report.start()
    report.handle(ScenarioStarted(plan, plan.steps[:1]))
    report.handle(started)
    report.handle(finished)
    result = ScenarioResult(plan, "faultlab-test", [finished.result])
    report.handle(ScenarioFinished(result))
    report.close()
    page = (tmp_path / "out" / "index.html").read_text()
    assert '<ol class="actions"><li>2s (lab 0.20 s): SIGTERM to app #1</li></ol>' in page
    assert page.count('stroke-dasharray="4 3"><title>2s (lab 0.20 s): SIGTERM to app #1</title>') == 1
    assert "1. 2s (lab 0.20 s): SIGTERM to app #1" in (tmp_path / "out" / "report.md").read_text()
