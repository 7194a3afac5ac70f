"""`diagnose`: name the scenario behind pasted log lines and status codes.

The signatures come from the scenario files only. Every step whose users see a failure (role
`broken` or `wrong-fix`, or any step that expects an HTTP error, e.g. a journey's fix that reveals the
next failure) contributes its `expect.logs` (hop, regex, stream; the hop's server kind from the
topology) and its statuses. A cause is a scenario, named by its best-matching step, ranked by how
much of that step's evidence the input shows: a log signature at the right server kind is strong
evidence, a status alone is weak. Each signature is one a real run has observed: the scenario tests
check every step's lines, and tests/scenarios/test_diagnose.py feeds real runs' lines to diagnose.

Ranking, highest first: any log signature matched; the share of the step's evidence matched (log
signatures weigh 3, its statuses 1); how well the input's servers fit the scenario's chain (server
kinds, nginx's `upstream: "uwsgi://…"`, the status at the hop that answered); the number of the
step's signatures matched (a cause that also explains uwsgi's HARAKIRI line beats one that explains
only traefik's 502 beside it); the specificity of the matched regexes; the scenario with fewer failing
steps (a single scenario isolates what a journey replays). Causes shown by their statuses alone rank
by fit, then by the scenario's `broken` step. A journey step that matches exactly the same lines on the
same chain as a scenario it replays (its `replays`) is folded into that cause as "also seen in". When the top
causes were all found by one and the same line (nginx's "upstream prematurely closed connection" fits a
killed gunicorn worker, a uwsgi harakiri and a keep-alive race), the diagnosis carries a differential:
what else each of them would have logged.

Each strong cause has a standing among the others (alone, leading a shared line, an alternative to the
first, found by other lines, ruled out by a line) and a confidence: how often a cause of that standing
was the right one on the corpus of real lines from public threads (tests/unit/data/diagnose-corpus,
counted into faultlab/data/diagnose-calibration.json; Laplace's rule, so an unseen standing is 0.5).
A first cause below KNOWN_AT is no answer: the diagnosis says "no known cause" and shows the causes as
partial candidates.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from faultlab.errors import InputError
from faultlab.hops import HOP_KINDS
from faultlab.model import scenario as scenarios
from faultlab.model.plan import KnobChange, Plan, StepPlan
from faultlab.model.scenario import Action
from faultlab.paths import DATA
from faultlab.tools import MAX_DIAGNOSE_MIB, fix
from faultlab.tools.fix import FixReport
from faultlab.tools.logformats import MAX_LINE_CHARS, ParsedLine, could_be, parse_lines, unwrapped

LOG_WEIGHT = 3.0
STATUS_WEIGHT = 1.0
SHOWN_LINES = 3  # evidence lines shown per signature
FUZZY_LINES = 2000  # lines compared for "closest partial matches" (difflib is quadratic per pair)
FUZZY_CHARS = 300
PARTIAL_SIMILARITY = 0.6  # share of a signature's text found in one line, in order
SHOWN_PARTIAL = 3
KNOWN_AT = 0.5  # a first cause less likely right than wrong is no answer
CALIBRATION = DATA / "diagnose-calibration.json"
# A strong cause's place among the others (see standing()), in the order the calibration file lists them.
STANDINGS = {
    "alone": "the first cause, and no other cause matched a line of its evidence",
    "leading": "the first of several causes that match the same line",
    "alternative": "another cause of a line the first cause explains",
    "separate": "a cause found by other lines than the first cause",
    "contradicted": "a line of the input rules it out",
}


@dataclass(frozen=True)
class Signature:
    scenario_id: str
    step: str
    hop: str
    kind: str  # the hop's server kind in the scenario's topology
    stream: str
    pattern: str
    variants: tuple[str, ...] = ()  # real-world wordings of the same event (the scenario file's `variants`)

    @property
    def regex(self) -> re.Pattern[str]:
        return _compiled(self.pattern)

    @property
    def loose(self) -> re.Pattern[str]:
        """The pattern with its long literal numbers generalised: the scenario's 67108864-byte upload or
        4096-byte buffer are one instance, a user's own sizes are the same event. Statuses and errnos
        (three digits) stay as they are. Names the lab gives its own config objects (`faultlab_conn`)
        become any name."""
        generalised = re.sub(r"(?<![\\\d])\d{4,}", r"\\d+", self.pattern)
        return _compiled(re.sub(r"faultlab_\w+", r"\\w+", generalised))

    @property
    def literal(self) -> str:
        """The text the regex looks for, for fuzzy comparison with lines that did not match."""
        return re.sub(r"\\(.)", r"\1", re.sub(r"\\d\+|\\d|[\^$]|\.\*|\[[^\]]*\]", "", self.pattern.split("|")[0]))


@dataclass(frozen=True)
class CauseStep:
    """One failing step of a scenario: what it shows, on which chain, and what fixes it."""

    scenario_id: str
    title: str
    topology: str
    step: str
    role: str
    index: int
    logs: tuple[Signature, ...]
    statuses: frozenset[int]
    answered_by: str | None
    answered_kind: str | None
    kinds: frozenset[str]  # server kinds of the chain
    upstream_schemes: frozenset[str]  # what nginx hops of this step write in `upstream: "…://"`
    failing_steps: int  # in the whole scenario
    fixes: tuple[FixLine, ...]
    replays: frozenset[str] = frozenset()  # the single scenarios a journey replays
    tells_apart: str = ""  # the scenario's clue beyond its log lines
    contradictions: tuple[tuple[str, str], ...] = ()  # (regex, why): a line that rules the scenario out
    refines: frozenset[str] = frozenset()  # the scenarios whose cause this one is a special case of


@dataclass(frozen=True)
class FixLine:
    """What clears the step's failure: one fix of the scenario's FixReport, up to the stage that does."""

    step: str  # the fix step that shows it
    changes: tuple[KnobChange, ...]
    actions: tuple[Action, ...] = ()  # a deploy's fix is an order of actions (502-deploy-drain)


@dataclass
class MatchedSignature:
    signature: Signature
    lines: list[str]
    exact: bool  # False: matched only with the scenario's literal numbers generalised


@dataclass
class Cause:
    scenario_id: str
    title: str
    step: str
    role: str
    score: float  # share of the step's evidence the input shows, 0..1
    strong: bool  # at least one log signature matched
    matched: list[MatchedSignature]
    missing: list[Signature]
    statuses: list[int]  # the step's statuses that the input reports
    expected_statuses: list[int]
    answered_by: str | None
    answered_kind: str | None
    fixes: list[FixLine]
    also: list[str] = field(default_factory=list)  # "scenario (step …)" with the same evidence
    fit: float = 0.0  # how well the input's servers fit the scenario's chain
    rank: tuple[Any, ...] = ()  # the sort key (see the module's docstring)
    evidence_ids: frozenset[int] = frozenset()  # the input lines its log signatures matched
    topology: str = ""
    replays: frozenset[str] = frozenset()
    refines: frozenset[str] = frozenset()
    tells_apart: str = ""
    contradicted: str = ""  # why a line of the input rules it out ("" when none does)
    failing_steps: int = 0
    standing: str = ""  # a strong cause's place among the others (STANDINGS); "" for a weak one
    corpus: tuple[int, int] = (0, 0)  # (right, seen): causes of its standing on the corpus

    @property
    def confidence(self) -> float:
        """How often a cause of its standing was right on the corpus (Laplace's rule: unseen is 0.5)."""
        right, seen = self.corpus
        return (right + 1) / (seen + 2)


@dataclass
class Partial:
    scenario_id: str
    step: str
    hop: str
    kind: str
    pattern: str
    line: str
    similarity: float


@dataclass(frozen=True)
class DifferentialEntry:
    scenario_id: str
    also: tuple[str, ...]  # journeys folded into it
    matched: int  # its failing step's log signatures in the input
    missing: tuple[Signature, ...]  # what else that step logs, absent from the input
    tells_apart: str = ""  # the scenario's clue beyond the logs


@dataclass(frozen=True)
class Differential:
    """One input line that several causes' signatures match, and what else each cause would show."""

    line: str
    entries: tuple[DifferentialEntry, ...]

    @property
    def ask(self) -> str:
        """The one thing to ask for next: the log of the hop whose line would settle it (the first cause that
        expects a line the input lacks), around the shared line's time; else the first cause's clue."""
        when = _moment(self.line)
        around = f" around {when}" if when else ""
        for entry in self.entries:
            if entry.missing:
                sig = entry.missing[0]
                return (f"the {sig.kind} {sig.stream} log of the {sig.hop} hop{around}: {entry.scenario_id} "
                        f"would show /{sig.pattern}/ there")
        first = self.entries[0]
        return f"{first.tells_apart} ({first.scenario_id})" if first.tells_apart else ""


_MOMENT = re.compile(r"\b(\d\d:\d\d:\d\d)\b")


def _moment(text: str) -> str:
    found = _MOMENT.search(text)
    return found[1] if found else ""


@dataclass
class Diagnosis:
    lines_read: int
    formats: dict[str, int]  # recognised format -> lines
    causes: list[Cause]
    partial: list[Partial]
    signatures: int  # log signatures known
    scenarios: int
    unreadable: list[str] = field(default_factory=list)  # scenario files left out: why each cannot be loaded
    differential: Differential | None = None

    @property
    def found(self) -> bool:
        return bool(self.causes)

    @property
    def known(self) -> bool:
        """Whether the first strong cause is an answer: likelier right than wrong on the corpus."""
        strong = [cause for cause in self.causes if cause.strong]
        return bool(strong) and strong[0].confidence >= KNOWN_AT

    @property
    def matches(self) -> list[Cause]:
        """The causes ranked as matches: the strong ones when the first is an answer, else none."""
        return [cause for cause in self.causes if cause.strong] if self.known else []


def loadable() -> tuple[list[Plan], list[str]]:
    """Every scenario that loads, and a sentence for each file that does not (one broken file of a user's
    folder must not keep diagnose from the rest)."""
    plans, unreadable = [], []
    for scenario_id in scenarios.available():
        try:
            plans.append(scenarios.load(scenario_id))
        except InputError as exc:
            unreadable.append(exc.message)
    return plans, unreadable


def catalogue(plans: Iterable[Plan] | None = None) -> list[CauseStep]:
    """Every failing step of every scenario file, with its signatures."""
    if plans is None:
        plans, _ = loadable()
    steps: list[CauseStep] = []
    for plan in plans:
        if plan.twin is not None:
            continue  # a comparison of two servers on one Ingress, not a cause: its failures are other scenarios'
        report = fix.build(plan)
        failing = [step for step in plan.steps if _is_failure(step)]
        kinds = frozenset(hop.kind for hop in plan.topology.hops)
        for step in failing:
            expect = step.step.expect
            logs = tuple(Signature(plan.scenario.id, step.step.name, sig.hop, plan.topology.hop(sig.hop).kind,
                                      sig.stream, sig.match, tuple(variant.match for variant in sig.variants))
                         for sig in expect.logs)
            answered_kind = plan.topology.hop(expect.answered_by).kind if expect.answered_by else None
            steps.append(CauseStep(
                plan.scenario.id, plan.scenario.title, plan.topology.name, step.step.name, step.step.role, step.index,
                logs, frozenset(_statuses(step)), expect.answered_by, answered_kind, kinds,
                frozenset(_upstream_schemes(plan, step)), len(failing), fixes_for(report, step.index),
                frozenset(plan.scenario.replays), (step.step.tells_apart or plan.scenario.tells_apart).strip(),
                tuple((c.match, c.why) for c in plan.scenario.contradicted_by), frozenset(plan.scenario.refines),
            ))
    return steps


def _is_failure(step: StepPlan) -> bool:
    return step.role in ("broken", "wrong-fix") or step.expects_error


def _statuses(step: StepPlan) -> set[int]:
    expect = step.step.expect
    statuses = {expect.status} if expect.status is not None and expect.status >= 400 else set()
    if expect.failures is not None:
        # Also where failures are only allowed (a GET retried on another pod fails now and then): what
        # they are when they happen is still the step's symptom.
        statuses.update(expect.failure_statuses)
    # A status only the hop's access log knows (nginx's 499 for a client that left): the lab-format
    # signature names it, and a default-format line reports the same status.
    for sig in expect.logs:
        if sig.stream == "access":
            statuses.update(int(code) for code in re.findall(r'"(?:status|DownstreamStatus)":([45]\d\d)\b', sig.match))
    return statuses


def _upstream_schemes(plan: Plan, step: StepPlan) -> set[str]:
    """What the step's nginx hops write in `upstream: "…://"`, and the schemes the scenario says its lines
    hold for beyond its chain's (`upstream_schemes`)."""
    schemes: set[str] = set(plan.scenario.upstream_schemes)
    for hop in plan.topology.hops:
        scheme = HOP_KINDS[hop.kind].upstream_scheme(step.knobs[hop.name]) if hop.upstream else None
        if scheme is not None:
            schemes.add(scheme)
    return schemes


def fixes_for(report: FixReport, index: int) -> tuple[FixLine, ...]:
    """The fixes of the failure seen at step `index`, from the scenario's FixReport: each fix's stages
    after that step, up to the first that reveals the next failure. Without a later fix (a wrong fix
    shown last) every fix counts whole."""
    found = []
    later_broken = [i for i in report.broken_indices if i > index]
    for candidate in report.fixes:
        stages = candidate.clearing(index, later_broken[0] if later_broken else None)
        if stages:
            actions = candidate.actions if stages[-1].step == candidate.step else ()
            found.append(FixLine(stages[-1].step, _merged(stage.changes for stage in stages), actions))
    return tuple(found) or tuple(FixLine(candidate.step, candidate.changes, candidate.actions)
                                 for candidate in report.fixes)


def _merged(batches: Iterable[tuple[KnobChange, ...]]) -> tuple[KnobChange, ...]:
    """Consecutive stages' changes as one: a knob changed twice goes from its first value to its last."""
    merged: dict[tuple[str, tuple[str, ...]], KnobChange] = {}
    for changes in batches:
        for change in changes:
            first = merged.get(change.key)
            merged[change.key] = replace(change, before=first.before) if first else change
    return tuple(change for change in merged.values() if change.before != change.after)


def diagnose(lines: Iterable[str], steps: list[CauseStep] | None = None) -> Diagnosis:
    unreadable: list[str] = []
    if steps is None:
        plans, unreadable = loadable()
        steps = catalogue(plans)
    # Logs repeat themselves (the same error for every request): each distinct line is read once.
    repeats: dict[str, int] = {}
    for raw in unwrapped(lines):
        if raw.strip():
            repeats[raw] = repeats.get(raw, 0) + 1
    parsed = parse_lines(repeats)
    formats: dict[str, int] = {}
    for line, count in zip(parsed, repeats.values(), strict=True):
        formats[line.format] = formats.get(line.format, 0) + count
    best: dict[str, Cause] = {}
    searched: dict[tuple[str, str, str, bool], list[int]] = {}  # journeys share signatures with scenarios
    broken_share: dict[str, float] = {}  # per scenario: how much of its best `broken` step the input shows
    for step in steps:
        cause = match_step(step, parsed, searched)
        if cause is None:
            continue
        if step.role == "broken" and cause.strong:
            broken_share[step.scenario_id] = max(broken_share.get(step.scenario_id, 0.0), cause.score)
        current = best.get(step.scenario_id)
        if current is None or cause.rank > current.rank:  # equal: the earlier step stays
            best[step.scenario_id] = cause
    ranked = _ranked(list(best.values()), broken_share)
    causes: list[Cause] = []
    for cause in ranked:
        same = next((shown for shown in causes if shown.strong and shown.topology == cause.topology
                     and shown.evidence_ids == cause.evidence_ids and shown.score == cause.score
                     and (shown.scenario_id in cause.replays or cause.scenario_id in shown.replays)), None)
        if same is not None:
            same.also.append(f"{cause.scenario_id} (step {cause.step})")
        else:
            causes.append(cause)
    _place(causes, calibration())
    partial = [] if any(cause.strong for cause in causes) else _closest(steps, parsed)
    return Diagnosis(sum(repeats.values()), formats, causes, partial, sum(len(step.logs) for step in steps),
                     len({step.scenario_id for step in steps}), unreadable, _differential(causes, parsed))


def _ranked(causes: list[Cause], broken_share: dict[str, float]) -> list[Cause]:
    """By rank; but causes found by exactly the same input lines stand together, at the best one's place,
    by how the input's servers fit the chain, a scenario before a journey that replays it, by how much of
    the scenario's own `broken` step the input shows, a general cause before its special case (the
    scenario's `refines`), then the scenario with fewer failing steps (not by the share of whichever step
    has the fewest signatures): a line that a single scenario is about (uwsgi's HARAKIRI) names it before
    a scenario that shows it on the way to something else (a retry that replays orders)."""
    groups: dict[frozenset[int], list[Cause]] = {}
    for cause in causes:
        # A cause that a line rules out stands alone, after the causes nothing contradicts (its rank's first key).
        alone = not cause.strong or cause.contradicted
        groups.setdefault(frozenset({-1 - len(groups)}) if alone else cause.evidence_ids, []).append(cause)
    ordered = sorted(groups.values(), key=lambda group: max(cause.rank for cause in group), reverse=True)
    result = []
    for group in ordered:
        ids = {cause.scenario_id for cause in group}
        result += sorted(group, key=lambda cause: (cause.rank[0], round(cause.fit, 6), not cause.replays & ids,
                                                   round(broken_share.get(cause.scenario_id, 0.0), 6),
                                                   not cause.refines & ids,
                                                   -cause.failing_steps, cause.rank), reverse=True)
    return result


def standing(strong: list[Cause], number: int) -> str:
    """The place of the strong cause `strong[number]` among the ranked strong causes (STANDINGS)."""
    cause = strong[number]
    if cause.contradicted:
        return "contradicted"
    if number == 0:
        return "leading" if any(cause.evidence_ids & other.evidence_ids for other in strong[1:]) else "alone"
    return "alternative" if cause.evidence_ids & strong[0].evidence_ids else "separate"


def _place(causes: list[Cause], counts: dict[str, tuple[int, int]]) -> None:
    """Give each strong cause its standing and that standing's confidence."""
    strong = [cause for cause in causes if cause.strong]
    for number, cause in enumerate(strong):
        cause.standing = standing(strong, number)
        cause.corpus = counts.get(cause.standing, (0, 0))


_CALIBRATION: dict[str, tuple[int, int]] | None = None


def calibration() -> dict[str, tuple[int, int]]:
    """Per standing: (right, seen) on the corpus, as counted into CALIBRATION; none where the file is
    missing (a data folder of the user's own)."""
    global _CALIBRATION
    if _CALIBRATION is None:
        try:
            table = json.loads(CALIBRATION.read_text())["standings"]
            _CALIBRATION = {name: (int(row["right"]), int(row["seen"])) for name, row in table.items()}
        except (OSError, ValueError, KeyError, TypeError):
            _CALIBRATION = {}
    return _CALIBRATION


def count_standings(cases: Iterable[tuple[list[str], str]], steps: list[CauseStep]) -> dict[str, dict[str, int]]:
    """Per standing, how many strong causes of that standing the cases (lines, the scenario that is their
    cause, or "unknown") show, and how many of them were the case's own cause: CALIBRATION's table."""
    table = {name: {"right": 0, "seen": 0} for name in STANDINGS}
    for lines, expected in cases:
        for cause in diagnose(lines, steps).causes:
            if cause.strong:
                table[cause.standing]["seen"] += 1
                table[cause.standing]["right"] += cause.scenario_id == expected
    return table


DIFFERENTIAL_CAUSES = 5  # the top causes looked at (the terminal shows as many)


def _differential(causes: list[Cause], parsed: list[ParsedLine]) -> Differential | None:
    """The top strong causes that share an input line with the first one, when there are two or more."""
    strong = [cause for cause in causes if cause.strong][:DIFFERENTIAL_CAUSES]
    if len(strong) < 2:
        return None
    sharing = [cause for cause in strong if cause.evidence_ids & strong[0].evidence_ids]
    common = frozenset.intersection(*(cause.evidence_ids for cause in sharing))
    if len(sharing) < 2 or not common:
        return None
    return Differential(parsed[min(common)].text, tuple(
        DifferentialEntry(cause.scenario_id, tuple(cause.also), len(cause.matched), tuple(cause.missing),
                          cause.tells_apart)
        for cause in sharing))


def match_step(step: CauseStep, parsed: list[ParsedLine],
               searched: dict[tuple[str, str, str, bool], list[int]] | None = None) -> Cause | None:
    """How much of one failing step's evidence the parsed lines show; None when nothing at all."""
    searched = {} if searched is None else searched
    matched: list[MatchedSignature] = []
    missing: list[Signature] = []
    used: set[int] = set()
    for sig in step.logs:
        hits, exact = _search(sig, parsed, searched, loose=False), True
        if not hits:
            hits, exact = _search(sig, parsed, searched, loose=True), False
        for variant in sig.variants if not hits else ():
            # Another wording of the event (a kernel's OOM line, an older server's message): on any line, as
            # the wording is not the hop's own format.
            hits = _search(replace(sig, pattern=variant, variants=(), kind="", stream="any"), parsed, searched,
                           loose=True)
            if hits:
                break
        if hits:
            matched.append(MatchedSignature(sig, [parsed[i].text for i in hits[:SHOWN_LINES]], exact))
            used.update(hits)
        else:
            missing.append(sig)
    reported = [i for i, line in enumerate(parsed) if set(line.statuses) & step.statuses]
    statuses = sorted({s for i in reported for s in parsed[i].statuses} & step.statuses)
    if not matched and not statuses:
        return None
    total = LOG_WEIGHT * len(step.logs) + (STATUS_WEIGHT if step.statuses else 0.0)
    score = (LOG_WEIGHT * len(matched) + (STATUS_WEIGHT if statuses else 0.0)) / total
    fit = _fit(step, parsed, reported)
    specificity = sum(len(m.signature.pattern) for m in matched)
    exact_count = sum(m.exact for m in matched)
    # Statuses alone cannot rank steps by evidence (a step without log signatures would "match 100%"):
    # among weak causes the chain's fit decides, then the scenario's `broken` step.
    strength = round(score, 6) if matched else 0.0
    contradicted = next((why for pattern, why in step.contradictions
                         if any(_compiled(pattern).search(line.text) for line in parsed)), "")
    key = (bool(matched) and not contradicted, bool(matched), strength, round(fit, 6), len(matched), specificity,
           exact_count, step.role == "broken", -step.failing_steps, -step.index)
    return Cause(step.scenario_id, step.title, step.step, step.role, score, bool(matched), matched, missing, statuses,
                 sorted(step.statuses), step.answered_by, step.answered_kind, list(step.fixes), fit=fit, rank=key,
                 evidence_ids=frozenset(used), topology=step.topology, replays=step.replays, refines=step.refines,
                 tells_apart=step.tells_apart, contradicted=contradicted, failing_steps=step.failing_steps)


def _search(sig: Signature, parsed: list[ParsedLine], searched: dict[tuple[str, str, str, bool], list[int]],
            *, loose: bool) -> list[int]:
    key = (sig.pattern, sig.kind, sig.stream, loose)
    if key not in searched:
        searched[key] = _lines_matching(sig, parsed, sig.loose if loose else sig.regex)
    return searched[key]


def _lines_matching(sig: Signature, parsed: list[ParsedLine], regex: re.Pattern[str]) -> list[int]:
    hits = []
    for index, line in enumerate(parsed):
        if sig.kind and line.kinds and not could_be(sig.kind, line.kinds):  # a variant has no kind
            continue
        if sig.stream != "any" and line.stream is not None and line.stream != sig.stream:
            continue
        if any(regex.search(text) for text in line.texts()):
            hits.append(index)
    return hits


def _fit(step: CauseStep, parsed: list[ParsedLine], reported: list[int]) -> float:
    """How well the servers in the input fit the scenario's chain: the share of recognised lines whose
    server kind is on the chain (and whose nginx upstream scheme is the step's), plus whether a
    reported status comes from an access line of the hop kind that answers in the scenario."""
    judged = [line for line in parsed if line.kinds]
    fitting = [line for line in judged if any(could_be(kind, line.kinds) for kind in step.kinds)
               and (line.upstream_scheme is None or line.upstream_scheme in step.upstream_schemes)]
    share = len(fitting) / len(judged) if judged else 0.0
    at_hop = step.answered_kind is not None and any(
        could_be(step.answered_kind, parsed[i].kinds) for i in reported if parsed[i].stream == "access")
    return share + (0.5 if at_hop else 0.0)


def _closest(steps: list[CauseStep], parsed: list[ParsedLine]) -> list[Partial]:
    """For input that matched no signature: the signatures most similar to some input line."""
    candidates = [(line.text[:FUZZY_CHARS], _words(line.text[:FUZZY_CHARS])) for line in parsed[:FUZZY_LINES]]
    found: dict[str, Partial] = {}
    for step in steps:
        for sig in step.logs:
            if sig.pattern in found:
                continue
            literal = sig.literal
            words = _words(literal)
            matcher = difflib.SequenceMatcher(autojunk=False)
            matcher.set_seq2(literal)
            best, best_line = 0.0, ""
            for text, text_words in candidates:
                # A near miss shares most of the signature's words; the character-level comparison
                # (costly) is only made for those lines.
                if len(words & text_words) * 2 < len(words):
                    continue
                matcher.set_seq1(text)
                if matcher.real_quick_ratio() <= best or matcher.quick_ratio() <= best:
                    continue
                # Similarity to the signature's own text: a line that holds most of it scores high.
                blocks = sum(block.size for block in matcher.get_matching_blocks())
                ratio = blocks / max(len(literal), 1)
                if ratio > best:
                    best, best_line = ratio, text
            if best >= PARTIAL_SIMILARITY:
                found[sig.pattern] = Partial(sig.scenario_id, sig.step, sig.hop, sig.kind, sig.pattern, best_line,
                                             round(best, 2))
    return sorted(found.values(), key=lambda partial: partial.similarity, reverse=True)[:SHOWN_PARTIAL]


def _words(text: str) -> set[str]:
    return {word.lower() for word in re.findall(r"[A-Za-z]{4,}", text)}


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    if pattern not in _REGEX_CACHE:
        _REGEX_CACHE[pattern] = re.compile(pattern)
    return _REGEX_CACHE[pattern]


def read_inputs(paths: list[str]) -> list[str]:
    """Lines from files (`-` or none: stdin), decoded leniently (pasted logs may hold any bytes), each cut to
    a bound, and at most MAX_DIAGNOSE_MIB in all: an endless input (`/dev/zero`, a pipe that never closes)
    is read in chunks up to that bound, so memory stays bounded and Ctrl-C is honoured at once."""
    budget = MAX_DIAGNOSE_MIB << 20
    lines: list[str] = []
    for path in paths or ["-"]:
        try:
            stream = sys.stdin.buffer if path == "-" else Path(path).open("rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            budget = _read_lines(stream, budget, lines)
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()
        if budget <= 0:
            break
    return lines


_LINE_BYTES = MAX_LINE_CHARS * 4  # a line's start is all diagnose reads of it (UTF-8: up to 4 bytes a character)


def _read_lines(stream: BinaryIO, budget: int, lines: list[str]) -> int:
    partial = b""
    while budget > 0:
        chunk = stream.read(min(1 << 20, budget))
        if not chunk:
            break
        budget -= len(chunk)
        *whole, partial = (partial + chunk).split(b"\n")
        lines += [_decoded(line) for line in whole]
        partial = partial[:_LINE_BYTES]  # a line without an end (/dev/zero) keeps only its start
    if partial:
        lines.append(_decoded(partial))
    return budget


def _decoded(line: bytes) -> str:
    return line[:_LINE_BYTES].decode("utf-8", errors="replace").replace("\x00", "").rstrip("\r")
