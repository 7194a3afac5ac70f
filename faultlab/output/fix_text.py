"""`fix` for the terminal: the story's fix in words, then each snippet; or one format's snippets alone."""

from __future__ import annotations

from faultlab.errors import InputError
from faultlab.hops import Snippet
from faultlab.model.plan import KnobChange
from faultlab.output import words
from faultlab.output.words import Hints
from faultlab.tools.fix import Fix, FixReport

_COMMENT = {"uwsgi": ";"}  # every other target's config (and the shell) comments with "#"


def _by_hop(changes: tuple[KnobChange, ...], indent: str) -> list[str]:
    width = max((len(change.hop) for change in changes), default=0)
    return [f"{indent}{change.hop:<{width}}  {words.change(change)}" for change in changes]


def _snippet(snippet: Snippet) -> str:
    return f"── {snippet.format} · {snippet.hop} · {snippet.title} ──\n{snippet.text}"


def _fix(fix: Fix, label: str) -> list[str]:
    last = fix.stages[-1]
    lines = [f"{label} (step {last.step}): {last.says}"]
    lines += _by_hop(fix.changes, "  ") or ([] if fix.actions else ["  (no config change)"])
    if fix.actions:
        lines.append(f"  During the traffic, in this order: {words.planned(fix.actions)}")
    if len(fix.stages) > 1:
        lines.append("  In the order the story met them:")
        for number, stage in enumerate(fix.stages, 1):
            what = words.changes(stage.changes)
            lines.append(f"    {number}. {stage.step}: {what}")
    if fix.carried:
        carried = words.changes(fix.carried)
        lines.append(f"  Not part of this fix (left over from the fix before when the lab measured it): {carried}")
    lines.append("")
    lines += [_snippet(snippet) for snippet in fix.snippets]
    return lines


def full(report: FixReport, hints: Hints | None = None) -> str:
    lines = [f"{report.scenario_id}: {report.title}", "",
             f"Broken (step {report.broken_step}): {report.broken_says}", ""]
    if not report.fixes:
        lines += ["No step of this scenario is a fix (role: fix): it shows a behaviour rather than a "
                  "setting to change.", ""]
    for number, fix in enumerate(report.fixes, 1):
        label = f"Fix {number} of {len(report.fixes)}" if len(report.fixes) > 1 else "Fix"
        lines += _fix(fix, label)
    if report.wrong_fixes:
        lines.append("Tempting but does not help:")
        for wrong in report.wrong_fixes:
            lines.append(f"  ✗ {wrong.step}: {wrong.says}")
            lines.append(f"      {words.changes(wrong.changes)}")
        lines.append("")
    if report.formats and hints is not None:
        lines.append(f"One format alone: {hints.fix(report.scenario_id, choices=report.formats)}")
    return "\n".join(lines).rstrip("\n") + "\n"


def only(report: FixReport, target: str) -> str:
    """The snippets of one format, each under a comment line, ready to paste."""
    if target not in report.formats:
        applies = ", ".join(report.formats) or "none (no step of it is a fix)"
        raise InputError(f"{report.scenario_id} has no {target} fix; the formats that apply: {applies}")
    comment = _COMMENT.get(target, "#")
    parts = []
    for number, fix in enumerate(report.fixes, 1):
        which = f"fix {number} of {len(report.fixes)}, " if len(report.fixes) > 1 else ""
        for snippet in fix.snippets:
            if snippet.format == target:
                parts.append(f"{comment} {report.scenario_id}, {which}step {fix.step}: {snippet.hop}, "
                             f"{snippet.title}\n{snippet.text}")
    return "\n".join(parts)
