"""`run --report DIR`: the run as one self-contained page (DIR/index.html) and as markdown (DIR/report.md).

A handler of the run's event stream like the terminal view: it keeps what each step changed and what
came back, and writes both files once the run has finished. The page loads nothing: styles and the
status charts (inline SVG) are inside it, so it opens from a USB stick or a CI artifact alike.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from faultlab.hops import Setting
from faultlab.model.plan import Plan
from faultlab.output import words
from faultlab.output.chart import Legend, duration, legend, status_chart
from faultlab.output.words import CheckText, Hints
from faultlab.run.events import (
    Event,
    Interrupted,
    RunFailed,
    ScenarioFinished,
    ScenarioResult,
    ScenarioStarted,
    StepResult,
    StepStarted,
)
from faultlab.run.evidence import LogLine, TraceHop, format_trace
from faultlab.run.traffic.load import PERCENTILES
from faultlab.run.verdict import AnsweredByCheck, is_failure

FAILING_SHOWN = 5  # requests whose trace and log lines the report shows, per step
LINES_SHOWN = 5  # log lines per expectation


@dataclass(frozen=True)
class SettingRow:
    hop: str
    name: str
    before: str | None  # the story value in the previous step (None: first step, or new)
    story: str
    lab: str
    explicit: bool


@dataclass(frozen=True)
class RequestView:
    request_id: str
    outcome: str
    elapsed_s: float
    answered_by: str | None
    trace: str  # one line, for markdown
    hops: list[TraceHop]  # the same, hop by hop, with what each hop logged about it
    lines: list[LogLine]  # every hop's lines that carry the request id


@dataclass(frozen=True)
class LogMatch:
    hop: str
    stream: str
    pattern: str
    lines: list[LogLine]
    total: int


@dataclass
class StepView:
    number: int
    total: int
    name: str
    role: str
    says: str
    ok: bool
    wall_s: float
    traffic: str
    first: bool  # the first step shows every setting, later ones what changed
    settings: list[SettingRow]
    restarted: list[str]
    checks: list[tuple[bool, CheckText]]
    expected: str
    seen: str
    answered_by: str
    outcomes: list[Legend]
    chart: Markup
    latency: list[tuple[str, float]]  # ab's percentiles, in seconds
    load_line: str
    requests_total: int
    failing_total: int
    shown: list[RequestView] = field(default_factory=list)  # failing requests, else one good one
    matched: list[LogMatch] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)  # what was done during the traffic, numbered as on the chart


class HtmlReport:
    """Writes DIR/index.html and DIR/report.md when the run's stream closes: after a finished run, and
    also after a failed or interrupted one (the page then says so and shows the steps that finished)."""

    def __init__(self, directory: Path | None = None, on_written: Callable[[Path], None] | None = None,
                 hints: Hints | None = None) -> None:
        self.directory = directory
        self.on_written = on_written
        self.hints = hints
        self.started: ScenarioStarted | None = None
        self.result: ScenarioResult | None = None
        self.ending: str | None = None  # None: finished; else why the run stopped early
        self._step_starts: list[StepStarted] = []

    def start(self) -> None:
        self.started, self.result, self.ending, self._step_starts = None, None, None, []

    def handle(self, event: Event) -> None:
        match event:
            case ScenarioStarted():
                self.started = event
            case StepStarted():
                self._step_starts.append(event)
            case ScenarioFinished(result=result):
                self.result = result
            case RunFailed(result=result, error=error):
                self.result, self.ending = result, f"the run failed: {error}"
            case Interrupted(result=result):
                self.result, self.ending = result, "the run was interrupted"

    def close(self) -> None:
        if self.directory is not None and self.started is not None and self.result is not None:
            page = self.write(self.directory)
            if self.on_written is not None:
                self.on_written(page)

    def write(self, directory: Path) -> Path:
        """Write index.html and report.md into directory (created if needed); returns the page's path."""
        assert self.started is not None and self.result is not None, "the run has not started"
        context = self._context()
        directory.mkdir(parents=True, exist_ok=True)
        environment = _environment()
        page = directory / "index.html"
        page.write_text(environment.get_template("report.html.j2").render(context))
        (directory / "report.md").write_text(environment.get_template("report.md.j2").render(context))
        return page

    def _context(self) -> dict[str, object]:
        assert self.started is not None and self.result is not None
        plan = self.result.plan
        real_time = plan.scale.ratio == 1
        views = []
        previous: dict[str, list[Setting]] | None = None
        for started, step in zip(self._step_starts, self.result.steps, strict=False):
            views.append(_step_view(started, step, previous, step.plan.traffic.describe(step.plan.scale)))
            previous = started.settings
        return {
            "plan": plan,
            "scenario": plan.scenario,
            "result": self.result,
            "chain": " → ".join(["client", *plan.topology.hop_names]),
            "real_time": real_time,
            "scale": str(plan.scale),
            "partial": len(self.started.steps) < len(plan.steps),
            "ending": self.ending,
            "rerun": self._rerun(plan),
            "steps": views,
            "passed": sum(view.ok for view in views),
            "generated": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        }


    def _rerun(self, plan: Plan) -> str | None:
        if self.hints is None or self.started is None:
            return None
        step = self.started.steps[0].name if len(self.started.steps) < len(plan.steps) else None
        return self.hints.report(plan.scenario.id, step, "DIR")


def _step_view(started: StepStarted, result: StepResult, previous: dict[str, list[Setting]] | None,
               traffic: str) -> StepView:
    records = [r.record for r in result.requests]
    failing = [r for r in result.requests if is_failure(r.record)]
    evidence = result.evidence
    shown = []
    for request in (failing or result.requests[:1])[:FAILING_SHOWN]:
        lines = [line for line in evidence.lines if request.record.request_id in line.text] if evidence else []
        shown.append(RequestView(request.record.request_id, request.record.outcome, request.record.elapsed_s,
                                 request.answered_by, format_trace(request.trace), request.trace, lines))
    matched = []
    for signature in result.plan.step.expect.logs:
        found = evidence.matching(signature.hop, signature.match, signature.stream) if evidence else []
        matched.append(LogMatch(signature.hop, signature.stream, signature.match, found[:LINES_SHOWN], len(found)))
    load = result.load
    latency = []
    load_line = ""
    if load:
        latency = [(f"p{p}" if p < 100 else "max", getattr(load, f"p{p}")) for p in PERCENTILES
                   if getattr(load, f"p{p}") is not None]
        load_line = f"{load.total} requests in {duration(load.wall_s)} ({load.req_per_s:.0f} req/s)"
    texts = [words.check(check) for check in result.checks]
    actions = [words.action(done) for done in result.actions]  # numbered under the chart and on it
    answered = next((words.check(c).observed for c in result.checks if isinstance(c, AnsweredByCheck)), "—")
    return StepView(
        number=started.number, total=started.total, name=result.plan.step.name, role=result.plan.step.role,
        says=result.plan.step.says, ok=result.ok, wall_s=result.wall_s, traffic=traffic,
        first=previous is None, settings=_settings(started.settings, previous), restarted=started.restarted,
        checks=[(check.ok, text) for check, text in zip(result.checks, texts, strict=True)],
        expected=texts[0].expected, seen=texts[0].observed,
        answered_by=answered, outcomes=legend(records),
        chart=Markup(status_chart(records, [(done.time, text) for done, text in  # escaped as built
                                            zip(result.actions, actions, strict=True)])),
        actions=actions,
        latency=latency, load_line=load_line, requests_total=len(records), failing_total=len(failing),
        shown=shown, matched=matched)


def _settings(current: dict[str, list[Setting]], previous: dict[str, list[Setting]] | None) -> list[SettingRow]:
    """The first step: every setting; later steps: the ones whose story or lab value changed."""
    rows = []
    for hop, settings in current.items():
        before = {s.name: s for s in (previous or {}).get(hop, [])}
        for setting in settings:
            old = before.get(setting.name)
            if previous is None or old is None or (old.story, old.lab) != (setting.story, setting.lab):
                rows.append(SettingRow(hop, setting.name, old.story if old else None, setting.story, setting.lab,
                                       setting.explicit))
    return rows


def _md_cell(value: object) -> str:
    """A markdown table cell: pipes would end the cell, newlines the row."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _environment() -> Environment:
    environment = Environment(loader=PackageLoader("faultlab.output", "templates"),
                              autoescape=select_autoescape(enabled_extensions=("html.j2",)),
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    environment.filters["md"] = _md_cell
    environment.filters["duration"] = duration
    return environment
