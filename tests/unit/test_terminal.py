"""The terminal and JSON views of a run, from events built by hand (no engine)."""

from __future__ import annotations

import io
import json

from rich.console import Console

from faultlab.cli import HINTS
from faultlab.hops import Setting
from faultlab.model import scenario
from faultlab.output.json import JsonReport
from faultlab.output.terminal import TerminalReport
from faultlab.run.events import ScenarioFinished, ScenarioResult, ScenarioStarted, StackUp

from .test_report_html import step_events

SETTINGS = {"nginx": [Setting("uwsgi_read_timeout", "60s", "60s", False)],
            "app": [Setting("socket", "127.0.0.1:8080", "127.0.0.1:8080", True)]}


def _feed(*handlers: TerminalReport | JsonReport) -> None:
    plan = scenario.load("502-connection-refused")
    result = ScenarioResult(plan, "faultlab-test")
    fixed = {**SETTINGS, "app": [Setting("socket", "0.0.0.0:8080", "0.0.0.0:8080", True)]}
    events: list = [ScenarioStarted(plan, plan.steps), StackUp("faultlab-test", "http://127.0.0.1:1", 1.2)]
    for index, (statuses, settings) in enumerate([([502] * 3, SETTINGS), ([200] * 3, fixed)]):
        started, finished = step_events(plan, index, statuses, settings,
                                        "2026/11/24 10:00:00 [error] 7#7: *1 connect() failed (111: Connection "
                                        "refused) while connecting to upstream, client: 1.2.3.4")
        result.steps.append(finished.result)
        events += [started, finished]
    events.append(ScenarioFinished(result))
    for handler in handlers:
        handler.start()
        for event in events:
            handler.handle(event)
        handler.close()


def test_the_terminal_shows_changes_checks_and_the_summary():
    out = io.StringIO()
    _feed(TerminalReport(Console(file=out, width=200, color_system=None), hints=HINTS))
    text = out.getvalue()
    assert "change  app: socket 127.0.0.1:8080 → 0.0.0.0:8080" in text  # the second step: only what changed
    assert "socket                127.0.0.1:8080" in text  # the first: every setting
    assert "✔ status at the client: expected 502 ×3, saw 502 ×3" in text
    assert "✔ answered by: expected nginx, saw nginx ×3" in text
    assert "✔ log at nginx error log ~ /connect\\(\\) failed" in text
    assert "trace nginx 502 ← app —" in text
    assert "│ bound-to-loopback │ 502 ×3   │ 502 ×3 │ nginx ×3" in text
    assert "2/2 steps matched" in text


def test_json_carries_checks_as_data():
    out = io.StringIO()
    _feed(JsonReport(out))
    document = json.loads(out.getvalue())
    assert document["ended"] == "finished"
    first = document["steps"][0]["checks"][0]
    assert first["kind"] == "outcome" and first["status"] == 502 and first["outcomes"] == {"502": 3}


def test_a_twin_run_ends_with_both_summaries_and_the_comparison():
    plan = scenario.load("ingress-migration")
    assert plan.twin is not None
    result, twin = ScenarioResult(plan, "faultlab-a"), ScenarioResult(plan.twin, "faultlab-b")
    result.twin = twin
    line = "client intended to send too large body: 2097152 bytes"
    for target, statuses in ((result, ([413], [413])), (twin, ([200], [413]))):
        for index, codes in enumerate(statuses):
            target.steps.append(step_events(target.plan, index, codes, SETTINGS, line)[1].result)
    out = io.StringIO()
    report = TerminalReport(Console(file=out, width=200, color_system=None), hints=HINTS)
    report.start()
    report.handle(ScenarioFinished(result))
    text = out.getvalue()
    assert "ingress-migration: summary on ingress-replicas" in text
    assert "ingress-migration: summary on traefik-ingress" in text
    assert "ingress-migration: ingress-nginx vs traefik 3.7 kubernetesIngressNGINX" in text
    comparison = text[text.index("ingress-nginx vs traefik"):]
    rows = [row for row in comparison.splitlines() if row.startswith("│ body-size")]
    assert len(rows) == 2, comparison
    assert "differs" in rows[0] and "413 ×1" in rows[0] and "200 ×1" in rows[0], rows
    assert "same" in rows[1] and "body-size-buffered" in rows[1], rows
    # Where they differ, the step's twin_fix says what makes traefik match; where they are the same, nothing.
    assert "to match ingress-nginx" in comparison and "proxy-request-buffering" in rows[0], rows
    assert "proxy-request-buffering" not in rows[1], rows


def test_the_comparison_judges_what_failed_where_and_when_not_how_many():
    from faultlab.output.terminal import _Seen

    race = (frozenset({502}), frozenset({"ingress"}), False)
    assert _Seen(race, 0.01, "4 of 80").same_as(_Seen(race, 0.3, "1 of 200"))  # a race's counts vary
    timeout = (frozenset({504}), frozenset({"ingress"}), False)
    assert not _Seen(timeout, 6.0, "").same_as(_Seen(timeout, 2.0, ""))  # three tries against one
    assert _Seen(timeout, 2.0, "").same_as(_Seen(timeout, 2.4, ""))
    replayed = (frozenset({504}), frozenset({"ingress"}), True)
    assert not _Seen(replayed, 2.0, "").same_as(_Seen(timeout, 2.0, ""))
    assert not _Seen(timeout, None, "").same_as(_Seen((frozenset({429}), frozenset({"ingress"}), False), None, ""))
    # The same race at 52 and 3 of 400 (compare-ingress, measured): same failure, not the same rate.
    assert "rate differs" in _Seen(race, 0.0, "", 52, 400).verdict(_Seen(race, 0.0, "", 3, 400))
    assert _Seen(race, 0.0, "", 6, 80).verdict(_Seen(race, 0.0, "", 1, 360)) == "same"  # too few to tell
    assert "differs" in _Seen(timeout, 6.0, "").verdict(_Seen(timeout, 2.0, ""))
