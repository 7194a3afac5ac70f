"""The terminal view of practice mode: the brief, the status, a check's verdict and the hints."""

from __future__ import annotations

import io
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from faultlab.output import words
from faultlab.output.console import make_console, print_wrapped
from faultlab.run.events import StepResult
from faultlab.run.evidence import format_trace
from faultlab.tools import practice
from faultlab.tools.practice import CheckResult, Hint, Workspace


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def started(workspace: Workspace, prog: str, url: str, console: Console | None = None) -> None:
    console = console or make_console()
    plan = workspace.plan
    print_wrapped(console, f"[bold]Practice {escape(plan.id)}[/] in {escape(str(workspace.directory))}/")
    print_wrapped(console, f"  [bold]Brief[/]  {escape(practice.brief(plan))}")
    chain = " → ".join(["client", *plan.topology.hop_names])
    print_wrapped(console, f"  chain  {escape(chain)}")
    print_wrapped(console, "  Your files (the broken config, in real time units):")
    for name in workspace.broken_files():
        print_wrapped(console, f"    {escape(str(workspace.directory / name))}")
    print_wrapped(console, f"  stack  up in its broken state at {escape(url)} (project {escape(workspace.stack[0])}), "
                           "for your own requests; it stays up until `stop`")
    if workspace.state.time_limit_s is not None:
        print_wrapped(console, f"  time   {_clock(workspace.state.time_limit_s)} to solve it")
    directory = "" if workspace.directory == practice.default_directory(plan.id) else \
        f" --dir {workspace.directory}"
    print_wrapped(console, f"Edit them, then `{prog} practice check{directory}`. Stuck? `{prog} practice hint"
                           f"{directory}`. Your change so far: `{prog} practice diff{directory}`.")


def status(workspace: Workspace, console: Console | None = None) -> None:
    console = console or make_console()
    state, now = workspace.state, time.time()
    print_wrapped(console, f"[bold]Practice {escape(state.scenario)}[/] in {escape(str(workspace.directory))}/")
    print_wrapped(console, f"  [bold]Brief[/]    {escape(practice.brief(workspace.plan))}")
    remaining = state.remaining_s(now)
    spent = f"{_clock(now - state.started_at)} since the start"
    if remaining is not None:
        spent += f", {_clock(remaining)} left" if remaining > 0 else ", time is up"
    print_wrapped(console, f"  time     {spent}")
    print_wrapped(console, f"  hints    {state.hints} of {len(practice.HINT_TIERS)} used")
    solved = f"solved after {_clock(state.solved_at - state.started_at)}" if state.solved_at else "not solved yet"
    print_wrapped(console, f"  checks   {len(state.attempts)}, {solved}")
    if state.attempts:
        table = Table(box=None, padding=(0, 2), header_style="dim")
        for column in ("#", "at", "verdict", "what the check saw"):
            table.add_column(column)
        for number, attempt in enumerate(state.attempts, 1):
            verdict = attempt.outcome + (f" ({attempt.wrong_fix})" if attempt.wrong_fix else "")
            table.add_row(str(number), _clock(attempt.at - state.started_at), verdict, escape(attempt.summary))
        console.print(table)


_VERDICT = {"solved": "[bold green]solved[/]", "known-wrong-fix": "[bold red]not yet: a known wrong fix[/]",
            "not-yet": "[bold red]not yet[/]"}


def checked(outcome: CheckResult, prog: str, console: Console | None = None, *, repeat_checks: bool = True) -> None:
    """The verdict after the run's own view (which shows the failing checks already, unless it was quiet)."""
    console = console or make_console()
    console.print()
    print_wrapped(console, f"{_VERDICT[outcome.outcome]}: {escape(outcome.summary)}   "
                           f"[dim](check took {outcome.seconds:.0f} s)[/]")
    if outcome.wrong_fix is not None:
        wrong = outcome.wrong_fix
        print_wrapped(console, f"  You made the change the scenario calls [bold]{escape(wrong.step)}[/]: "
                               f"{escape(wrong.says)}")
        if wrong.lesson:
            print_wrapped(console, f"  Why it does not work: {escape(wrong.lesson)}")
    if outcome.failing is not None:
        if repeat_checks:
            _still_failing(outcome.failing, console)
        print_wrapped(console, f"Edit your files and check again; `{prog} practice hint` gives the next hint.")
    elif outcome.outcome == "solved" and outcome.result is not None:
        for step in outcome.result.steps:
            print_wrapped(console, f"  [green]✔[/] {escape(step.plan.traffic.describe(step.plan.scale))}: "
                                   f"{escape(practice.step_summary(step))}")
        print_wrapped(console, f"`{prog} practice stop` ends the practice; your files stay.")


def _still_failing(step: StepResult, console: Console) -> None:
    for check in step.checks:
        if check.ok:
            continue
        text = words.check(check, short=True)
        print_wrapped(console, f"  [red]✘[/] {escape(text.label)}: expected {escape(text.expected)}, "
                               f"saw {escape(text.observed)}")
    shown = [r for r in step.requests if r.record.status is None or r.record.status >= 300][:1]
    for request in shown:
        print_wrapped(console, f"  trace {escape(format_trace(request.trace))}")


def hinted(shown: Hint, console: Console | None = None) -> None:
    console = console or make_console()
    print_wrapped(console, f"[bold]Hint {shown.tier}/{len(practice.HINT_TIERS)}[/] ({shown.title})")
    for line in shown.text.splitlines():
        console.print(f"  {escape(line)}", highlight=False)


def report(workspace: Workspace, path: Path) -> Path:
    """The status as one self-contained HTML page (for the teacher: checks, verdicts, hints, time)."""
    console = Console(record=True, width=120, file=io.StringIO(), highlight=False)
    status(workspace, console)
    path.parent.mkdir(parents=True, exist_ok=True)
    console.save_html(str(path), inline_styles=True)
    return path
