"""What every hop kind provides, behind one protocol.

A hop kind is one server (nginx, the ingress-nginx hop, gunicorn, uwsgi, traefik) and everything the
lab knows about it lives in its module: the knob model, the renderer from knobs to the server's own
config, the settings shown to users, the parser of the access line the lab configures, the
recognisers of the server's *default* log formats (for diagnose), the log lines worth showing beside
a trace, how to cut a line down to its message, and the fix export in the server's own syntax.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from faultlab.errors import InputError
from faultlab.units import TimeScale

# A rendered file of this name holds lines the server logs when its config is applied (the ingress
# controller's validation warnings): the stack writes them into the hop's log at the start of each step.
ANNOUNCE_FILE = "announce.log"
ANNOUNCE_TIME = "@@MMDD HH:MM:SS.UUUUUU@@"  # replaced by the UTC time they are written (klog's header format)

# `fix` shows the write-up's real durations, so every exported config is rendered at time scale 1.
STORY = TimeScale.parse("1")


class Knobs(BaseModel):
    """Base of every hop's knob model: unknown names are errors, not silently ignored settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def longest_wait_s(self) -> float:
        """Story seconds this hop may wait before giving up (sizes the client's own timeout)."""
        raise NotImplementedError

    def memory_limit_bytes(self) -> int | None:
        """The container's memory limit (a Kubernetes `resources.limits.memory`), None: none."""
        return None

    def stop_grace_s(self) -> float | None:
        """Story seconds the server gives its requests after SIGTERM before it stops anyway; None: no
        bound of its own (a deploy export then uses Kubernetes' default grace period)."""
        return None


@dataclass(frozen=True)
class RenderContext:
    hop: str
    listen_port: int
    upstream: str | None  # "service:port" of the next hop, None for the last one
    scale: TimeScale
    # The next hop's replicas still in rotation ("container:port"), while one is drained; empty: all of
    # them, by the service name.
    servers: tuple[str, ...] = ()

    def at_story_time(self) -> RenderContext:
        return replace(self, scale=STORY)


@dataclass(frozen=True)
class Setting:
    """One effective setting as the server sees it, for the terminal and the reports."""

    name: str  # in the server's own vocabulary (directive, flag or annotation)
    story: str  # the value in the write-up's units
    lab: str  # what the rendered config really says after the time scale
    explicit: bool  # set by the scenario (False: the server's or ingress-nginx's default)


@dataclass(frozen=True)
class AccessFields:
    """What the lab needs from one access-log line: whose request, what status, passed on or not."""

    request_id: str
    status: int
    forwarded: bool  # the hop passed the request to the next hop (False: it answered by itself)
    # The status the next hop answered, where the line says so beyond doubt (None: it does not, or the
    # hop writes the same status for a failure of its own): the evidence of a next hop that answers a
    # request without logging it (gunicorn refusing a header line logs a warning, no access line).
    upstream_answer: int | None = None


def upstream_tries(value: str) -> list[str]:
    """One value per upstream try of nginx's $upstream_* variables ("502, 200"; " : " between upstream groups)."""
    return [part.strip() for part in value.replace(":", ",").split(",")]


def json_access(text: str, *, request_id: str, status: str, forwarded: str | None = None,
                own_failures: frozenset[int] | None = None) -> AccessFields | None:
    """Parse a JSON access line with the given key names; None for any other line (error logs etc.).
    `forwarded` names the field that is set when the hop passed the request on. With `own_failures`, that
    field is the upstream's status (nginx's "502, 200": the last try's is the answer), except for those
    statuses, which the hop writes there for failures of its own."""
    fields = json_fields(text)
    if fields is None:
        return None
    try:
        upstream = str(fields.get(forwarded, "")) if forwarded is not None else ""
        passed_on = upstream not in ("", "-", "0")
        last = upstream_tries(upstream)[-1]
        answer = int(last) if own_failures is not None and last.isdigit() and int(last) not in own_failures else None
        return AccessFields(str(fields[request_id]), int(fields[status]), passed_on, answer)
    except (ValueError, KeyError, TypeError):
        return None


@lru_cache(maxsize=4096)
def _json_object(text: str) -> Mapping[str, Any] | None:
    try:
        fields = json.loads(text)
    except ValueError:
        return None
    return fields if isinstance(fields, dict) else None


def json_fields(text: str) -> Mapping[str, Any] | None:
    """A log line that is one JSON object, parsed once however many hop kinds look at it."""
    return _json_object(text) if text.startswith("{") else None


@dataclass(frozen=True)
class Snippet:
    """A fix in one server's own syntax."""

    format: str  # the target's name, e.g. "nginx", "ingress" (a HopKind's fix_format)
    hop: str
    title: str  # which file or form, e.g. "gunicorn.conf.py" or "gunicorn command line"
    text: str


# Where the compose files mount the config directory's shared folder (paths.SHARED_CONFIG_DIR) in the
# containers that share files: the app's replicas, and a proxy and its app that talk over a UNIX socket.
SHARED_MOUNT = "/srv/shared"


def unix_socket_path(hop: str) -> str:
    """The UNIX socket a hop listens on, in the shared folder (both sides derive it from the hop's name)."""
    return f"{SHARED_MOUNT}/{hop}.sock"


DEPLOYMENT_FORMAT = "deployment"  # Kubernetes Deployment fragments: a preStop hook, a container's resources
MEMORY_TITLE = "Deployment (apps/v1): the container's memory limit"


def _quantity(n_bytes: int) -> str:
    """Bytes as a Kubernetes quantity: 512Mi, 1Gi, or plain bytes."""
    for suffix, unit in (("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if n_bytes % unit == 0:
            return f"{n_bytes // unit}{suffix}"
    return str(n_bytes)


def memory_limit_snippet(hop: str, before: int | None, after: int | None) -> list[Snippet]:
    """A changed container memory limit, as the Deployment's resources (the lab's docker update)."""
    if after is None or before == after:  # a limit is never lifted (the scenario loader refuses it)
        return []
    quantity = _quantity(after)
    container = {"name": hop, "image": "your-image",
                 "resources": {"requests": {"memory": quantity}, "limits": {"memory": quantity}}}
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": hop},
                "spec": {"selector": {"matchLabels": {"app": hop}},
                         "template": {"metadata": {"labels": {"app": hop}}, "spec": {"containers": [container]}}}}
    return [Snippet(DEPLOYMENT_FORMAT, hop, MEMORY_TITLE,
                    "# Above the limit the kernel's OOM killer kills the container's largest process. The request\n"
                    "# equals the limit, so the scheduler places the pod where that much is free. Merge into your\n"
                    "# Deployment.\n" + yaml.safe_dump(manifest, sort_keys=False))]


def changes(old: Mapping[str, str], new: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """What a fix export shows: the settings `new` sets differently from `old`, and those it no longer
    sets (in `old`'s order)."""
    changed = {name: value for name, value in new.items() if old.get(name) != value}
    return changed, [name for name in old if name not in new]


_MS = re.compile(r"^(\d+)ms$")


def story_duration(text: str) -> str:
    """The renderers write milliseconds (they must survive any time scale); at scale 1 seconds read better."""
    match = _MS.match(text)
    if match and int(match.group(1)) % 1000 == 0:
        return f"{int(match.group(1)) // 1000}s"
    return text


@dataclass(frozen=True)
class ParsedLine:
    """A pasted log line as diagnose reads it."""

    text: str  # the line as pasted (prefixes of `docker compose logs` removed, cut to a bound)
    format: str  # which format was recognised, e.g. "nginx error", "traefik CLF access"; "unknown"
    kinds: frozenset[str]  # hop kinds that may have written it; empty: can't tell
    stream: str | None  # "access" or "error" (the lab's two streams); None for status codes and unknown lines
    statuses: tuple[int, ...] = ()  # HTTP statuses the line reports (an access line's status, pasted codes)
    canonical: str | None = None  # the same event in the lab's configured format, so scenario regexes match
    upstream_scheme: str | None = None  # nginx error lines: `upstream: "uwsgi://…"` → "uwsgi"

    @property
    def known(self) -> bool:
        return self.format != "unknown"

    def texts(self) -> tuple[str, ...]:
        """What a signature's regex is searched in: the line itself and its lab-format twin."""
        return (self.text, self.canonical) if self.canonical else (self.text,)


# A recogniser reads one line of a server's default format (or the lab's JSON access format); None: not its format.
Recogniser = Callable[[str], ParsedLine | None]


class HopKind(Protocol):
    # Read-only members: each kind's class says them as plain class attributes.
    @property
    def name(self) -> str:
        """The kind a topology names, e.g. "ingress-nginx"."""
        ...

    @property
    def family(self) -> str:
        """Kinds of one family write the same log lines (nginx and the ingress hop)."""
        ...

    @property
    def runs_app(self) -> bool:
        """An app server: Python tracebacks in a paste may be its."""
        ...

    @property
    def reload_signal(self) -> str | None:
        """The signal that makes it re-read its config without dropping a connection; None: it cannot,
        so the lab cannot drain a replica behind it."""
        ...

    @property
    def fix_format(self) -> str:
        """The target name of its fix export (`ingress` for the ingress hop)."""
        ...

    @property
    def knobs(self) -> type[Knobs]: ...

    @property
    def notable(self) -> re.Pattern[str]:
        """Error-stream lines worth showing beside a failing request's trace."""
        ...

    @property
    def recognisers(self) -> tuple[Recogniser, ...]:
        """Its server's default log formats (and the lab's JSON access line), for diagnose."""
        ...

    def parse_access(self, text: str) -> AccessFields | None:
        """The hop's access-log line as the lab configures it; None for every other line."""
        ...

    def render(self, knobs: Any, ctx: RenderContext) -> dict[str, str]:
        """File name -> content, written into the hop's config directory."""
        ...

    def settings(self, knobs: Any, ctx: RenderContext) -> list[Setting]: ...

    def message(self, text: str) -> str:
        """The message of one of its log lines, without the server's own prefix (time, pid, caller)."""
        ...

    def upstream_scheme(self, knobs: Any) -> str | None:
        """How it talks to the next hop, as nginx's error lines name it (`upstream: "uwsgi://…"`); None for
        a kind whose lines do not say."""
        ...

    def export(self, ctx: RenderContext, before: Any, after: Any) -> list[Snippet]:
        """What differs between two knob sets, in the server's own syntax, at story time."""
        ...


class NamesNoUpstream:
    """For kinds whose lines name no upstream scheme (all but nginx and the ingress hop)."""

    @staticmethod
    def upstream_scheme(knobs: Knobs) -> None:
        return None


class AppServerAccess(NamesNoUpstream):
    """The app servers' lab access line: JSON with `request_id` and `status` (gunicorn's format, uwsgi's,
    and the ASGI wrapper's behind uvicorn); they pass nothing on."""

    @staticmethod
    def parse_access(text: str) -> AccessFields | None:
        return json_access(text, request_id="request_id", status="status")


# nginx's `combined` and gunicorn's default access format are the same; ingress-nginx and traefik append fields.
COMBINED = re.compile(r'^(?P<addr>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" '
                      r'(?P<status>\d{3}) (?P<bytes>\d+|-)(?: "(?P<referer>[^"]*)" "(?P<agent>[^"]*)")?(?P<rest>.*)$')


@dataclass(frozen=True)
class CombinedLine:
    status: int
    method: str
    uri: str
    rest: str  # what a server appends to `combined` (ingress-nginx's upstream fields, traefik's router)


def combined(text: str) -> CombinedLine | None:
    match = COMBINED.match(text)
    if not match:
        return None
    method, _, rest = match["request"].partition(" ")
    uri = rest.rsplit(" ", 1)[0] if " " in rest else rest
    return CombinedLine(int(match["status"]), method, uri, match["rest"])


def compact_json(fields: Mapping[str, Any]) -> str:
    return json.dumps(fields, separators=(",", ":"))


def lab_json_recogniser(marker: str, kinds: frozenset[str], status_key: str = "status") -> Recogniser:
    """The recogniser of a hop kind's lab JSON access line: the key only that kind's format has (`marker`)
    tells it apart; the status is under `status_key`."""
    def recognise(text: str) -> ParsedLine | None:
        fields = json_fields(text)
        if fields is None or marker not in fields:
            return None
        status = http_status(fields.get(status_key))
        return ParsedLine(text, "JSON access", kinds, "access", (status,) if status is not None else ())

    return recognise


def http_status(value: object) -> int | None:
    """A status field's value as an HTTP status, None when it is not one."""
    try:
        status = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return status if 100 <= status <= 599 else None


# Practice mode -------------------------------------------------------------------------------------

class WorkspaceError(InputError):
    """A learner's file that cannot be applied: it does not parse, the server refuses it, or it changes
    something the lab cannot run. The message names the file (and line) and says why."""

    exit_code = 1  # a learning moment, not a usage error: `practice check` says "not yet"


K = TypeVar("K", bound=Knobs)


@dataclass(frozen=True)
class ToolCheck:
    """A server's own check of a config file, run in the lab's image: the image, the file, the command
    ({file}: the file's path where the command runs; {apps}: the lab's apps, for a check that imports one)."""

    image: str
    file: str
    command: tuple[str, ...]
    noise: tuple[str, ...] = ()  # lines with these words say nothing to a learner ("test failed")


@runtime_checkable
class WorkspaceKind(Protocol):
    """A hop kind whose config a learner edits in practice mode: the files a user has at work, at story
    time, and the reader that turns the edited files back into knobs. Reading back through the knobs
    keeps one path from config to containers: the lab renders what it runs from the knobs, and the reader
    proves, by rendering them again, that they say exactly what the learner's file says."""

    @property
    def readable(self) -> frozenset[str]:
        """The knobs its files can change (a fix of any other knob cannot be practised)."""
        ...

    @property
    def tool_check(self) -> ToolCheck | None:
        """How its server checks a file on its own (nginx -t), whose words a learner then reads; None: none."""
        ...

    def workspace(self, knobs: Any, ctx: RenderContext) -> dict[str, str]:
        """File name -> content, at story time (ctx.scale is 1)."""
        ...

    def read_workspace(self, directory: Path, base: Any, ctx: RenderContext) -> Knobs:
        """The knobs the files in `directory` say, starting from `base` (what the workspace began with);
        WorkspaceError when they cannot be read or say something the lab cannot run."""
        ...


def workspace_file(directory: Path, name: str, hop: str) -> tuple[str, str]:
    """(the name a learner knows it by, its text) of one of a hop's workspace files, or WorkspaceError."""
    shown = f"{hop}/{name}"
    path = directory / name
    if not path.is_file():
        raise WorkspaceError(f"{shown} is missing", tip="`{prog} practice reset` writes the files again")
    try:
        return shown, path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"{shown}: cannot be read ({exc})") from None


def validated(knobs_type: type[K], data: dict[str, Any], shown: str) -> K:
    """The knobs a learner's file says, checked by the hop's model: its words are the error."""
    try:
        return knobs_type.model_validate(data)
    except ValidationError as exc:
        raise WorkspaceError(f"{shown}: {validation_message(exc)}") from None


def validation_message(exc: Exception) -> str:
    """A pydantic ValidationError as one line per problem (without pydantic's links)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    lines = []
    for error in errors():
        where = ".".join(str(part) for part in error.get("loc", ()))
        text = str(error.get("msg", "")).removeprefix("Value error, ")
        lines.append(f"{where}: {text}" if where else text)
    return "; ".join(lines)


def first_difference(mine: Any, theirs: Any, path: str = "") -> str | None:
    """The first path (`a.b[0].c`) where two parsed documents differ; None: they are equal."""
    if isinstance(mine, dict) and isinstance(theirs, dict):
        for key in [*mine, *(key for key in theirs if key not in mine)]:
            where = f"{path}.{key}" if path else str(key)
            if key not in mine or key not in theirs:
                return where
            found = first_difference(mine[key], theirs[key], where)
            if found is not None:
                return found
        return None
    if isinstance(mine, list) and isinstance(theirs, list):
        for index, (one, other) in enumerate(zip(mine, theirs, strict=False)):
            found = first_difference(one, other, f"{path}[{index}]")
            if found is not None:
                return found
        return None if len(mine) == len(theirs) else f"{path}[{min(len(mine), len(theirs))}]"
    return None if mine == theirs else path or "(the whole file)"
