"""The terminal view of a run: what each step changed, expected vs seen, and the hop trace."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from faultlab.hops import Setting
from faultlab.output import words
from faultlab.output.console import make_console, print_wrapped
from faultlab.output.words import Hints
from faultlab.run.events import (
    BatchDone,
    Event,
    ImageProgress,
    Interrupted,
    RunFailed,
    ScenarioFinished,
    ScenarioResult,
    ScenarioStarted,
    StackStarting,
    StackUp,
    StepFinished,
    StepResult,
    StepStarted,
    TrafficProgress,
)
from faultlab.run.evidence import format_trace
from faultlab.run.verdict import AnsweredByCheck, DuplicatesCheck
from faultlab.units import TimeScale

OK = "[green]✔[/]"
BAD = "[red]✘[/]"


class TerminalReport:
    """`quiet` (for CI logs) keeps only the summary table and the verdict; live progress shows only on a terminal."""

    def __init__(self, console: Console | None = None, *, quiet: bool = False, hints: Hints | None = None) -> None:
        self.console = console or make_console()
        self.quiet = quiet
        self.hints = hints
        self._live: Live | None = None
        self._previous: dict[str, list[Setting]] | None = None
        self._scenario_traffic: object = None
        self._scale: TimeScale | None = None
        self._started = time.monotonic()

    def start(self) -> None:
        self._previous = None
        self._started = time.monotonic()

    def handle(self, event: Event) -> None:
        match event:
            case ScenarioStarted():
                self._scenario_started(event)
            case ImageProgress(text=text):
                self._print(f"  [dim]{escape(text)}[/]")
            case StackStarting(project=project, containers=containers):
                self._print(f"  [dim]starting {containers} containers as project {escape(project)}[/]")
            case StackUp():
                self._print(f"  [dim]stack up in {event.seconds:.1f} s at {event.url}[/]")
            case StepStarted():
                self._step_started(event)
            case TrafficProgress():
                self._traffic_progress(event)
            case BatchDone():
                verdict = ": enough to judge, no more batches" if event.enough and event.batch < event.batches else ""
                self._print(f"  [dim]batch {event.batch}/{event.batches}: {event.failed} of {event.sent} requests "
                            f"failed so far{verdict}[/]")
            case StepFinished():
                self._step_finished(event)
            case ScenarioFinished():
                self._scenario_finished(event)
            case RunFailed() | Interrupted():
                self.close()  # the CLI says what happened, in one line

    def _traffic_progress(self, event: TrafficProgress) -> None:
        if self.quiet or not self.console.is_terminal:
            return
        text = Text(f"  {_progress_line(event)}", style="dim")
        if self._live is None:
            self._live = Live(text, console=self.console, transient=True, refresh_per_second=8)
            self._live.start()
        else:
            self._live.update(text)

    def close(self) -> None:
        """Ends the live progress line (also when a run stops with an error or Ctrl-C)."""
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _scenario_started(self, event: ScenarioStarted) -> None:
        self._previous = None  # a twin's run shows its settings whole again
        plan = event.plan
        scenario = plan.scenario
        chain = " → ".join(["client", *plan.topology.hop_names])
        if not self.quiet:
            self.console.rule(f"[bold]{escape(scenario.id)}[/]")
        self._print(f"[bold]{escape(scenario.title)}[/]")
        self._print(f"  source    {escape(scenario.source.seed)}, {escape(scenario.source.section)}")
        self._print(f"  chain     {chain}   ([dim]compose/{plan.topology.name}.yaml[/])")
        if plan.scale.ratio == 1:
            self._print("  time      scale 1: real durations")
        else:
            self._print(f"  time      scale {plan.scale}: every timeout and wait is story time × {plan.scale} "
                        f"(story 60 s = lab {plan.scale.lab_s(60):g} s)")
        self._scenario_traffic = scenario.traffic
        self._scale = plan.scale
        self._print(f"  traffic   {scenario.traffic.describe(plan.scale)}")
        if len(event.steps) < len(plan.steps):
            self._print(f"  steps     only {', '.join(s.step.name for s in event.steps)} "
                               "(earlier steps' changes applied, not run)")

    def _step_started(self, event: StepStarted) -> None:
        step = event.plan.step
        if not self.quiet:
            self.console.print()
        self._print(f"[bold]Step {event.number}/{event.total}  {escape(step.name)}[/]  {escape(step.says)}")
        scale = event.plan.scale
        if self._scale is not None and scale != self._scale:
            self._print(f"  time    this step at scale {scale}: story 60 s = lab {scale.lab_s(60):g} s "
                        f"(the scenario: {self._scale})")
        if self._previous is None:
            real_time = scale.ratio == 1
            table = Table(box=None, padding=(0, 2), show_header=True, header_style="dim")
            for column in ("hop", "setting", "value") if real_time else ("hop", "setting", "story", "lab"):
                table.add_column(column)
            for hop, settings in event.settings.items():
                for setting in settings:
                    origin = "" if setting.explicit else " [dim](default)[/]"
                    lab = [] if real_time else [escape(setting.lab)]
                    table.add_row(hop, setting.name, f"{escape(setting.story)}{origin}", *lab)
            if not self.quiet:
                self.console.print(table)
        else:
            for hop, settings in event.settings.items():
                before = {s.name: s for s in self._previous.get(hop, [])}
                for setting in settings:
                    old = before.get(setting.name)
                    if old is None or (old.story, old.lab) != (setting.story, setting.lab):
                        was = f"{old.story} → " if old else ""
                        same = setting.lab == setting.story or scale.ratio == 1
                        lab_value = "" if same else f" (lab {escape(setting.lab)})"
                        self._print(f"  change  {hop}: {escape(setting.name)} {escape(was)}"
                                    f"[bold]{escape(setting.story)}[/]{lab_value}")
        traffic = event.plan.traffic
        if traffic != self._scenario_traffic or scale != self._scale:
            self._print(f"  traffic this step: {traffic.describe(scale)}")
        if event.restarted:
            self._print(f"  [dim]restarted {', '.join(event.restarted)}[/]")
        self._previous = event.settings

    def _step_finished(self, event: StepFinished) -> None:
        self.close()
        result = event.result
        for check in result.checks:
            mark = OK if check.ok else BAD
            text = words.check(check, short=True)
            if text.is_log:
                self._print(f"  {mark} {escape(text.label)} ~ {escape(text.expected)}")
                self._print(f"      [dim]{escape(text.observed)}[/]")
            else:
                self._print(f"  {mark} {escape(text.label)}: expected {escape(text.expected)}, "
                            f"saw [bold]{escape(text.observed)}[/]")
        for done in result.actions:
            self._print(f"  action  {escape(words.action(done))}")
        if result.load:
            load = result.load
            statuses = ", ".join(f"{status} ×{count}" for status, count in sorted(load.by_status.items()))
            errors = "".join(f", {error} ×{count}" for error, count in load.by_error.items())
            latency = (f" · latency p50 {load.p50:.3f} s, p99 {load.p99:.3f} s, max {load.p100:.3f} s"
                       if load.p50 is not None and load.p99 is not None and load.p100 is not None else "")
            self._print(f"  load {load.total} requests in {load.wall_s:.2f} s ({load.req_per_s:.0f} req/s): "
                        f"{statuses}{errors}{latency}")
        shown = [r for r in result.requests if r.record.status is None or r.record.status >= 300][:3]
        for request in shown or result.requests[:1]:
            self._print(f"  trace {escape(format_trace(request.trace))}   "
                        f"[dim]({request.record.elapsed_s:.2f} s, request {request.record.request_id[:8]})[/]")
        verdict = "[green]matched[/]" if result.ok else "[red]did not match[/]"
        self._print(f"  step {verdict} in {result.wall_s:.1f} s")

    def _print(self, text: str, *, always: bool = False) -> None:
        if always or not self.quiet:
            print_wrapped(self.console, text)

    def _scenario_finished(self, event: ScenarioFinished) -> None:
        self.close()
        twin = event.result.twin
        self._summary(event.result, event.result.plan.topology.name if twin is not None else None)
        if twin is not None:
            self._summary(twin, twin.plan.topology.name)
        if event.result.twin is not None:
            self._comparison(event.result, event.result.twin)
        if not event.result.ok and self.hints is not None:
            self.console.print(f"Tip: rerun one step with `{self.hints.run(event.result.plan.scenario.id, '<name>')}`; "
                               "the trace lines show which hop answered.", markup=False)

    def _comparison(self, first: ScenarioResult, twin: ScenarioResult) -> None:
        """One row per step: what each topology showed, and whether that is the same."""
        labels = first.plan.scenario.twin
        assert labels is not None
        self.console.print()
        table = Table(title=f"{first.plan.scenario.id}: {labels.label_first} vs {labels.label}", title_justify="left")
        fixes = any(step.plan.step.twin_fix for step in first.steps)
        extra = [f"to match {labels.label_first}"] if fixes else []
        for column in ("step", labels.label_first, labels.label, "", *extra):
            table.add_column(column)
        for mine, theirs in zip(first.steps, twin.steps, strict=False):
            mine_seen, their_seen = _seen(mine), _seen(theirs)
            verdict = mine_seen.verdict(their_seen)
            fix = [escape(mine.plan.step.twin_fix) if verdict != "same" else ""] if fixes else []
            table.add_row(escape(mine.plan.step.name), escape(mine_seen.text), escape(their_seen.text), verdict, *fix)
        self.console.print(table)
    def _summary(self, result: ScenarioResult, topology: str | None) -> None:
        """`topology` names the chain when the scenario ran on two."""
        self.console.print()
        title = f"{result.plan.scenario.id}: summary" + (f" on {topology}" if topology else "")
        table = Table(title=title, title_justify="left")
        for column in ("step", "expected", "seen", "answered by", "wall", ""):
            table.add_column(column)
        for step in result.steps:
            status = words.check(step.outcome)
            answered = next((words.check(c) for c in step.checks if isinstance(c, AnsweredByCheck)), None)
            table.add_row(escape(step.plan.step.name), escape(status.expected), escape(status.observed),
                          escape(answered.observed) if answered else "—", f"{step.wall_s:.1f} s",
                          OK if step.ok else BAD)
        self.console.print(table)
        passed = sum(step.ok for step in result.steps)
        colour = "green" if result.ok else "red"
        end = "stays up" if result.kept else "removed"
        teardown = "" if result.kept else " and teardown"
        self._print(f"[{colour}]{passed}/{len(result.steps)} steps matched[/] in {result.wall_s:.1f} s "
                    f"(stack, traffic{teardown}); project {result.project} {end}", always=True)


@dataclass(frozen=True)
class _Seen:
    """One side of a comparison row: what the verdict compares, and the text the row shows."""

    kind: tuple[frozenset[int | None], frozenset[str], bool]  # failing statuses (or all), their hops, replayed
    first_s: float | None  # how long the first failure took
    text: str
    failed: int = 0
    total: int = 0

    def same_as(self, other: _Seen) -> bool:
        """Counts of a race differ from run to run; what fails, where, replayed or not, and roughly when do not."""
        if self.kind != other.kind:
            return False
        if self.first_s is None or other.first_s is None:
            return True
        slow, fast = max(self.first_s, other.first_s), min(self.first_s, other.first_s)
        return slow - fast < 1.0 or slow < 1.5 * fast

    def verdict(self, other: _Seen) -> str:
        if not self.same_as(other):
            return "[bold]differs[/]"
        # The same failure at very different rates (a race one side loses far more often): 10 or more
        # failures on the worse side and at least 3 times the other's share, so a short race does not count.
        shares = sorted(((s.failed / s.total if s.total else 0.0), s.failed) for s in (self, other))
        (low, _), (high, most) = shares
        return "same failure, [bold]rate differs[/]" if most >= 10 and high >= 3 * low else "same"


def _seen(step: StepResult) -> _Seen:
    """What a step showed at the client, which hop answered the failures, whether the app got a request
    more than once, how long the first failure took and what the hop that answered it logged."""
    status = words.check(step.outcome).observed
    failed = [r for r in step.requests if r.record.status is None or r.record.status >= 400]
    answered = next((words.check(c).observed for c in step.checks if isinstance(c, AnsweredByCheck)), "")
    by = Counter(r.answered_by or "?" for r in failed)
    if not answered and failed:
        answered = ", ".join(f"{hop} ×{count}" if count > 1 else hop for hop, count in by.most_common())
    text = f"{status} by {answered}" if answered else status
    duplicates = next((c for c in step.checks if isinstance(c, DuplicatesCheck)), None)
    replayed = duplicates is not None and duplicates.duplicated > 0
    if duplicates is not None and replayed:
        text += f"; the app got {duplicates.duplicated} of {duplicates.total} more than once (up to {duplicates.most}×)"
    judged = failed or step.requests
    kind = (frozenset(r.record.status for r in judged),
            frozenset(by) if failed else frozenset(r.answered_by or "?" for r in judged), replayed)
    if not failed:
        return _Seen(kind, None, text)
    first = failed[0]
    said = next((hop.log for hop in first.trace if hop.hop == first.answered_by), None)
    return _Seen(kind, first.record.elapsed_s,
                 f"{text}, the first after {first.record.elapsed_s:.1f} s\n{said or '(no error line)'}",
                 len(failed), len(step.requests))


def _progress_line(event: TrafficProgress) -> str:
    statuses = ", ".join(f"{status} ×{count}" for status, count in sorted(event.by_status.items()))
    failed = f", no response ×{event.failed}" if event.failed else ""
    if event.bytes_total:
        mib = 1 << 20
        rate = event.bytes_sent / mib / event.elapsed_s if event.elapsed_s > 0 else 0.0
        return (f"uploading {event.done + 1}/{event.total}: {event.bytes_sent / mib:.0f} of "
                f"{event.bytes_total / mib:.0f} MiB, {rate:.0f} MiB/s, {event.elapsed_s:.1f} s"
                + (f" · so far {statuses}{failed}" if statuses or failed else ""))
    rate = event.done / event.elapsed_s if event.elapsed_s > 0 else 0.0
    return (f"load {event.done}/{event.total}, {rate:.0f} req/s, {event.elapsed_s:.1f} s"
            + (f" · {statuses}{failed}" if statuses or failed else ""))


def print_repeats(results: list[ScenarioResult], console: Console | None = None) -> None:
    """`run --repeat N`: one row per run, one column per step, and how often each step flaked."""
    console = console or make_console()
    steps = [step.plan.step.name for step in results[0].steps]
    table = Table(title=f"{results[0].plan.scenario.id}: {len(results)} runs", title_justify="left")
    table.add_column("run")
    for name in steps:
        table.add_column(name)
    table.add_column("wall")
    for number, result in enumerate(results, 1):
        cells = [f"{OK if step.ok else BAD} {escape(words.check(step.outcome).observed)}" for step in result.steps]
        table.add_row(str(number), *cells, f"{result.wall_s:.0f} s")
    console.print(table)
    passed = sum(result.ok for result in results)
    console.print(f"{passed}/{len(results)} runs matched every step; flake rate {1 - passed / len(results):.0%}")
