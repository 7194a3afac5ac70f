"""Scenario files: load, validate (against the schema and the topology), and plan the steps.

A scenario is data. Its knobs are story values per hop; each step changes some of them and says
what a user should see. `load()` checks everything a run would trip over — field names and types,
hop names, each step's merged knobs against that hop kind's model, log patterns — and names the
file and field of the first problem.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from faultlab import yamlfile
from faultlab.errors import InputError
from faultlab.hops import HOP_KINDS, Knobs
from faultlab.model.catalogue import available as available  # re-exported: the ids a load accepts
from faultlab.model.catalogue import resolve
from faultlab.model.plan import Plan, StepPlan
from faultlab.model.topology import Topology, load_topology
from faultlab.units import Duration, Scale, Size, TimeScale, format_duration, format_size

_SLUG = r"^[a-z0-9][a-z0-9-]*$"
# Headers the lab's clients write themselves: a scenario that sets one would break the request id or the framing.
MAX_HEADER_BYTES = 1 << 20
MANAGED_HEADERS = frozenset({"x-request-id", "content-length", "transfer-encoding", "connection", "host"})
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Model):
    seed: str  # which write-up (see ../shared/SCENARIOS.md)
    section: str


def _compiles(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return value


class Variant(_Model):
    """The same event as another server version, setup or log pipeline writes it, as a public thread shows
    it (diagnose reads it; the lab's runs are judged on `match` alone)."""

    match: str
    source: str = Field(pattern=r"^https://")  # the thread the wording comes from

    @field_validator("match")
    @classmethod
    def _regex(cls, value: str) -> str:
        return _compiles(value)


class LogSignature(_Model):
    hop: str
    match: str  # a regular expression searched in the hop's log lines of this step
    stream: Literal["access", "error", "any"] = "any"
    variants: list[Variant] = []  # real-world wordings of the same event, for diagnose

    @field_validator("match")
    @classmethod
    def _regex(cls, value: str) -> str:
        return _compiles(value)


class CountRange(_Model):
    min: int = Field(0, ge=0)
    max: int | None = Field(None, ge=0)

    def admits(self, count: int) -> bool:
        return count >= self.min and (self.max is None or count <= self.max)

    def __str__(self) -> str:
        if self.max is None:
            return f"≥ {self.min}"
        return f"{self.min}" if self.min == self.max else f"{self.min}–{self.max}"


class Expect(_Model):
    """What a user should see. `status` judges every request; for load, `failures` counts the
    requests without a 2xx answer (no response at all included) and `failure_statuses` says which
    statuses those may be. `answered_by` is judged on the requests that `status` or `failures` covers."""

    status: int | None = Field(None, ge=100, le=599)
    no_response: bool = False  # every request ended without an HTTP answer (e.g. the client gave up)
    failures: CountRange | None = None
    failure_statuses: list[int] = []
    answered_by: str | None = None  # the hop that produced the status (from the hop trace)
    logs: list[LogSignature] = []
    response_matches_upload: bool = False  # the app's byte count and sha256 equal what was sent
    # Requests the app handled more than once (a proxy replayed them), from the app's arrival lines:
    # e.g. {max: 0} for a retry that must be harmless, {min: 1} for one that places an order twice.
    duplicates: CountRange | None = None
    # Requests whose side effect the app performed more than once (an order placed twice): a replay with
    # the same Idempotency-Key arrives twice but is performed once.
    repeated_effects: CountRange | None = None

    @model_validator(mode="after")
    def _something_to_judge(self) -> Expect:
        if sum((self.status is not None, self.no_response, self.failures is not None)) != 1:
            raise ValueError("give exactly one of `status`, `no_response: true` or `failures`")
        return self


class Action(_Model):
    """Something done to the stack while a step's traffic runs, `at` story seconds after it starts: a
    signal to one replica (TERM, as a deploy sends), starting or restarting its container, or taking it
    out of the rotation of the proxy in front and putting it back (`drain`, `rejoin`: that proxy's
    upstream list rendered again and reloaded, the lab's readiness flip), or `replace`: the replica's
    container stopped, its address given to another container, and started again on a new one (a pod
    deleted and recreated, its old IP now another pod's)."""

    at: Annotated[Duration, Field(ge=0)]
    do: Literal["signal", "start", "restart", "drain", "rejoin", "replace"]
    hop: str
    replica: int = Field(1, ge=1, le=8)  # the container number: 1 is the service's first replica
    signal: Literal["TERM", "KILL", "INT", "QUIT", "HUP", "USR1", "USR2"] | None = None  # do: signal (TERM)

    @model_validator(mode="after")
    def _signal_for_signal(self) -> Action:
        if self.signal is not None and self.do != "signal":
            raise ValueError(f"`signal` goes with `do: signal`, not `do: {self.do}`")
        return self

    @property
    def sent_signal(self) -> str:
        return self.signal or "TERM"

    def describe(self) -> str:
        target = f"{self.hop} #{self.replica}"
        match self.do:
            case "signal":
                return f"SIG{self.sent_signal} to {target}"
            case "drain":
                return f"drain {target} (out of the rotation of the proxy in front)"
            case "rejoin":
                return f"rejoin {target} (back into the rotation of the proxy in front)"
            case "replace":
                return f"replace {target} (a new container on a new address; the old one now another's)"
            case _:
                return f"{self.do} {target}"


class Step(_Model):
    name: str = Field(pattern=_SLUG)
    # What the step is in the story: the failure, a tempting change that does not help, the fix, or
    # another view of the same system (a bypass, a control). `fix` and `explain` read it.
    role: Literal["broken", "wrong-fix", "fix", "variant"] = "variant"
    says: str  # one line for the terminal: what this step does
    # A wrong fix's lesson: why it does not work, in a sentence. Practice mode shows it when a learner's
    # change is this wrong fix (else it shows `says`).
    lesson: str = ""
    # Knobs changed from the previous step (they carry on); null unsets one (back to its default).
    change: dict[str, dict[str, Any]] = {}
    traffic: dict[str, Any] = {}  # overrides the scenario's traffic for this step only (replaces it with a `kind`)
    # The step's own time scale, for a story that needs minutes of quiet in a real-time scenario
    # (keep-alive idle timeouts under bursty traffic): its knobs and traffic stay in story time.
    time_scale: Scale | None = None
    # Done while the traffic runs, in the order of `at` (a deploy: drain, TERM, start, rejoin).
    actions: list[Action] = []
    tells_apart: str = ""  # this failing step's clue beyond its logs (else the scenario's; see Scenario)
    expect: Expect
    twin: Expect | None = None  # what the same step shows on the scenario's twin topology (see Twin)
    # On a twin scenario: what makes the twin behave like the first topology here, or why nothing does;
    # the comparison table shows it beside the verdict.
    twin_fix: str = ""


class SlowShare(_Model):
    """A dependency that is slow now and then: `share` of the requests' first arrivals at the app (an
    exact share of any run of them, from a random start) take `work` instead of `app_work`; a replay of
    a request is slow with probability `share`, drawn anew."""

    share: float = Field(gt=0, le=1)
    work: Duration


class Pause(_Model):
    """Idle time between two batches, drawn uniformly from [min, max] (story time) for every gap."""

    min: Duration
    max: Duration

    @model_validator(mode="after")
    def _ordered(self) -> Pause:
        if self.max < self.min:
            raise ValueError(f"max ({format_duration(self.max)}) is below min ({format_duration(self.min)})")
        return self


class _TrafficBase(_Model):
    target: str | None = None  # the hop the client talks to (default: the first of the chain)
    app_work: Duration = 0.0  # story time the app spends on each request (its `work_s` parameter)
    app_slow: SlowShare | None = None  # some requests take longer (the app's `slow_share`, `slow_s`)
    headers: dict[str, str] = {}
    header_sizes: dict[str, Size] = {}  # headers filled to a size, e.g. {Cookie: 6KiB} (a big cookie)

    @field_validator("header_sizes")
    @classmethod
    def _bounded_headers(cls, value: dict[str, int]) -> dict[str, int]:
        # Every client builds the header in memory for every request: a size of gigabytes is a typo.
        if sum(value.values()) > MAX_HEADER_BYTES:
            raise ValueError(f"headers of {format_size(sum(value.values()))} in all; the lab sends at most "
                             f"{format_size(MAX_HEADER_BYTES)} of headers (servers refuse far less: nginx 8 KiB "
                             "a line by default)")
        return value

    @field_validator("headers", "header_sizes")
    @classmethod
    def _headers(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if name.lower() in MANAGED_HEADERS:
                raise ValueError(f"{name}: the lab's clients set this header themselves (X-Request-ID on every "
                                 "request; Content-Length, Transfer-Encoding and Connection from `transfer` and "
                                 "`keepalive`)")
            if not _TOKEN.match(name):
                raise ValueError(f"{name!r} is not an HTTP header name")
        for name, text in value.items():
            if isinstance(text, str) and ("\r" in text or "\n" in text):
                raise ValueError(f"{name}: a header value cannot hold a line break")
        return value

    def all_headers(self) -> dict[str, str]:
        padded = {name: "x" * size for name, size in self.header_sizes.items()}
        return {**self.headers, **padded}


class UploadTraffic(_TrafficBase):
    """Streamed uploads, one after another, generated on the fly."""

    kind: Literal["upload"]
    path: str = "/upload"
    size: Annotated[Size, Field(gt=0)]
    transfer: Literal["content-length", "chunked"] = "content-length"
    requests: int = Field(1, ge=1, le=100)

    def describe(self, scale: TimeScale) -> str:
        return (f"{self.requests} × {format_size(self.size)} upload ({self.transfer}) to {self.path}"
                f"{_at(self.target)}{_work(self.app_work, scale, 'after the body', self.app_slow)}")


class LoadTraffic(_TrafficBase):
    """`ab`-style load: `requests` requests, `concurrency` at a time (ab's -n and -c)."""

    kind: Literal["load"]
    method: Literal["GET", "POST", "PUT", "DELETE"] = "GET"
    path: str = "/"
    body: str = ""  # sent as is, with a Content-Length (ab -p)
    content_type: str | None = None  # ab -T
    concurrency: int = Field(1, ge=1, le=1000)
    requests: int = Field(1, ge=1, le=100_000)
    keepalive: bool = False  # ab -k
    # Each request carries an Idempotency-Key header, a new key per request (its X-Request-ID), as an API
    # client does; a proxy's replay carries the same one.
    idempotency_key: bool = False
    give_up_after: Duration | None = None  # an impatient client (curl -m): story seconds
    # A race shows up in some batches and not others: send up to `batches` loads, stopping early
    # once the failures decide the step (its `failures.min` reached, or its `failures.max` exceeded).
    batches: int = Field(1, ge=1, le=200)
    # Quiet time between batches: keep-alive connections sit idle in the proxy's pool for that long
    # (bursts of traffic with gaps between them, e.g. gaps near the app server's idle timeout).
    pause: Pause | None = None

    @model_validator(mode="after")
    def _one_idempotency_key(self) -> LoadTraffic:
        if self.idempotency_key and any(name.lower() == "idempotency-key" for name in self.headers):
            raise ValueError("headers.Idempotency-Key: with `idempotency_key: true` the client sends a new key "
                             "per request itself")
        return self

    def describe(self, scale: TimeScale) -> str:
        flags = f"-c {self.concurrency} -n {self.requests}{' -k' if self.keepalive else ''}"
        body = f" with a {len(self.body.encode())} B {self.content_type or ''} body" if self.body else ""
        patience = (f", the client gives up after {_span(self.give_up_after, scale)}"
                    if self.give_up_after else "")
        batches = f", up to {self.batches} batches" if self.batches > 1 else ""
        if self.batches > 1 and self.pause is not None:
            gap = _span(self.pause.min, scale, self.pause.max)
            batches = f", up to {self.batches} bursts {gap} apart"
        body += ", each with its own Idempotency-Key" if self.idempotency_key else ""
        return (f"ab {flags}: {self.method} {self.path}{body}{_at(self.target)}{batches}"
                f"{_work(self.app_work, scale, 'per request', self.app_slow)}{patience}")


def _span(low: float, scale: TimeScale, high: float | None = None) -> str:
    """A story duration (or range) and, unless the scale is 1, what the lab waits: "60s (story) = 2s (lab)"."""
    def text(story_s: float, high_s: float | None) -> str:
        return format_duration(story_s) + (f"–{format_duration(high_s)}" if high_s not in (None, story_s) else "")

    story = text(low, high)
    if scale.ratio == 1:
        return story
    return f"{story} (story) = {text(scale.lab_s(low), scale.lab_s(high) if high is not None else None)} (lab)"


def _at(target: str | None) -> str:
    return f", sent straight to {target}" if target else ""


def _work(story_s: float, scale: TimeScale, when: str, slow: SlowShare | None = None) -> str:
    if not story_s and slow is None:
        return ""
    share = f" ({slow.share:.0%} of requests {_span(slow.work, scale)}, replays drawn)" if slow is not None else ""
    return f", app works {_span(story_s, scale)} {when}{share}"


Traffic = Annotated[UploadTraffic | LoadTraffic, Field(discriminator="kind")]


class Contradiction(_Model):
    """A line that rules the scenario out (diagnose ranks it below every cause not ruled out)."""

    match: str
    why: str  # shown beside the cause

    @field_validator("match")
    @classmethod
    def _regex(cls, value: str) -> str:
        return _compiles(value)


class Twin(_Model):
    """The same scenario on a second topology whose hops have the same names, one of them of another
    kind (the Ingress through traefik's ingress-nginx provider instead of ingress-nginx): every step runs
    on both with the same knobs and traffic, and its `twin` says what the second one shows."""

    topology: str
    label: str  # what the second topology is, for the tables, e.g. "traefik 3.7 (kubernetesIngressNGINX)"
    label_first: str  # and the first, e.g. "ingress-nginx"


class Scenario(_Model):
    id: str = Field(pattern=_SLUG)
    title: str
    source: Source
    topology: str
    time_scale: Scale = TimeScale.parse("1")
    summary: str
    notes: str = ""
    knobs: dict[str, dict[str, Any]] = {}
    traffic: Traffic
    steps: list[Step] = Field(min_length=1)
    # A journey replays single scenarios on the same chain: diagnose shows their shared evidence once.
    replays: list[Annotated[str, Field(pattern=_SLUG)]] = []
    # What tells this cause from others whose failing steps log the same lines (diagnose's differential):
    # where to look beyond the logs, e.g. "the address in nginx's upstream: field is not the app's".
    tells_apart: str = ""
    contradicted_by: list[Contradiction] = []
    # A special case of these scenarios' cause (a stale address is one way nobody listens there): on the
    # same evidence diagnose names the general cause first and this one beside it.
    refines: list[Annotated[str, Field(pattern=_SLUG)]] = []
    # nginx upstream schemes (`upstream: "…://"`) whose lines this cause explains besides its chain's own,
    # where the failure comes before any protocol is spoken (a refused connect).
    upstream_schemes: list[Literal["http", "https", "uwsgi", "fastcgi", "grpc"]] = []
    twin: Twin | None = None
    # Practice mode (`practice start`) offers every scenario with a fix whose hops a learner can edit;
    # false takes this one out (e.g. a fix that is an order of actions, not a file).
    practice: bool = True

    @model_validator(mode="after")
    def _twin_everywhere(self) -> Scenario:
        missing = [step.name for step in self.steps if (step.twin is None) != (self.twin is None)]
        if missing and self.twin is not None:
            raise ValueError(f"with a `twin` topology every step says what it shows there (`twin:`); "
                             f"these do not: {', '.join(missing)}")
        if missing:
            raise ValueError(f"steps {', '.join(missing)} have a `twin` expectation, but the scenario has no `twin`")
        stray = [step.name for step in self.steps if step.twin_fix and self.twin is None]
        if stray:
            raise ValueError(f"steps {', '.join(stray)} have a `twin_fix`, but the scenario has no `twin`")
        return self


_TRAFFIC: TypeAdapter[UploadTraffic | LoadTraffic] = TypeAdapter(Traffic)


def load(id_or_path: str, *, time_scale: TimeScale | None = None) -> Plan:
    """Load and validate a scenario (an id from scenarios/ or a file path); `time_scale` overrides the file's."""
    path = resolve(id_or_path)
    return from_document(yamlfile.read(path, "scenario file"), path, time_scale=time_scale)


def from_document(document: object, path: Path, *, time_scale: TimeScale | None = None) -> Plan:
    """A scenario given as data (what a scenario file holds; `path` names it in messages)."""
    if not isinstance(document, dict):
        raise InputError(f"{path}: a scenario file is a YAML mapping (id, title, steps, …)")
    try:
        scenario = Scenario.model_validate(document)
    except ValidationError as exc:
        raise InputError(f"{path}: {_first_error(exc, document)}") from None
    scale = time_scale if time_scale is not None else scenario.time_scale
    try:
        topology = load_topology(scenario.topology)
    except InputError as exc:
        raise InputError(f"{path}: topology: {exc.message}", tip=exc.tip) from None
    steps = _plan_steps(scenario, document, path, topology, scale, overridden=time_scale is not None)
    return Plan(scenario, path, topology, scale, steps, _twin(scenario, document, path, topology, scale,
                                                               overridden=time_scale is not None))


def _twin(scenario: Scenario, document: dict[str, Any], path: Path, topology: Topology, scale: TimeScale,
          *, overridden: bool) -> Plan | None:
    """The scenario on its twin topology: the same steps, knobs and traffic, judged by each step's `twin`."""
    if scenario.twin is None:
        return None
    try:
        other = load_topology(scenario.twin.topology)
    except InputError as exc:
        raise InputError(f"{path}: twin.topology: {exc.message}", tip=exc.tip) from None
    if other.hop_names != topology.hop_names:
        raise InputError(f"{path}: twin.topology: {other.name!r} has the hops {', '.join(other.hop_names)}; "
                         f"the twin of {topology.name!r} needs the same names ({', '.join(topology.hop_names)})")
    steps = [step.model_copy(update={"expect": step.twin, "twin": None}) for step in scenario.steps]
    twin = scenario.model_copy(update={"topology": other.name, "steps": steps, "twin": None,
                                       "title": f"{scenario.title} [{scenario.twin.label}]"})
    return Plan(twin, path, other, scale, _plan_steps(twin, document, path, other, scale, overridden=overridden))


def _plan_steps(scenario: Scenario, document: dict[str, Any], path: Path, topology: Topology,
                scale: TimeScale, *, overridden: bool) -> tuple[StepPlan, ...]:
    """Each step's knobs, traffic and scale; a time scale given by the caller (`--time-scale`) wins
    over a step's own, as over the file's."""
    hops = topology.hop_names

    def check_hop(name: str | None, where: str) -> None:
        if name is not None and name not in hops:
            close = difflib.get_close_matches(name, hops, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(f"{path}: {where}: no hop {name!r} in topology {topology.name!r}{hint}; "
                             f"its hops are {', '.join(hops)}")

    for hop_name in scenario.knobs:
        check_hop(hop_name, f"knobs.{hop_name}")
    raw: dict[str, dict[str, Any]] = {hop: dict(scenario.knobs.get(hop, {})) for hop in hops}
    previous: dict[str, Knobs] = {}
    plans = []
    for index, step in enumerate(scenario.steps):
        where = f"steps[{index}] ({step.name})"
        for hop_name, change in step.change.items():
            check_hop(hop_name, f"{where}.change.{hop_name}")
            raw[hop_name] = _merge(raw[hop_name], change)
        check_hop(step.expect.answered_by, f"{where}.expect.answered_by")
        for signature in step.expect.logs:
            check_hop(signature.hop, f"{where}.expect.logs")
        knobs: dict[str, Knobs] = {}
        for hop in topology.hops:
            model = HOP_KINDS[hop.kind].knobs
            try:
                knobs[hop.name] = model.model_validate(raw[hop.name])
            except ValidationError as exc:
                origin = "knobs" if index == 0 and hop.name not in step.change else f"{where}.change"
                raise InputError(f"{path}: {origin}.{hop.name} ({hop.kind}): {_first_error(exc)}") from None
        try:
            # Merged as written in the file: a value goes through its validator once, never through the display form.
            # A step's traffic of another kind (a GET load in an upload scenario) replaces the scenario's.
            kind = step.traffic.get("kind")
            base = {} if kind is not None and kind != document["traffic"].get("kind") else document["traffic"]
            traffic = _TRAFFIC.validate_python(_merge(base, step.traffic))
        except ValidationError as exc:
            raise InputError(f"{path}: {where}.traffic: {_first_error(exc)}") from None
        check_hop(traffic.target, f"{where}.traffic.target")
        for number, action in enumerate(step.actions):
            check_hop(action.hop, f"{where}.actions[{number}]")
            _check_action(action, topology, f"{path}: {where}.actions[{number}]")
        lifted = [hop for hop in hops if previous and previous[hop].memory_limit_bytes() is not None
                  and knobs[hop].memory_limit_bytes() is None]
        if lifted:
            raise InputError(f"{path}: {where}.change.{lifted[0]}: the memory limit of an earlier step cannot be "
                             "lifted (Docker cannot update a running container to unlimited)",
                             tip="give a larger memory_limit instead")
        changed = tuple(hop for hop in hops if previous and knobs[hop] != previous[hop])
        step_scale = step.time_scale if step.time_scale is not None and not overridden else scale
        plans.append(StepPlan(index, step, knobs, traffic, changed, step_scale))
        previous = knobs
    names = [plan.step.name for plan in plans]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise InputError(f"{path}: step names must be unique; repeated: {', '.join(sorted(duplicates))}")
    return tuple(plans)


def _check_action(action: Action, topology: Topology, where: str) -> None:
    hop = topology.hop(action.hop)
    if action.replica > hop.replicas:
        raise InputError(f"{where}: hop {hop.name!r} runs {hop.replicas} replica(s), there is no replica "
                         f"{action.replica}", tip="a hop's replicas are its compose service's deploy.replicas")
    if action.do in ("drain", "rejoin"):
        index = topology.hop_names.index(hop.name)
        front = topology.hops[index - 1] if index > 0 else None
        if front is None or HOP_KINDS[front.kind].reload_signal is None:
            raise InputError(f"{where}: `do: {action.do}` needs a proxy in front of {hop.name!r} that reloads "
                             "its upstream list (nginx or ingress-nginx)")
        if hop.replicas < 2:
            raise InputError(f"{where}: draining the only replica of {hop.name!r} leaves its proxy no server")


def _merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """`base` with `change` applied; a null in `change` unsets (the knob goes back to the server's default,
    an annotation is removed), so a step can undo what an earlier one tried without naming a value."""
    merged = dict(base)
    for key, value in change.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _first_error(exc: ValidationError, document: object = None) -> str:
    error = exc.errors()[0]
    location = _location(error["loc"], document)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    elif error["type"] == "missing":
        message = "missing (required)"
    elif error["type"] == "union_tag_not_found":
        message = f"missing `{error['ctx']['discriminator'].strip(chr(39))}` (required)"
    elif error["type"] == "string_pattern_mismatch":
        message = "use lowercase letters, digits and dashes, e.g. 'my-scenario'"
    return f"{location}: {message}" if location else message


def _location(loc: tuple[Any, ...], document: object) -> str:
    parts: list[str] = []
    node = document
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
            name = node[item].get("name") if isinstance(node, list) and isinstance(node[item], dict) else None
            if name and parts[-2:-1] == ["steps"]:
                parts[-1] += f" ({name})"
        else:
            parts.append(("." if parts else "") + str(item))
        try:
            node = node[item]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            node = None
    return "".join(parts)
