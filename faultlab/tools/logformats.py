"""Recognise a pasted log line: which server kind wrote it, access or error, and what it says.

The lab configures JSON access formats for its hops (`lab/render/`), but users paste what their
servers write by default: nginx's `combined` and its error log, ingress-nginx's `upstreaminfo`,
traefik's CLF or JSON access log and its own log (v3 text, v2/1.7 logrus text, JSON), gunicorn's and
uwsgi's defaults. Each recogniser turns a line into a `ParsedLine`; for access lines and traefik's
proxy errors it also writes `canonical`: the same event in the lab's own format, so that the scenario
files' regexes (written against the lab's formats) match the default formats too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

MAX_LINE_CHARS = 8192  # longer lines are cut: every signature sits near the start, and regexes stay fast

NGINX_FAMILY = frozenset({"nginx", "ingress-nginx"})
APP_SERVERS = frozenset({"gunicorn", "uwsgi"})


@dataclass(frozen=True)
class ParsedLine:
    text: str  # the line as pasted (prefixes of `docker compose logs` removed, cut to MAX_LINE_CHARS)
    format: str  # which format was recognised, e.g. "nginx error", "traefik CLF access"; "unknown"
    kinds: frozenset[str]  # hop kinds (faultlab.hops.HOP_KINDS) that may have written it; empty: can't tell
    stream: str | None  # "access" or "error" (the lab's two streams); None for status codes and unknown lines
    statuses: tuple[int, ...] = ()  # HTTP statuses the line reports (an access line's status, pasted codes)
    canonical: str | None = None  # the same event in the lab's configured format
    upstream_scheme: str | None = None  # nginx error lines: `upstream: "uwsgi://…"` → "uwsgi"

    @property
    def known(self) -> bool:
        return self.format != "unknown"

    def texts(self) -> tuple[str, ...]:
        """What a signature's regex is searched in: the line itself and its lab-format twin."""
        return (self.text, self.canonical) if self.canonical else (self.text,)


# `docker compose logs` prefixes every line with "service-1  | ".
_COMPOSE_PREFIX = re.compile(r"^[\w.-]+\s+\|\s?")
_STATUS_CODES = re.compile(r"^\s*[1-5]\d\d(?:\s*[,;\s]\s*[1-5]\d\d)*\s*$")
_HTTP_STATUS_LINE = re.compile(r"^\s*HTTP/[\d.]+ ([1-5]\d\d)\b")
_STATUS_WITH_REASON = re.compile(r"^\s*([1-5]\d\d) [A-Z][\w' -]*$")  # "502 Bad Gateway"

_NGINX_ERROR = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: ")
_UPSTREAM_SCHEME = re.compile(r'upstream: "(\w+)://')
# nginx `combined` and gunicorn's default access format are the same; ingress-nginx and traefik append fields.
_COMBINED = re.compile(r'^(?P<addr>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" '
                       r'(?P<status>\d{3}) (?P<bytes>\d+|-)(?: "(?P<referer>[^"]*)" "(?P<agent>[^"]*)")?(?P<rest>.*)$')
_INGRESS_TAIL = re.compile(r"^ (?P<length>\d+) (?P<time>[\d.]+) \[(?P<upstream>[^\]]*)\](?: \[[^\]]*\])? (?P<tail>.+)$")
_TRAEFIK_CLF_TAIL = re.compile(r'^ (?P<count>\d+) "(?P<router>[^"]*)" "(?P<url>[^"]*)" (?P<ms>\d+)ms\s*$')

_GUNICORN = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] "
                       r"\[(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\] ")
_UWSGI_REQUEST = re.compile(r"^\[pid: \d+\|app: [-\d]+\|req: [-\d]+/[-\d]+\] .*?\] (?P<method>[A-Z]+) (?P<uri>\S+) => "
                            r"generated \d+ bytes in (?P<msecs>\d+) msecs \(HTTP/[\d.]+ (?P<status>\d{3})\)")
_UWSGI_MARKERS = re.compile(
    r"HARAKIRI|uwsgi_|uWSGI|invalid request block size|DAMN ! worker|SIGPIPE: writing to a closed|"
    r"\bOSError: write error|listen queue of socket|\*\*\* Operational MODE|spawned uWSGI|"
    r"--- no python application found|^\[busyness\]|"
    r"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \w{3} +\d+ \d\d:\d\d:\d\d \d{4} - ")

_TRAEFIK_V3 = re.compile(r"^\d{4}-\d\d-\d\dT\S+ (?:TRC|DBG|INF|WRN|ERR|FTL|PNC) ")
_LOGRUS = re.compile(r'^(?:time="[^"]*" )?level=\w+ msg=(?:"(?P<msg>(?:[^"\\]|\\.)*)"|(?P<bare>\S*))')
# traefik v2 and 1.7 name the status and the Go error behind a proxy failure this way (v3: "502 Bad Gateway error=EOF").
_CAUSED_BY = re.compile(r"'(?P<status>[1-5]\d\d) (?P<reason>[^']*)' caused by: (?P<error>.*)$")

_PYTHON_TRACE = re.compile(r"^(?:Traceback \(most recent call last\):|  File \"|[A-Za-z_][\w.]*(?:Error|Exception|Exit)"
                           r"(?:: |$)|\[\d{4}-\d\d-\d\d [\d:,]+\] ERROR in )")

# The lab's own JSON access formats (lab/render/*.py): the key that tells each one apart.
_LAB_JSON_KINDS = (("DownstreamStatus", frozenset({"traefik"}), "DownstreamStatus"),
                   ("upstream_status", NGINX_FAMILY, "status"),
                   ("request_time_us", frozenset({"gunicorn"}), "status"),
                   ("msecs", frozenset({"uwsgi"}), "status"))


def could_be(kind: str, kinds: frozenset[str]) -> bool:
    """Whether a line written by one of `kinds` may come from a hop of `kind`. ingress-nginx is nginx
    with another default access format, so the two kinds stand in for each other."""
    return kind in kinds or (kind in NGINX_FAMILY and bool(kinds & NGINX_FAMILY))


def parse(raw: str) -> ParsedLine:
    text = _COMPOSE_PREFIX.sub("", raw.rstrip("\r\n"), count=1)[:MAX_LINE_CHARS]
    for recognise in _RECOGNISERS:
        parsed = recognise(text)
        if parsed is not None:
            return parsed
    return ParsedLine(text, "unknown", frozenset(), None)


def parse_lines(lines: Iterable[str]) -> list[ParsedLine]:
    return [parse(line) for line in lines if line.strip()]


def _status_codes(text: str) -> ParsedLine | None:
    if _STATUS_CODES.match(text):
        codes = tuple(int(code) for code in re.findall(r"\d{3}", text))
        return ParsedLine(text, "status codes", frozenset(), None, codes)
    match = _HTTP_STATUS_LINE.match(text) or _STATUS_WITH_REASON.match(text)
    if match:
        return ParsedLine(text, "HTTP status line", frozenset(), None, (int(match[1]),))
    return None


def _json(text: str) -> ParsedLine | None:
    if not text.startswith("{"):
        return None
    try:
        fields = json.loads(text)
    except ValueError:
        return None
    if not isinstance(fields, dict):
        return None
    for key, kinds, status_key in _LAB_JSON_KINDS:
        if key in fields:
            status = _int(fields.get(status_key))
            statuses = (status,) if status is not None and 100 <= status <= 599 else ()
            return ParsedLine(text, "JSON access", kinds, "access", statuses)
    if "level" in fields and ("msg" in fields or "message" in fields):
        return _traefik_message(text, "traefik JSON log", str(fields.get("message") or fields.get("msg") or ""),
                                fields.get("error"))
    return None


def _traefik_message(text: str, fmt: str, message: str, error: object = None) -> ParsedLine:
    """traefik's own log: a proxy failure becomes the v3 text the scenarios match ("502 Bad Gateway error=EOF")."""
    caused = _CAUSED_BY.search(message)
    if caused:
        status, reason, error = int(caused["status"]), caused["reason"], caused["error"].strip()
    else:
        head = re.match(r"^([1-5]\d\d) ([A-Za-z][\w ]*?)$", message.strip())
        if not head or error is None:
            return ParsedLine(text, fmt, frozenset({"traefik"}), "error")
        status, reason = int(head[1]), head[2]
    value = str(error)
    quoted = value if re.fullmatch(r"[\w./:-]+", value) else json.dumps(value)
    return ParsedLine(text, fmt, frozenset({"traefik"}), "error", (status,), f"{status} {reason} error={quoted}")


def _traefik_text(text: str) -> ParsedLine | None:
    if _TRAEFIK_V3.match(text):
        # v3 (zerolog): "<time> DBG <caller> > 502 Bad Gateway error=EOF" — already the scenarios' wording.
        status = re.search(r" > ([1-5]\d\d) [A-Z]", text)
        return ParsedLine(text, "traefik v3 log", frozenset({"traefik"}), "error", (int(status[1]),) if status else ())
    logrus = _LOGRUS.match(text)
    if logrus:
        message = (logrus["msg"] or "").replace('\\"', '"').replace("\\\\", "\\") or logrus["bare"] or ""
        return _traefik_message(text, "traefik v2/1.7 log", message)
    if _CAUSED_BY.search(text):
        return _traefik_message(text, "traefik 1.7 log", text)
    return None


def _nginx_error(text: str) -> ParsedLine | None:
    if not _NGINX_ERROR.match(text):
        return None
    scheme = _UPSTREAM_SCHEME.search(text)
    # ingress-nginx is nginx: its error log lines are nginx's, so the line cannot say which of the two wrote it.
    return ParsedLine(text, "nginx error", NGINX_FAMILY, "error", upstream_scheme=scheme[1] if scheme else None)


def _access(text: str) -> ParsedLine | None:
    match = _COMBINED.match(text)
    if not match:
        return None
    status = int(match["status"])
    method, _, rest = match["request"].partition(" ")
    uri = rest.rsplit(" ", 1)[0] if " " in rest else rest
    tail = match["rest"]
    clf = _TRAEFIK_CLF_TAIL.match(tail)
    if clf:
        canonical = json.dumps({"DownstreamStatus": status, "RequestMethod": method, "RequestPath": uri,
                                "ServiceURL": "" if clf["url"] == "-" else clf["url"]}, separators=(",", ":"))
        return ParsedLine(text, "traefik CLF access", frozenset({"traefik"}), "access", (status,), canonical)
    ingress = _INGRESS_TAIL.match(tail)
    if ingress:
        # upstream_addr, upstream_response_length, upstream_response_time, upstream_status[, req_id]; a list
        # of upstreams is written "a, b", so fields are split on spaces that do not follow a comma.
        fields = re.split(r"(?<!,) ", ingress["tail"].strip())
        upstream_status = fields[3] if len(fields) >= 4 else "-"
        canonical = _nginx_json(status, upstream_status, method, uri)
        return ParsedLine(text, "ingress-nginx access (upstreaminfo)", frozenset({"ingress-nginx"}), "access",
                          (status,), canonical)
    if tail.strip():
        return None
    # nginx's combined and gunicorn's default are one format: the line could be either. Neither logs the
    # upstream's status, so the lab-format twin leaves it out (signatures that need it do not match).
    canonical = json.dumps({"status": status, "method": method, "uri": uri}, separators=(",", ":"))
    return ParsedLine(text, "combined access (nginx or gunicorn)", frozenset({"nginx", "gunicorn"}), "access",
                      (status,), canonical)


def _nginx_json(status: int, upstream_status: str, method: str, uri: str) -> str:
    return json.dumps({"status": status, "upstream_status": upstream_status, "method": method, "uri": uri},
                      separators=(",", ":"))


def _gunicorn(text: str) -> ParsedLine | None:
    if _GUNICORN.match(text):
        return ParsedLine(text, "gunicorn log", frozenset({"gunicorn"}), "error")
    return None


def _uwsgi(text: str) -> ParsedLine | None:
    request = _UWSGI_REQUEST.match(text)
    if request:
        status = int(request["status"])
        canonical = json.dumps({"status": status, "method": request["method"], "uri": request["uri"],
                                "msecs": int(request["msecs"])}, separators=(",", ":"))
        return ParsedLine(text, "uwsgi request log", frozenset({"uwsgi"}), "access", (status,), canonical)
    if _UWSGI_MARKERS.search(text):
        return ParsedLine(text, "uwsgi log", frozenset({"uwsgi"}), "error")
    return None


def _python(text: str) -> ParsedLine | None:
    # A traceback is the app's, printed by whichever app server runs it.
    if _PYTHON_TRACE.match(text):
        return ParsedLine(text, "Python traceback", APP_SERVERS, "error")
    return None


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


_RECOGNISERS: tuple[Callable[[str], ParsedLine | None], ...] = (
    _status_codes, _json, _nginx_error, _access, _gunicorn, _uwsgi, _traefik_text, _python,
)
