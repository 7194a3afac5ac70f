"""Practice mode: a learner gets a scenario's broken config as the files a user has at work, edits them,
and `check` replays the scenario's traffic against what they wrote, judged by the scenario's own
expectations.

The files are each hop kind's workspace (hops/base.py WorkspaceKind), at story time. `check` reads them
back into knobs (each kind's reader proves the knobs say what the file says), so what runs goes down the
one path: knobs, rendered configs at the scenario's time scale, containers, evidence, verdict. The probes
are the steps of the scenario's fix closest to what the learner changed, with the learner's knobs: solved
means every expectation of that fix holds (the upload's bytes and hash, no failure among the race's N
requests). A change that touches what one of the scenario's wrong fixes touches, and does not pass, is that
wrong fix, and its step's lesson is shown.

The workspace directory holds the learner's files, `.faultlab/broken/` (the files as they started, for
`diff` and `reset`) and `.faultlab/practice.json` (scenario, time, hints used, every check's verdict).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

from faultlab.errors import InputError
from faultlab.hops import HOP_KINDS, Knobs, RenderContext
from faultlab.hops.base import ANNOUNCE_FILE, STORY, ToolCheck, WorkspaceError, WorkspaceKind
from faultlab.model.plan import Plan, StepPlan, flat_knobs
from faultlab.model.scenario import LoadTraffic
from faultlab.run.events import ScenarioResult, StepResult
from faultlab.run.verdict import DuplicatesCheck, RepeatedEffectsCheck, judge
from faultlab.tools import fix as fixes
from faultlab.tools.fix import Fix, FixReport, WrongFix

STATE_DIR = ".faultlab"
STATE_FILE = "practice.json"
BROKEN_DIR = "broken"
STACK_DIR = "stack"  # the workspace stack's rendered configs (lab time), which its containers mount
HINT_TIERS = ("which hop", "which setting", "the fix")

Outcome = Literal["solved", "known-wrong-fix", "not-yet", "invalid"]


def default_directory(scenario_id: str) -> Path:
    return Path(f"practice-{scenario_id}")


# Which scenarios a learner can practise ---------------------------------------------------------------

def editable_hops(plan: Plan) -> list[str]:
    """The hops whose config the workspace holds: every hop of a kind that has a workspace."""
    return [hop.name for hop in plan.topology.hops if isinstance(HOP_KINDS[hop.kind], WorkspaceKind)]


def why_not(plan: Plan) -> str | None:
    """Why `practice start` refuses this scenario; None: it can be practised."""
    reason = what_stops(plan)
    if not plan.scenario.practice:
        return reason or "its scenario file turns practice off (practice: false)"
    return reason


def what_stops(plan: Plan) -> str | None:
    """What in the scenario's shape keeps a learner from practising it (whatever its file says)."""
    if not plan.fixes:
        return "it has no fix step to practise: it shows a behaviour, it does not ask for a fix"
    first_fix = plan.fixes[0].index
    if any(step.role == "broken" and step.index > first_fix for step in plan.steps) or any(
            step.expects_error for step in plan.fixes):
        return "it is a journey of several failures, one after another; practise the scenarios it replays"
    if plan.twin is not None:
        return "it compares two topologies; practice runs one"
    editable = set(editable_hops(plan))
    for step in (*plan.fixes, *plan.wrong_fixes):
        for change in plan.broken.diff(step):
            kind_name = plan.topology.hop(change.hop).kind
            kind = HOP_KINDS[kind_name]
            if change.hop not in editable:
                return f"its fix changes hop {change.hop!r} ({kind_name}), whose config practice mode cannot read yet"
            assert isinstance(kind, WorkspaceKind)
            if change.path[0] not in kind.readable:
                return (f"its step {step.name!r} changes {change.path[0]} of hop {change.hop!r}, which is not in "
                        "the files practice mode reads")
        if step.step.actions != plan.broken.step.actions:
            return f"step {step.name!r} acts differently during its traffic (a deploy's order), which is not a file"
    return None


def practicable(plans: Sequence[Plan]) -> list[str]:
    return [plan.id for plan in plans if why_not(plan) is None]


def _context(plan: Plan, hop_name: str) -> RenderContext:
    hop = plan.topology.hop(hop_name)
    return RenderContext(hop.name, hop.port, hop.upstream, STORY)


def files_for(plan: Plan, knobs: dict[str, Knobs]) -> dict[str, str]:
    """The workspace's files ("host-nginx/nginx.conf": text) for these knobs, at story time. With a fix
    step's knobs they are that fix as a learner would write it (the solve tests' reference)."""
    files: dict[str, str] = {}
    for hop in editable_hops(plan):
        kind = HOP_KINDS[plan.topology.hop(hop).kind]
        assert isinstance(kind, WorkspaceKind)
        files |= {f"{hop}/{name}": text for name, text in kind.workspace(knobs[hop], _context(plan, hop)).items()}
    return files


# The workspace and its state ----------------------------------------------------------------------------

@dataclass
class Attempt:
    at: float  # epoch seconds
    outcome: Outcome
    summary: str  # one line: what the check saw
    wrong_fix: str | None = None  # the wrong-fix step it matched
    seconds: float = 0.0  # how long the check took
    answered_by: str | None = None  # the hop that answered the failing requests


@dataclass
class State:
    scenario: str
    started_at: float
    time_limit_s: float | None = None
    hints: int = 0  # tiers shown so far
    attempts: list[Attempt] = field(default_factory=list)
    solved_at: float | None = None

    @classmethod
    def load(cls, path: Path) -> State:
        data = json.loads(path.read_text())
        data["attempts"] = [Attempt(**attempt) for attempt in data.get("attempts", [])]
        return cls(**data)

    def save(self, path: Path) -> None:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=1) + "\n")
        temporary.replace(path)  # a Ctrl-C never leaves half a state file

    def remaining_s(self, now: float) -> float | None:
        return None if self.time_limit_s is None else self.time_limit_s - (now - self.started_at)


@dataclass
class Workspace:
    directory: Path
    plan: Plan
    state: State

    @property
    def state_path(self) -> Path:
        return self.directory / STATE_DIR / STATE_FILE

    @property
    def broken_dir(self) -> Path:
        return self.directory / STATE_DIR / BROKEN_DIR

    @property
    def stack(self) -> tuple[str, Path, str]:
        """(compose project, config directory, owner label) of the workspace's own stack, which stays up
        between checks (infra.stack.Kept): the project is this directory's, so two learners never share one,
        and its owner label names no process, so `clean` leaves it to `practice stop`."""
        where = self.directory.resolve()
        digest = hashlib.sha256(str(where).encode()).hexdigest()[:6]
        return (f"faultlab-practice-{self.plan.id}"[:52] + f"-{digest}", where / STATE_DIR / STACK_DIR,
                f"practice:{where}")

    def broken_files(self) -> dict[str, str]:
        return files_for(self.plan, self.plan.broken.knobs)

    def save(self) -> None:
        self.state.save(self.state_path)


def start(plan: Plan, directory: Path, *, time_limit_s: float | None = None) -> Workspace:
    problem = why_not(plan)
    if problem is not None:
        raise InputError(f"scenario {plan.id!r} cannot be practised: {problem}",
                         tip="`{prog} practice list` names the scenarios that can")
    if (directory / STATE_DIR / STATE_FILE).exists():
        raise InputError(f"{directory} already holds a practice",
                         tip=f"go on with `{{prog}} practice check --dir {directory}`, or end it with "
                             f"`{{prog}} practice stop --dir {directory}`")
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise InputError(f"{directory} exists and is not an empty directory: practice writes its files there",
                         tip="give another one with --dir")
    workspace = Workspace(directory, plan, State(plan.id, time.time(), time_limit_s))
    try:
        _write(directory, workspace.broken_files())
        _write(workspace.broken_dir, workspace.broken_files())
        workspace.save()
    except OSError as exc:
        raise InputError(f"cannot write the practice files into {directory}: {exc.strerror or exc}",
                         tip="give a directory you can write with --dir") from None
    return workspace


def _write(directory: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def open_workspace(directory: Path) -> Workspace:
    from faultlab.model import scenario

    path = directory / STATE_DIR / STATE_FILE
    if not path.is_file():
        raise InputError(f"no practice in {directory}",
                         tip="start one with `{prog} practice start <scenario>` (or give its --dir)")
    try:
        state = State.load(path)
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"{path}: not a practice state faultlab wrote ({exc})",
                         tip="`{prog} practice stop` and start again") from None
    return Workspace(directory, scenario.load(state.scenario), state)


def diff(workspace: Workspace) -> str:
    """The learner's change against the broken files, as `diff -u`."""
    out: list[str] = []
    for name, broken in workspace.broken_files().items():
        path = workspace.directory / name
        mine = path.read_text(errors="replace") if path.is_file() else ""
        out += difflib.unified_diff(broken.splitlines(keepends=True), mine.splitlines(keepends=True),
                                    f"broken/{name}", name if path.is_file() else f"{name} (deleted)")
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)


def reset(workspace: Workspace) -> None:
    """Back to the broken files; the attempts and hints stay counted."""
    _write(workspace.directory, workspace.broken_files())


def stop(workspace: Workspace) -> None:
    """End the practice once its stack is gone (the caller removes it): its state goes, the learner's files
    stay (nothing they wrote is lost)."""
    shutil.rmtree(workspace.directory / STATE_DIR, ignore_errors=True)


# Reading the learner's files -------------------------------------------------------------------------

# Runs a ToolCheck on a file's text, with host names that must resolve and the files the config names (in
# /etc/faultlab, a TLS hop's certificate): (exit code, output, with the file's path written as its name).
# The CLI passes infra.toolbox.check: this layer never reaches the engine.
ToolRunner = Callable[[ToolCheck, str, Sequence[str], dict[str, str]], tuple[int, str]]
# Runs a probe plan against real containers, stopping at the first step that fails (run.runner.run).
ProbeRunner = Callable[[Plan], ScenarioResult]


def read(workspace: Workspace, tool: ToolRunner | None = None) -> dict[str, Knobs]:
    """Every hop's knobs from the learner's files (the others': the broken step's), or WorkspaceError.
    With `tool`, each file a server can check is checked by it first, and its words are the error."""
    plan = workspace.plan
    knobs = dict(plan.broken.knobs)
    for hop in editable_hops(plan):
        kind = HOP_KINDS[plan.topology.hop(hop).kind]
        assert isinstance(kind, WorkspaceKind)
        directory = workspace.directory / hop
        check_file = kind.tool_check
        if tool is not None and check_file is not None and (directory / check_file.file).is_file():
            _tool_check(plan, hop, directory / check_file.file, check_file, tool)
        knobs[hop] = kind.read_workspace(directory, plan.broken.knobs[hop], _context(plan, hop))
    return knobs


def _support_files(plan: Plan, hop: str) -> dict[str, str]:
    """The files beside a hop's config that the config may name (certificates, a CA), as any step of the
    scenario renders them, so that the server's own check finds them."""
    kind = HOP_KINDS[plan.topology.hop(hop).kind]
    assert isinstance(kind, WorkspaceKind)
    ctx = _context(plan, hop)
    found: dict[str, str] = {}
    for step in (plan.broken, *plan.fixes, *plan.wrong_fixes):
        found |= kind.render(step.knobs[hop], ctx)
    ours = set(kind.workspace(plan.broken.knobs[hop], ctx)) | {kind.tool_check.file if kind.tool_check else ""}
    return {name: text for name, text in found.items() if name not in ours and name != ANNOUNCE_FILE}


def _tool_check(plan: Plan, hop: str, path: Path, check_file: ToolCheck, tool: ToolRunner) -> None:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"{hop}/{check_file.file}: cannot be read ({exc})") from None
    code, output = tool(check_file, text, plan.topology.hop_names, _support_files(plan, hop))
    if code != 0:
        kind = HOP_KINDS[plan.topology.hop(hop).kind]
        said = [kind.message(line).replace(check_file.file, f"{hop}/{check_file.file}", 1)
                for line in output.splitlines() if line.strip() and not any(word in line for word in check_file.noise)]
        if len(said) > 3:  # a traceback: where it starts, and what it says in the end
            said = [said[0], "…", *said[-2:]]
        raise WorkspaceError(f"{' '.join(check_file.command[:2])} refuses {hop}/{check_file.file}: "
                             + " / ".join(said), tip="fix that line (`{prog} practice diff` shows your changes)")


# Checking: the probes, the run, the verdict ----------------------------------------------------------

def changed_keys(plan: Plan, knobs: dict[str, Knobs]) -> set[tuple[str, tuple[str, ...]]]:
    found = set()
    for hop, mine in knobs.items():
        old, new = flat_knobs(plan.broken.knobs[hop]), flat_knobs(mine)
        found |= {(hop, path) for path in set(old) | set(new) if old.get(path) != new.get(path)}
    return found


def closest_fix(report: FixReport, changed: set[tuple[str, tuple[str, ...]]]) -> Fix:
    """The fix whose knobs the learner's change shares most, then the one it leaves fewest of untouched, then
    the first: its steps are the probes."""
    def score(fix: Fix) -> tuple[int, int]:
        keys = {change.key for change in fix.changes}
        return len(changed & keys), -len(keys - changed)

    return max(report.fixes, key=score)


def known_wrong_fix(report: FixReport, knobs: dict[str, Knobs], plan: Plan,
                    failing: StepResult | None = None) -> WrongFix | None:
    """The wrong fix the learner's change is, among those whose own change it touches: behaviour first (the
    one whose step's expectations the learner's failing probe meets: its status, the hop that answered, its
    log lines), then the one whose whole state (its own change and what it sits on) has most of the
    learner's values, then covers most of what the learner changed, then comes first. None when the
    learner changed something no fix or wrong fix touches."""
    changed = changed_keys(plan, knobs)
    known = {change.key for wrong in report.wrong_fixes for change in (*wrong.changes, *wrong.carried)}
    known |= {change.key for fix in report.fixes for change in fix.changes}
    if not changed or not changed <= known:
        return None
    mine = {(hop, path): value for hop, hop_knobs in knobs.items() for path, value in flat_knobs(hop_knobs).items()}
    best: tuple[int, int, int, int] | None = None
    found: WrongFix | None = None
    for wrong in report.wrong_fixes:
        state = (*wrong.changes, *wrong.carried)
        if not changed & {change.key for change in wrong.changes}:
            continue
        behaves = failing is not None and failing.evidence is not None and all(
            check.ok for check in judge(plan.steps[wrong.index].step.expect, [r.record for r in failing.requests],
                                        failing.evidence))
        score = (int(behaves), sum(mine.get(change.key) == change.after for change in state),
                 len(changed & {change.key for change in state}), -wrong.index)
        if best is None or score > best:
            best, found = score, wrong
    return found


def probe_plan(plan: Plan, fix: Fix, knobs: dict[str, Knobs]) -> Plan:
    """The fix's steps with the learner's knobs, named so that the run's output does not give the fix away."""
    scenario = plan.scenario.model_copy(update={"title": f"practice {plan.id}: your files, the scenario's traffic"})
    steps: list[StepPlan] = []
    for number, stage in enumerate(fix.stages, 1):
        step = plan.steps[stage.index]
        says = "your configuration under the traffic this fix must survive"
        neutral = step.step.model_copy(update={"name": f"check-{number}", "says": says})
        steps.append(replace(step, step=neutral, knobs={**step.knobs, **knobs}))
    return replace(plan, scenario=scenario, steps=tuple(steps), twin=None)


@dataclass(frozen=True)
class CheckResult:
    outcome: Outcome
    summary: str
    wrong_fix: WrongFix | None = None
    result: ScenarioResult | None = None
    failing: StepResult | None = None  # the first probe that did not pass
    seconds: float = 0.0

    @property
    def answered_by(self) -> str | None:
        """The hop that answered most of the failing requests of the failing probe."""
        if self.failing is None:
            return None
        hops = [r.answered_by for r in self.failing.requests if r.answered_by and (r.record.status or 0) >= 400]
        return max(set(hops), key=hops.count) if hops else None


def check(workspace: Workspace, run: ProbeRunner, tool: ToolRunner | None = None) -> CheckResult:
    """Read, run, judge, and record the attempt. WorkspaceError (recorded as `invalid`) when a file cannot
    be applied; the files are never changed."""
    plan, started = workspace.plan, time.monotonic()
    try:
        knobs = read(workspace, tool)
    except WorkspaceError as exc:
        _record(workspace, CheckResult("invalid", exc.message, seconds=time.monotonic() - started))
        raise
    report = fixes.build(plan)
    changed = changed_keys(plan, knobs)
    result = run(probe_plan(plan, closest_fix(report, changed), knobs))
    failing = next((step for step in result.steps if not step.ok), None)
    seconds = time.monotonic() - started
    if failing is None:
        summary = step_summary(result.steps[-1]) if len(result.steps) == 1 else _all_probes(result)
        outcome = CheckResult("solved", summary, result=result, seconds=seconds)
    else:
        wrong = known_wrong_fix(report, knobs, plan, failing)
        outcome = CheckResult("known-wrong-fix" if wrong else "not-yet", step_summary(failing), wrong, result, failing,
                              seconds)
    _record(workspace, outcome)
    return outcome


def _all_probes(result: ScenarioResult) -> str:
    """Several probes passed: "0 of 3,200 requests failed, in 3 probes"."""
    total = sum(step.outcome.total for step in result.steps)
    return f"0 of {total:,} requests failed, in {len(result.steps)} probes of the fix's traffic"


def step_summary(step: StepResult) -> str:
    """What the client saw, and who answered: "413 ×1, answered by ingress"; "0 of 1000 requests failed"."""
    outcome = step.outcome
    counts = ", ".join(f"{status} ×{count}" for status, count in outcome.outcomes)
    origins = {request.answered_by for request in step.requests if request.answered_by}
    failed = outcome.failed
    traffic = step.plan.traffic
    noun = f"{traffic.method} requests" if isinstance(traffic, LoadTraffic) else "uploads"
    text = f"{failed:,} of {outcome.total:,} {noun} failed ({counts})" if outcome.total > 1 else counts
    failing_origins = {request.answered_by for request in step.requests
                       if request.answered_by and (request.record.status or 0) >= 400}
    if failing_origins:
        text += f", answered by {', '.join(sorted(failing_origins))}"
    elif failed == 0 and origins:
        text += f", answered by {', '.join(sorted(origins))}"
    for check in step.checks[1:]:  # every answer was good, and still a probe failed: the app acted twice
        if failed == 0 and isinstance(check, DuplicatesCheck) and not check.ok:
            text += f"; but the app received {check.duplicated:,} of them twice or more"
        elif failed == 0 and isinstance(check, RepeatedEffectsCheck) and not check.ok:
            text += f"; but the app performed {check.repeated:,} of them twice or more"
    return text


def _record(workspace: Workspace, outcome: CheckResult) -> None:
    state = workspace.state
    state.attempts.append(Attempt(time.time(), outcome.outcome, outcome.summary,
                                  outcome.wrong_fix.step if outcome.wrong_fix else None, round(outcome.seconds, 1),
                                  outcome.answered_by))
    if outcome.outcome == "solved" and state.solved_at is None:
        state.solved_at = time.time()
    workspace.save()


# The brief and the hints ------------------------------------------------------------------------------

def brief(plan: Plan) -> str:
    """What the user saw, never why: the traffic, and the status or failures at the client."""
    step = plan.broken
    expect = step.step.expect
    if expect.status is not None:
        seen = f"they get {expect.status}"
    elif expect.no_response:
        seen = "they get no answer at all"
    elif expect.failures is not None:
        statuses = "/".join(map(str, expect.failure_statuses)) if expect.failure_statuses else "errors"
        seen = f"some of them fail ({statuses})"
    else:
        seen = "it goes wrong"
    return f"Users send {step.traffic.describe(STORY)}, and {seen}."


@dataclass(frozen=True)
class Hint:
    tier: int  # 1-based
    title: str
    text: str


def hint(workspace: Workspace, tier: int | None = None) -> Hint:
    """The next hint tier (or `tier` again); counted in the state."""
    plan = workspace.plan
    number = tier or min(workspace.state.hints + 1, len(HINT_TIERS))
    report = fixes.build(plan)
    fix = report.fixes[0]
    expect = plan.broken.step.expect
    if number == 1:
        last = next((attempt for attempt in reversed(workspace.state.attempts) if attempt.answered_by), None)
        if last is not None:  # what the learner's own files do now, not what the broken ones did
            text = (f"In your last check the failing answers came from {last.answered_by}, not from the app: "
                    f"that hop's config is the one to read now (its error log, in the check's trace, says why).")
        else:
            who = expect.answered_by or "the first hop that fails"
            lines = [log for log in expect.logs if log.hop == who] or list(expect.logs)
            looks = f" Its {lines[0].stream} log has a line about it." if lines else ""
            text = f"The answer comes from {who}, not from the app.{looks} Read that hop's file first."
    elif number == 2:
        where = sorted({f"{change.hop}: {change.knob}" for change in fix.changes})
        text = "The setting(s) to look at: " + "; ".join(where) + "."
    else:
        text = "\n".join(f"{snippet.hop}: {snippet.title}\n{snippet.text.rstrip()}\n" for snippet in fix.snippets)
    workspace.state.hints = max(workspace.state.hints, number)
    workspace.save()
    return Hint(number, HINT_TIERS[number - 1], text)
