"""traefik v3: knobs under traefik's own option names, rendered as static and dynamic YAML.

Names map to traefik v3's paths: maxIdleConnsPerHost, dialTimeout, responseHeaderTimeout and
idleConnTimeout live under `serversTransport` (forwardingTimeouts); readTimeout, writeTimeout and
idleTimeout under the entry point's `transport.respondingTimeouts`; retryAttempts adds the retry
middleware. traefik 1.7's flags in the write-up (--maxidleconnsperhost, --retry.attempts,
--respondingtimeouts.*, --forwardingtimeouts.*) are the same settings under older names.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field

from faultlab import yamlfile
from faultlab.errors import InputError
from faultlab.hops.base import (
    AccessFields,
    Knobs,
    NamesNoUpstream,
    ParsedLine,
    RenderContext,
    Setting,
    Snippet,
    WorkspaceError,
    combined,
    compact_json,
    first_difference,
    json_access,
    json_fields,
    lab_json_recogniser,
    story_duration,
    validated,
)
from faultlab.units import Duration, format_duration

HEALTH_PORT = 9901
# Go durations; traefik v3's documented defaults.
FORWARDING = ("dialTimeout", "responseHeaderTimeout", "idleConnTimeout")
RESPONDING = ("readTimeout", "writeTimeout", "idleTimeout")


# traefik's logs as the lab reads them: DEBUG for the Go error behind a 5xx and its retries, the access log in
# JSON with the lab's request id (the evidence's join key).
LOGS = """log:
  level: DEBUG
  noColor: true
accessLog:
  format: json
  fields:
    headers:
      defaultMode: drop
      names:
        X-Request-Id: keep
"""

class TraefikKnobs(Knobs):
    maxIdleConnsPerHost: int = 200  # noqa: N815 - traefik's own name; negative: no idle reuse at all
    dialTimeout: Duration = 30.0  # noqa: N815
    responseHeaderTimeout: Duration = 0.0  # noqa: N815 - 0: wait for ever
    idleConnTimeout: Duration = 90.0  # noqa: N815
    readTimeout: Duration = 60.0  # noqa: N815
    writeTimeout: Duration = 0.0  # noqa: N815
    idleTimeout: Duration = 180.0  # noqa: N815
    retryAttempts: int = Field(0, ge=0, le=50)  # noqa: N815 - 0: no retry middleware
    # The retry middleware's `status` (retry on these response statuses, e.g. ["502"]) and
    # `retryNonIdempotentMethod` (let status retries replay POST, PATCH, LOCK too); traefik v3.7's names.
    retryStatus: list[str] = []  # noqa: N815
    retryNonIdempotentMethod: bool = False  # noqa: N815

    def longest_wait_s(self) -> float:
        return max(self.responseHeaderTimeout, self.readTimeout, self.dialTimeout)


def _go(seconds: float, ctx: RenderContext) -> str:
    # 0 means "no limit" to traefik, and must stay 0 whatever the scale.
    return "0s" if seconds == 0 else f"{max(1, round(ctx.scale.lab_s(seconds) * 1000))}ms"


# Default formats, for diagnose: its access log as CLF or JSON, its own log as v3 text (zerolog), v2/1.7
# logrus text, or JSON ------------------------------------------------------------------------------

_KINDS = frozenset({"traefik"})
_V3_TEXT = re.compile(r"^\d{4}-\d\d-\d\dT\S+ (?:TRC|DBG|INF|WRN|ERR|FTL|PNC) ")
_LOGRUS = re.compile(r'^(?:time="[^"]*" )?level=\w+ msg=(?:"(?P<msg>(?:[^"\\]|\\.)*)"|(?P<bare>\S*))')
# traefik v2 and 1.7 name the status and the Go error behind a proxy failure this way (v3: "502 Bad Gateway error=EOF").
_CAUSED_BY = re.compile(r"'(?P<status>[1-5]\d\d) (?P<reason>[^']*)' caused by: (?P<error>.*)$")
_CLF_TAIL = re.compile(r'^ (?P<count>\d+) "(?P<router>[^"]*)" "(?P<url>[^"]*)" (?P<ms>\d+)ms\s*$')
# v3's text log: "<time> DBG github.com/traefik/traefik/v3/pkg/proxy/httputil/proxy.go:199 > 502 Bad Gateway …"
_V3_PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT\S+ \w{3} (?:\S+ > )?")
NOTABLE = re.compile(r"\berror=|closed idle connection")


recognise_lab_json = lab_json_recogniser("DownstreamStatus", _KINDS, "DownstreamStatus")


def recognise_json_log(text: str) -> ParsedLine | None:
    fields = json_fields(text)
    if fields is None or "level" not in fields or not ("msg" in fields or "message" in fields):
        return None
    return _proxy_error(text, "traefik JSON log", str(fields.get("message") or fields.get("msg") or ""),
                        fields.get("error"))


def recognise_clf(text: str) -> ParsedLine | None:
    line = combined(text)
    tail = _CLF_TAIL.match(line.rest) if line else None
    if line is None or tail is None:
        return None
    canonical = compact_json({"DownstreamStatus": line.status, "RequestMethod": line.method, "RequestPath": line.uri,
                              "ServiceURL": "" if tail["url"] == "-" else tail["url"]})
    return ParsedLine(text, "traefik CLF access", _KINDS, "access", (line.status,), canonical)


def recognise_text(text: str) -> ParsedLine | None:
    if _V3_TEXT.match(text):
        # v3 (zerolog): "<time> DBG <caller> > 502 Bad Gateway error=EOF" — already the scenarios' wording.
        status = re.search(r" > ([1-5]\d\d) [A-Z]", text)
        return ParsedLine(text, "traefik v3 log", _KINDS, "error", (int(status[1]),) if status else ())
    logrus = _LOGRUS.match(text)
    if logrus:
        message = (logrus["msg"] or "").replace('\\"', '"').replace("\\\\", "\\") or logrus["bare"] or ""
        return _proxy_error(text, "traefik v2/1.7 log", message)
    if _CAUSED_BY.search(text):
        return _proxy_error(text, "traefik 1.7 log", text)
    return None


def _proxy_error(text: str, fmt: str, message: str, error: object = None) -> ParsedLine:
    """traefik's own log: a proxy failure becomes the v3 text the scenarios match ("502 Bad Gateway error=EOF")."""
    caused = _CAUSED_BY.search(message)
    if caused:
        status, reason, error = int(caused["status"]), caused["reason"], caused["error"].strip()
    else:
        head = re.match(r"^([1-5]\d\d) ([A-Za-z][\w ]*?)$", message.strip())
        if not head or error is None:
            return ParsedLine(text, fmt, _KINDS, "error")
        status, reason = int(head[1]), head[2]
    value = str(error)
    quoted = value if re.fullmatch(r"[\w./:-]+", value) else json.dumps(value)
    return ParsedLine(text, fmt, _KINDS, "error", (status,), f"{status} {reason} error={quoted}")


def message(text: str) -> str:
    """The v3 text line without its time, level and caller: `502 Bad Gateway error=EOF`."""
    return _V3_PREFIX.sub("", text.strip())


# The fix, as traefik's static and dynamic YAML -------------------------------------------------------

FILES = {"traefik.yml": "static configuration (traefik.yml)", "dynamic.yml": "dynamic configuration (file provider)"}


def difference(before: Any, after: Any) -> Any:
    """The part of `after` that differs from `before` (whole lists, like traefik replaces them)."""
    if isinstance(before, dict) and isinstance(after, dict):
        changed = {key: difference(before.get(key), value) for key, value in after.items()
                   if before.get(key) != value}
        return {key: value for key, value in changed.items() if value is not None and value != {}}
    return after if before != after else None


def dropped_paths(before: Any, after: Any, prefix: str = "") -> list[str]:
    if not isinstance(before, dict):
        return []
    after = after if isinstance(after, dict) else {}
    paths = []
    for key, value in before.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        paths += [path] if key not in after else dropped_paths(value, after[key], path)
    return paths


def _story(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _story(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_story(value) for value in node]
    return story_duration(node) if isinstance(node, str) else node


def per_service(transport: dict[str, Any], dynamic: dict[str, Any]) -> dict[str, Any]:
    """The static `serversTransport` is the default for every service; the same settings under the
    dynamic `http.serversTransports.<name>` apply to the services that name it (traefik v3 has both)."""
    services = {name: {"loadBalancer": {"serversTransport": name}} for name in dynamic["http"]["services"]}
    return {"http": {"serversTransports": {name: transport for name in services}, "services": services}}


# Practice mode: the learner's traefik.yml and dynamic.yml ---------------------------------------------
# Where each knob lives, as lower-case paths: traefik matches option names case-insensitively (paerser's
# parser, strings.EqualFold), so `maxidleconnsperhost` is the same option.
KNOB_PATHS: dict[str, tuple[str, tuple[str, ...]]] = {
    "maxIdleConnsPerHost": ("traefik.yml", ("serverstransport", "maxidleconnsperhost")),
    **{name: ("traefik.yml", ("serverstransport", "forwardingtimeouts", name.lower())) for name in FORWARDING},
    **{name: ("traefik.yml", ("entrypoints", "web", "transport", "respondingtimeouts", name.lower()))
       for name in RESPONDING},
    "retryAttempts": ("dynamic.yml", ("http", "middlewares", "retry", "retry", "attempts")),
    "retryStatus": ("dynamic.yml", ("http", "middlewares", "retry", "retry", "status")),
    "retryNonIdempotentMethod": ("dynamic.yml", ("http", "middlewares", "retry", "retry", "retrynonidempotentmethod")),
}
_DURATION_KNOBS = frozenset((*FORWARDING, *RESPONDING))
# Go's time.ParseDuration units; paerser's Duration (types/duration.go, v0.2.2 in traefik v3.7) reads digits
# alone as seconds.
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_WHOLE_SECONDS = re.compile(r"\b(\d+)000ms\b")
PRACTICE_HEADERS = {
    "traefik.yml": "# {hop}'s static configuration, in real (story) time: practice mode's check scales every\n"
                   "# duration by the scenario's time scale. Practice mode applies serversTransport\n"
                   "# (maxIdleConnsPerHost, forwardingTimeouts) and the web entry point's respondingTimeouts; the\n"
                   "# rest stays as it is.\n",
    "dynamic.yml": "# {hop}'s dynamic configuration (file provider). Practice mode applies a retry middleware named\n"
                   "# `retry` (attempts, status, retryNonIdempotentMethod; initialInterval: 100ms, as the lab's\n"
                   "# scenarios run it) on the router `app`; the rest stays.\n",
}


def go_duration_s(value: object) -> float:
    """A traefik duration (`90s`, `1m30s`, `500ms`, or a number of seconds) in seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if text.isdigit() or text == "0":
        return float(text)
    if not text or _GO_PART.sub("", text):
        raise ValueError(f"{text!r} is not a duration: write e.g. 90s, 1m30s or 500ms (Go's time.ParseDuration)")
    return sum(float(number) * _GO_UNITS[unit] for number, unit in _GO_PART.findall(text))


def _lower(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(key).lower(): _lower(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_lower(value) for value in node]
    return node


def _at(document: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(document, dict) or key not in document:
            return None
        document = document[key]
    return document


def _normalised(documents: dict[str, Any]) -> dict[str, Any]:
    """Durations in seconds and statuses as strings, so `90s`, `1m30s` and 90 compare equal."""
    out = json.loads(json.dumps(documents))
    for knob, (name, path) in KNOB_PATHS.items():
        parent = _at(out[name], path[:-1])
        if not isinstance(parent, dict) or path[-1] not in parent:
            continue
        value = parent[path[-1]]
        if knob in _DURATION_KNOBS:
            with contextlib.suppress(ValueError):  # the reader has named a bad duration already
                parent[path[-1]] = go_duration_s(value)
        elif knob == "retryStatus" and isinstance(value, list):
            parent[path[-1]] = [str(item) for item in value]
    return out


def _load(directory: Path, name: str, hop: str) -> Any:
    shown = f"{hop}/{name}"
    if not (directory / name).is_file():
        raise WorkspaceError(f"{shown} is missing", tip="`{prog} practice reset` writes the files again")
    try:
        return _lower(yamlfile.read(directory / name, "traefik configuration"))
    except InputError as exc:
        raise WorkspaceError(exc.message.replace(str(directory / name), shown), tip=exc.tip) from None


def read_files(directory: Path, base: TraefikKnobs, rendered: Callable[[TraefikKnobs], dict[str, str]],
               hop: str) -> TraefikKnobs:
    mine = {name: _load(directory, name, hop) for name in FILES}
    data = base.model_dump(mode="json", exclude_unset=True)
    for knob, (name, path) in KNOB_PATHS.items():
        value = _at(mine[name], path)
        if value is None:
            data.pop(knob, None)  # not there: traefik's default (the knob's)
            continue
        try:
            if knob in _DURATION_KNOBS:
                value = go_duration_s(value)
            elif knob == "retryStatus":
                value = [str(item) for item in value] if isinstance(value, list) else value
        except ValueError as exc:
            raise WorkspaceError(f"{hop}/{name}: {'.'.join(path)}: {exc}") from None
        data[knob] = value
    knobs = validated(TraefikKnobs, data, hop)
    again = {name: _lower(yaml.safe_load(text)) for name, text in rendered(knobs).items()}
    ours, theirs = _normalised(mine), _normalised(again)
    for name in FILES:
        where = first_difference(ours[name], theirs[name])
        if where is not None and where.endswith("retry.retry.initialinterval"):
            # traefik's own default is 0, retry at once (docs/content/reference/routing-configuration/http/
            # middlewares/retry.md, v3.7.0); the lab's scenarios were measured with a 100 ms first wait.
            raise WorkspaceError(f"{hop}/{name}: {where}: the lab's retry middleware waits 100ms before the first "
                                 "retry (traefik's default is 0: at once); write initialInterval: 100ms",
                                 tip="then check again")
        if where is not None:
            raise WorkspaceError(f"{hop}/{name}: {where} is outside what practice mode runs, or does not go with "
                                 "the rest (a retry middleware needs `middlewares: [retry]` on the router); the "
                                 "file's header says what it applies",
                                 tip="undo that change (`{prog} practice diff` shows your changes)")
    return knobs


class TraefikHop(NamesNoUpstream):
    name = "traefik"
    family = "traefik"
    runs_app = False
    reload_signal = None
    fix_format = "traefik"
    knobs = TraefikKnobs
    notable = NOTABLE
    recognisers = (recognise_lab_json, recognise_json_log, recognise_clf, recognise_text)
    message = staticmethod(message)

    @staticmethod
    def parse_access(text: str) -> AccessFields | None:
        return json_access(text, request_id="request_X-Request-Id", status="DownstreamStatus",
                           forwarded="ServiceURL")

    def render(self, knobs: TraefikKnobs, ctx: RenderContext) -> dict[str, str]:
        if ctx.upstream is None:
            raise ValueError(f"hop {ctx.hop!r}: traefik needs a next hop to route to")
        header = (f"# Rendered by faultlab for hop {ctx.hop!r}. Time scale {ctx.scale}: every duration is "
                  "story × scale.\n")
        responding = "\n".join(f"        {name}: {_go(getattr(knobs, name), ctx)}" for name in RESPONDING)
        forwarding = "\n".join(f"    {name}: {_go(getattr(knobs, name), ctx)}" for name in FORWARDING)
        static = f"""{header}entryPoints:
  web:
    address: ":{ctx.listen_port}"
    transport:
      respondingTimeouts:
{responding}
  ping:
    address: ":{HEALTH_PORT}"
ping:
  entryPoint: ping
providers:
  file:
    filename: /etc/faultlab/dynamic.yml
serversTransport:
  maxIdleConnsPerHost: {knobs.maxIdleConnsPerHost}
  forwardingTimeouts:
{forwarding}
# DEBUG: traefik names the Go error behind a 500/502 (e.g. "server closed idle connection") only there.
{LOGS}"""
        middlewares = "      middlewares: [retry]\n" if knobs.retryAttempts else ""
        retry = (f"  middlewares:\n    retry:\n      retry:\n        attempts: {knobs.retryAttempts}\n"
                 f"        initialInterval: {_go(0.1, ctx)}\n") if knobs.retryAttempts else ""
        if knobs.retryAttempts and knobs.retryStatus:
            retry += f"        status: [{', '.join(repr(code) for code in knobs.retryStatus)}]\n"
        if knobs.retryAttempts and knobs.retryNonIdempotentMethod:
            retry += "        retryNonIdempotentMethod: true\n"
        dynamic = f"""{header}http:
  routers:
    app:
      rule: "PathPrefix(`/`)"
      entryPoints: [web]
      service: app
{middlewares}{retry}  services:
    app:
      loadBalancer:
        servers:
          - url: "http://{ctx.upstream}"
"""
        return {"traefik.yml": static, "dynamic.yml": dynamic}

    def settings(self, knobs: TraefikKnobs, ctx: RenderContext) -> list[Setting]:
        explicit = knobs.model_fields_set
        settings = [Setting("maxIdleConnsPerHost", str(knobs.maxIdleConnsPerHost), str(knobs.maxIdleConnsPerHost),
                            "maxIdleConnsPerHost" in explicit)]
        for name in (*FORWARDING, *RESPONDING):
            story = getattr(knobs, name)
            settings.append(Setting(name, format_duration(story), _go(story, ctx), name in explicit))
        settings.append(Setting("retry.attempts", str(knobs.retryAttempts) if knobs.retryAttempts else "off",
                                str(knobs.retryAttempts) if knobs.retryAttempts else "off",
                                "retryAttempts" in explicit))
        if knobs.retryStatus or knobs.retryNonIdempotentMethod:
            status = ", ".join(knobs.retryStatus) or "none"
            settings.append(Setting("retry.status", status, status, "retryStatus" in explicit))
            replay = "true" if knobs.retryNonIdempotentMethod else "false"
            settings.append(Setting("retry.retryNonIdempotentMethod", replay, replay,
                                    "retryNonIdempotentMethod" in explicit))
        return settings

    def export(self, ctx: RenderContext, before: TraefikKnobs, after: TraefikKnobs) -> list[Snippet]:
        story = ctx.at_story_time()
        old, new = self.render(before, story), self.render(after, story)
        snippets = []
        transport: dict[str, Any] = {}
        for name, title in FILES.items():
            old_doc, new_doc = yaml.safe_load(old[name]), yaml.safe_load(new[name])
            changed = difference(old_doc, new_doc) or {}
            dropped = dropped_paths(old_doc, new_doc)
            if not changed and not dropped:
                continue
            text = "".join(f"# remove {path}\n" for path in dropped)
            if changed:
                text += yaml.safe_dump(_story(changed), sort_keys=False, default_flow_style=False)
            snippets.append(Snippet("traefik", ctx.hop, title, text))
            if name == "traefik.yml" and "serversTransport" in changed:
                transport = _story(changed["serversTransport"])
        if transport:
            alternative = per_service(transport, yaml.safe_load(new["dynamic.yml"]))
            snippets.append(Snippet("traefik", ctx.hop, "or per service: dynamic configuration (file provider)",
                                    yaml.safe_dump(alternative, sort_keys=False, default_flow_style=False)))
        return snippets

    readable = frozenset(KNOB_PATHS)
    tool_check = None

    def workspace(self, knobs: TraefikKnobs, ctx: RenderContext) -> dict[str, str]:
        rendered = self.render(knobs, ctx.at_story_time())
        out = {}
        for name, text in rendered.items():
            body = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("# Rendered"))
            out[name] = PRACTICE_HEADERS[name].format(hop=ctx.hop) + _WHOLE_SECONDS.sub(r"\1s", body)
        return out

    def read_workspace(self, directory: Path, base: TraefikKnobs, ctx: RenderContext) -> TraefikKnobs:
        return read_files(directory, base, lambda knobs: self.workspace(knobs, ctx), ctx.hop)
