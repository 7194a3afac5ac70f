"""The views of `diagnose`: the ranked causes as text for the terminal, and as a dict for `--json`."""

from __future__ import annotations

from typing import Any

from faultlab.model.plan import KnobChange
from faultlab.output import words
from faultlab.output.words import Hints
from faultlab.tools.diagnose import STANDINGS, Cause, Diagnosis, Differential


def _change(change: KnobChange) -> dict[str, Any]:
    return {"hop": change.hop, "knob": change.knob, "before": change.before, "after": change.after}


SHOWN_CAUSES = 5


def to_dict(diagnosis: Diagnosis, hints: Hints | None = None) -> dict[str, Any]:
    """The result for tools (`diagnose --json`)."""
    return {
        "found": diagnosis.found,
        "known": diagnosis.known,
        "lines_read": diagnosis.lines_read,
        "formats": diagnosis.formats,
        "signatures": diagnosis.signatures,
        "scenarios": diagnosis.scenarios,
        "unreadable": diagnosis.unreadable,
        "causes": [{
            "scenario": cause.scenario_id, "title": cause.title, "step": cause.step, "role": cause.role,
            "strength": "strong" if cause.strong else "weak", "score": round(cause.score, 3),
            "standing": cause.standing or None, "confidence": round(cause.confidence, 3) if cause.strong else None,
            "evidence": [{"hop": m.signature.hop, "kind": m.signature.kind, "stream": m.signature.stream,
                          "signature": m.signature.pattern, "exact": m.exact, "lines": m.lines} for m in cause.matched],
            "missing": [{"hop": sig.hop, "kind": sig.kind, "stream": sig.stream, "signature": sig.pattern}
                        for sig in cause.missing],
            "statuses": cause.statuses, "expected_statuses": cause.expected_statuses,
            "answered_by": cause.answered_by, "answered_kind": cause.answered_kind,
            "reproduce": hints.run(cause.scenario_id, cause.step) if hints else None,
            "fixes": [{"step": line.step, "changes": [_change(change) for change in line.changes],
                       "text": words.fix(line.changes, line.actions)} for line in cause.fixes],
            "fix_command": hints.fix(cause.scenario_id) if hints else None,
            "also": cause.also,
            "contradicted": cause.contradicted or None,
        } for cause in diagnosis.causes],
        "partial": [{"scenario": p.scenario_id, "step": p.step, "hop": p.hop, "kind": p.kind, "signature": p.pattern,
                     "line": p.line, "similarity": p.similarity} for p in diagnosis.partial],
        "differential": None if diagnosis.differential is None else {
            "line": diagnosis.differential.line,
            "causes": [{"scenario": entry.scenario_id, "also": list(entry.also), "matched": entry.matched,
                        "missing": [{"hop": sig.hop, "kind": sig.kind, "stream": sig.stream, "signature": sig.pattern}
                                    for sig in entry.missing], "tells_apart": entry.tells_apart}
                       for entry in diagnosis.differential.entries],
            "ask": diagnosis.differential.ask},
    }


def render_text(diagnosis: Diagnosis, hints: Hints | None = None) -> str:
    formats = ", ".join(f"{name} {count}" for name, count in sorted(diagnosis.formats.items(), key=lambda i: -i[1]))
    out = [f"Read {diagnosis.lines_read} lines ({formats or 'none'}); "
           f"{diagnosis.signatures} log signatures from {diagnosis.scenarios} scenarios."]
    out += [f"Left out a scenario file that does not load: {problem}" for problem in diagnosis.unreadable]
    strong = [cause for cause in diagnosis.causes if cause.strong]
    weak = [cause for cause in diagnosis.causes if not cause.strong]
    if not diagnosis.causes:
        out.append("\nNo known cause: nothing in the input matches a scenario's signature or status.")
    elif not strong:
        out.append("\nNo known cause: no log line matches a scenario's signature; only statuses do.")
    elif not diagnosis.known:
        out.append(f"\nNo known cause: the best match is right less than half the time on the corpus "
                   f"({strong[0].confidence:.0%}); the candidates below are partial.")
    for number, cause in enumerate(strong[:SHOWN_CAUSES], 1):
        out += ["", *_render_cause(number, cause, hints, partial=not diagnosis.known)]
    if weak:
        out.append("\nThe statuses alone also fit (weak evidence; paste the hops' logs to tell them apart):"
                   if strong else "\nThe statuses alone fit (weak evidence; paste the hops' logs to tell them apart):")
        for cause in weak[:SHOWN_CAUSES]:
            at = f", answered by {cause.answered_by} ({cause.answered_kind})" if cause.answered_by else ""
            reproduce = f"  [{hints.run(cause.scenario_id, cause.step)}]" if hints else ""
            out.append(f"  - {cause.scenario_id}: status {', '.join(map(str, cause.statuses))}{at} — {cause.title}"
                       f"{reproduce}")
    if diagnosis.differential is not None:
        out += ["", *_render_differential(diagnosis.differential)]
    if diagnosis.partial:
        out.append("\nClosest partial matches (a line resembles a signature but does not match it):")
        for partial in diagnosis.partial:
            out.append(f"  - {partial.scenario_id} (step {partial.step}), {partial.hop} ({partial.kind}): "
                       f"/{partial.pattern}/ ~ {partial.similarity:.0%} of it in: {_cut(partial.line)}")
    return "\n".join(out)


def _render_cause(number: int, cause: Cause, hints: Hints | None, *, partial: bool = False) -> list[str]:
    logs = len(cause.matched) + len(cause.missing)
    right, seen = cause.corpus
    lines = [f"{number}. {cause.scenario_id}{' (partial)' if partial else ''}: {cause.title}",
             f"   confidence: {cause.confidence:.0%} — {STANDINGS[cause.standing]}; on the corpus of real lines "
             f"such a cause was right {right} of {seen} times",
             f"   evidence: {cause.score:.0%} of step {cause.step!r} ({cause.role}): {len(cause.matched)} of {logs} "
             f"log signatures" + (f", status {', '.join(map(str, cause.statuses))}" if cause.statuses else "")]
    if cause.contradicted:
        lines.append(f"   ruled out by the input: {cause.contradicted}")
    for match in cause.matched:
        sig = match.signature
        loose = "" if match.exact else " (with your own numbers, or a known variant of its wording)"
        lines.append(f"   ✓ {sig.hop} ({sig.kind}, {sig.stream} log): /{sig.pattern}/{loose}")
        lines += [f"       {_cut(text)}" for text in match.lines]
    for sig in cause.missing:
        lines.append(f"   ✗ {sig.hop} ({sig.kind}, {sig.stream} log): /{sig.pattern}/ not in the input")
    if cause.answered_by:
        lines.append(f"   answered by: {cause.answered_by} ({cause.answered_kind})")
    if hints:
        lines.append(f"   reproduce: {hints.run(cause.scenario_id, cause.step)}")
    lines += [f"   fix: {words.fix(line.changes, line.actions)} (step {line.step})" for line in cause.fixes]
    if hints:
        lines.append(f"   full config: {hints.fix(cause.scenario_id)}")
    if cause.also:
        lines.append(f"   also seen in: {', '.join(cause.also)}")
    return lines


def _render_differential(differential: Differential) -> list[str]:
    lines = [f"Tell them apart: {len(differential.entries)} causes share the line",
             f"    {_cut(differential.line)}",
             "  What else each one's failing step logs:"]
    for entry in differential.entries:
        name = entry.scenario_id + (f" (and {', '.join(entry.also)})" if entry.also else "")
        if entry.missing:
            wanted = "; ".join(f"{sig.hop} ({sig.kind}, {sig.stream} log) /{sig.pattern}/" for sig in entry.missing)
            lines.append(f"  - {name}: also {wanted}, not in the input")
        else:
            known = "this line is all it is known by" if entry.matched == 1 else \
                f"all {entry.matched} of its lines are in the input"
            lines.append(f"  - {name}: nothing else; {known}")
        if entry.tells_apart:
            lines.append(f"      look at: {entry.tells_apart}")
    if differential.ask:
        lines.append(f"  Ask next for: {differential.ask}")
    return lines


def _cut(text: str, width: int = 160) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"
