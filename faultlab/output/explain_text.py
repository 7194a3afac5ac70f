"""The terminal view of `explain`: chain, what breaks, why, the wrong fixes and the fixes, docs to read."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Console
from rich.markup import escape

from faultlab.model.scenario import Action, Expect
from faultlab.output import words
from faultlab.output.console import make_console, print_wrapped
from faultlab.output.words import Hints
from faultlab.tools.explain import SECTIONS, Explanation, Notes

Say = Callable[..., None]


def describe_expect(expect: Expect) -> str:
    if expect.status is not None:
        seen = f"status {expect.status}"
    elif expect.no_response:
        seen = "no response (the client gives up)"
    else:
        assert expect.failures is not None
        seen = f"{expect.failures} requests without a 2xx"
        if expect.failure_statuses:
            seen += f" ({', '.join(map(str, expect.failure_statuses))})"
    if expect.answered_by:
        seen += f", answered by {expect.answered_by}"
    if expect.duplicates is not None:
        seen += f"; {expect.duplicates} requests received twice or more by the app"
    if expect.repeated_effects is not None:
        seen += f"; {expect.repeated_effects} side effects performed twice or more"
    return seen


def render(explanation: Explanation, console: Console | None = None, hints: Hints | None = None) -> None:
    console = console or make_console()

    def say(text: str = "") -> None:
        print_wrapped(console, text)

    plan, notes, report = explanation.plan, explanation.notes, explanation.report
    scenario = plan.scenario
    console.rule(f"[bold]{escape(scenario.id)}[/]")
    say(f"[bold]{escape(scenario.title)}[/]")
    say(f"[dim]{escape(scenario.source.seed)}, {escape(scenario.source.section)}[/]")
    say()
    chain = "  ──▶  ".join(["client", *(f"{hop.name} [dim]({hop.kind}{_times(hop.replicas)})[/]"
                                      for hop in plan.topology.hops)])
    say(f"[bold]Chain[/]   {chain}")
    scale = ("time scale 1: real durations" if plan.scale.ratio == 1
             else f"time scale {plan.scale}: every timeout and wait runs at story × {plan.scale}")
    say(f"[dim]        compose/{plan.topology.name}.yaml; {scale}[/]")
    say()
    say("[bold]What breaks[/]")
    say(f"  {escape(' '.join(scenario.summary.split()))}")
    for step in plan.steps:
        if step.role == "broken":
            say(f"  [red]✘[/] [bold]{escape(step.name)}[/]: {escape(step.step.says)}")
            say(f"      expect {escape(describe_expect(step.step.expect))}")
            for signature in step.step.expect.logs:
                say(f"      log at {escape(signature.hop)}: [dim]/{escape(signature.match)}/[/]")
            _actions(say, step.step.actions)
    _section(say, notes, "Why")
    if report.wrong_fixes or notes.sections.get("The wrong fix"):
        _section(say, notes, "The wrong fix", heading_only=not notes.sections.get("The wrong fix"))
        for wrong in report.wrong_fixes:
            expect = plan.steps[wrong.index].step.expect
            say(f"  [yellow]✗[/] [bold]{escape(wrong.step)}[/]: {escape(wrong.says)}")
            say(f"      {escape(words.changes(wrong.changes))}  ⇒ still {escape(describe_expect(expect))}")
            _actions(say, plan.steps[wrong.index].step.actions)
    _section(say, notes, "The fix", heading_only=not notes.sections.get("The fix"))
    for fix in report.fixes:
        for stage in fix.stages:
            expect = plan.steps[stage.index].step.expect
            say(f"  [green]✔[/] [bold]{escape(stage.step)}[/]: {escape(stage.says)}")
            say(f"      {escape(words.changes(stage.changes))}  ⇒ {escape(describe_expect(expect))}")
            _actions(say, plan.steps[stage.index].step.actions)
        if fix.carried:
            say(f"      [dim]carried over from the fix before, not part of this one: "
                f"{escape(words.changes(fix.carried))}[/]")
    if not report.fixes:
        say("  [dim](no step with role: fix)[/]")
    if notes.links:
        say()
        say("[bold]Read more[/]")
        for label, url in notes.links:
            say(f"  • {escape(label)}: {escape(url)}")
    say()
    target = scenario.id if plan.path.parent.name == "scenarios" else str(plan.path)
    if hints is not None:
        say(f"[dim]Next: {hints.run(target)} · {hints.run(target, '<name>')} · {hints.fix(target)} · "
            f"{hints.report(target)}[/]")
    if notes.path is None:
        say(f"[dim]No {plan.path.with_suffix('.md').name} next to the scenario: add one with the sections "
            f"{', '.join('## ' + s for s in SECTIONS)} to explain the why.[/]")


def _section(say: Say, notes: Notes, title: str, *, heading_only: bool = False) -> None:
    text = notes.sections.get(title, "")
    if not text and not heading_only:
        return
    say()
    say(f"[bold]{title}[/]")
    for paragraph in text.split("\n\n") if text else []:
        say("  " + escape(" ".join(line.strip() for line in paragraph.splitlines())))


def _actions(say: Say, actions: Sequence[Action]) -> None:
    if actions:
        say(f"      [dim]during the traffic: {escape(words.planned(actions))}[/]")


def _times(replicas: int) -> str:
    return f" ×{replicas}" if replicas > 1 else ""
