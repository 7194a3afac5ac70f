"""`lab explain <id>`: a scenario's story, from its YAML and the short markdown file next to it.

The YAML gives the facts the lab checks (chain, steps, expectations, changes); `scenarios/<id>.md`
gives the why in prose, in four sections: `## Why`, `## The wrong fix`, `## The fix`, `## Read more`.
A user's own scenario without a markdown file still explains what its YAML says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from faultlab.model.scenario import Expect, Plan, StepPlan

SECTIONS = ("Why", "The wrong fix", "The fix", "Read more")
OFFICIAL_DOCS = ("nginx.org", "kubernetes.github.io", "docs.gunicorn.org", "uwsgi-docs.readthedocs.io",
                 "doc.traefik.io", "developer.mozilla.org")
_LINK = re.compile(r"^-\s*\[(?P<label>[^]]+)\]\((?P<url>https?://[^)\s]+)\)\s*$")


@dataclass
class Notes:
    """The parsed markdown: section title -> text, and the read-more links."""

    path: Path | None
    sections: dict[str, str] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)


def notes_for(plan: Plan) -> Notes:
    path = plan.path.with_suffix(".md")
    if not path.is_file():
        return Notes(None)
    notes = Notes(path)
    current = None
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            notes.sections[current] = ""
        elif current is not None:
            notes.sections[current] += line + "\n"
    notes.sections = {title: text.strip() for title, text in notes.sections.items()}
    for line in notes.sections.get("Read more", "").splitlines():
        match = _LINK.match(line.strip())
        if match:
            notes.links.append((match["label"], match["url"]))
    return notes


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
    return seen


def _changes(broken: StepPlan, step: StepPlan) -> str:
    """What differs from the scenario's first broken step (a step's `change` only holds the last increment)."""
    parts = []
    for hop, knobs in step.knobs.items():
        before, after = _flat(broken.knobs[hop].model_dump(mode="json")), _flat(knobs.model_dump(mode="json"))
        changed = [f"{name} {before.get(name, '(unset)')} → {value}" for name, value in after.items()
                   if before.get(name) != value]
        changed += [f"{name} {value} → (unset)" for name, value in before.items() if name not in after]
        if changed:
            parts.append(f"{hop}: {', '.join(changed)}")
    return "; ".join(parts) or "no knob changes"


def _flat(values: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for name, value in values.items():
        key = f"{prefix}{name}".removeprefix("annotations.").removeprefix("nginx.ingress.kubernetes.io/")
        if isinstance(value, dict):
            flat.update(_flat(value, f"{key}."))
        else:
            flat[key] = value
    return flat


def render(plan: Plan, console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    say = lambda text="": console.print(text, soft_wrap=True)  # noqa: E731 - a local shorthand
    scenario, notes = plan.scenario, notes_for(plan)
    console.rule(f"[bold]{escape(scenario.id)}[/]")
    say(f"[bold]{escape(scenario.title)}[/]")
    say(f"[dim]{escape(scenario.source.seed)}, {escape(scenario.source.section)}[/]")
    say()
    chain = "  ──▶  ".join(["client", *(f"{hop.name} [dim]({hop.kind})[/]" for hop in plan.topology.hops)])
    say(f"[bold]Chain[/]   {chain}")
    scale = ("time scale 1: real durations" if plan.scale.ratio == 1
             else f"time scale {plan.scale}: every timeout and wait runs at story × {plan.scale}")
    say(f"[dim]        compose/{plan.topology.name}.yaml; {scale}[/]")
    say()
    say("[bold]What breaks[/]")
    say(f"  {escape(' '.join(scenario.summary.split()))}")
    for step in plan.steps:
        if step.step.role == "broken":
            say(f"  [red]✘[/] [bold]{escape(step.step.name)}[/]: {escape(step.step.says)}")
            say(f"      expect {escape(describe_expect(step.step.expect))}")
            for signature in step.step.expect.logs:
                say(f"      log at {escape(signature.hop)}: [dim]/{escape(signature.match)}/[/]")
    _section(say, notes, "Why")
    broken = next((step for step in plan.steps if step.step.role == "broken"), plan.steps[0])
    wrong = [step for step in plan.steps if step.step.role == "wrong-fix"]
    if wrong or notes.sections.get("The wrong fix"):
        _section(say, notes, "The wrong fix", heading_only=not notes.sections.get("The wrong fix"))
        for step in wrong:
            say(f"  [yellow]✗[/] [bold]{escape(step.step.name)}[/]: {escape(step.step.says)}")
            say(f"      {escape(_changes(broken, step))}  ⇒ still {escape(describe_expect(step.step.expect))}")
    fixes = [step for step in plan.steps if step.step.role == "fix"]
    _section(say, notes, "The fix", heading_only=not notes.sections.get("The fix"))
    for step in fixes:
        say(f"  [green]✔[/] [bold]{escape(step.step.name)}[/]: {escape(step.step.says)}")
        say(f"      {escape(_changes(broken, step))}  ⇒ {escape(describe_expect(step.step.expect))}")
    if not fixes:
        say("  [dim](no step with role: fix)[/]")
    if notes.links:
        say()
        say("[bold]Read more[/]")
        for label, url in notes.links:
            say(f"  • {escape(label)}: {escape(url)}")
    say()
    target = scenario.id if plan.path.parent.name == "scenarios" else str(plan.path)
    say(f"[dim]Next: lab run {target} · lab run {target} --step <name> · lab fix {target} · "
        f"lab run {target} --report out/[/]")
    if notes.path is None:
        say(f"[dim]No {plan.path.with_suffix('.md').name} next to the scenario: add one with the sections "
            f"{', '.join('## ' + s for s in SECTIONS)} to explain the why.[/]")


def _section(say, notes: Notes, title: str, *, heading_only: bool = False) -> None:  # noqa: ANN001
    text = notes.sections.get(title, "")
    if not text and not heading_only:
        return
    say()
    say(f"[bold]{title}[/]")
    for paragraph in text.split("\n\n") if text else []:
        say("  " + escape(" ".join(line.strip() for line in paragraph.splitlines())))
