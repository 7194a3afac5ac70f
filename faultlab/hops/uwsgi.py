"""uwsgi (the pyuwsgi wheel): knobs named after its options, rendered as a uwsgi.ini."""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from faultlab.hops.base import (
    AppServerAccess,
    Knobs,
    ParsedLine,
    RenderContext,
    Setting,
    Snippet,
    ToolCheck,
    WorkspaceError,
    changes,
    compact_json,
    lab_json_recogniser,
    unix_socket_path,
    validated,
    workspace_file,
)
from faultlab.units import Duration, format_duration

# uwsgi writes request lines and its own messages to stderr; the JSON shape tells them apart.
LOG_FORMAT = ('{"request_id":"%(var.HTTP_X_REQUEST_ID)","status":%(status),"method":"%(method)",'
              '"uri":"%(uri)","msecs":%(msecs)}')

# How the hop listens: `http` is uwsgi's HTTP router (a separate process in front of the workers,
# the write-up's `http = 0.0.0.0:8080`); `http-socket` speaks HTTP in the workers themselves;
# `uwsgi` is the binary uwsgi protocol that nginx's uwsgi_pass talks.
LISTEN_OPTION = {"http": "http", "http-socket": "http-socket", "uwsgi": "socket"}


class UwsgiKnobs(Knobs):
    protocol: Literal["http", "http-socket", "uwsgi"] = "http"
    # Only for protocol http: keep router connections open between requests. Without it the router
    # closes every connection after one response, which a keep-alive proxy does not expect.
    http_keepalive: bool = False
    processes: int = Field(1, ge=1, le=64)
    threads: int = Field(1, ge=1, le=256)
    harakiri: Duration = 0.0  # kill a worker busy longer than this (0: off)
    http_timeout: Duration = 60.0  # the HTTP router's wait for a worker
    buffer_size: int = Field(4096, ge=1024, le=65535)  # largest request header block accepted
    # The workers' listen queue. uwsgi's default of 100 overflows when more requests wait than that:
    # the kernel drops the SYNs and the client retries after 1, 3, 7, 15 … s (the long p99 tail).
    listen: int = Field(100, ge=1, le=4096)
    bind: str = "0.0.0.0"  # 127.0.0.1 inside a container is unreachable for the proxy in front
    # Also listen on a UNIX socket in the shared folder (uwsgi protocol), as `socket = /run/….sock`
    # deployments do; the TCP socket stays for the health probe. `listen` sizes both queues.
    unix_socket: bool = False

    @model_validator(mode="after")
    def _unix_speaks_uwsgi(self) -> UwsgiKnobs:
        if self.unix_socket and self.protocol != "uwsgi":
            raise ValueError("unix_socket: the UNIX socket speaks the uwsgi protocol; set protocol: uwsgi")
        return self

    def longest_wait_s(self) -> float:
        return max(self.harakiri, self.http_timeout)


# Default formats, for diagnose -------------------------------------------------------------------

_REQUEST_LINE = re.compile(r"^\[pid: \d+\|app: [-\d]+\|req: [-\d]+/[-\d]+\] .*?\] (?P<method>[A-Z]+) (?P<uri>\S+) => "
                           r"generated \d+ bytes in (?P<msecs>\d+) msecs \(HTTP/[\d.]+ (?P<status>\d{3})\)")
_MARKERS = re.compile(
    r"HARAKIRI|uwsgi_|uWSGI|invalid request block size|DAMN ! worker|SIGPIPE: writing to a closed|"
    r"\bOSError: write error|listen queue of socket|\*\*\* Operational MODE|spawned uWSGI|"
    r"--- no python application found|^\[busyness\]|"
    r"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \w{3} +\d+ \d\d:\d\d:\d\d \d{4} - ")
NOTABLE = re.compile(r"HARAKIRI|Traceback|RuntimeError|invalid request block|Broken pipe|listen queue of socket|"
                     r"\[(?:CRITICAL|ERROR)\]")


def recognise_log(text: str) -> ParsedLine | None:
    request = _REQUEST_LINE.match(text)
    if request:
        status = int(request["status"])
        canonical = compact_json({"status": status, "method": request["method"], "uri": request["uri"],
                                  "msecs": int(request["msecs"])})
        return ParsedLine(text, "uwsgi request log", frozenset({"uwsgi"}), "access", (status,), canonical)
    if _MARKERS.search(text):
        return ParsedLine(text, "uwsgi log", frozenset({"uwsgi"}), "error")
    return None


recognise_lab_json = lab_json_recogniser("msecs", frozenset({"uwsgi"}))


# The fix, as a [uwsgi] ini section --------------------------------------------------------------

_OPTION = re.compile(r"^([\w-]+) = (.*?)(?:\s+; .*)?$")


def options(ini: str) -> dict[str, str]:
    found = {}
    for line in ini.splitlines():
        match = _OPTION.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


# Practice mode: the learner's uwsgi.ini ------------------------------------------------------------
# The options a fix may change, each the knob of the same name with dashes. uwsgi reads each of them with
# atoi() (uwsgi_opt_set_int, core/uwsgi.c:4009 in 2.0.30; http-keepalive too, plugins/http/http.c:37), so
# `harakiri = 1m` is 1 second and `http-keepalive = true` is 0, off: the reader wants whole numbers.
READABLE = {"processes": "processes", "threads": "threads", "harakiri": "harakiri", "http-timeout": "http_timeout",
            "buffer-size": "buffer_size", "listen": "listen", "http-keepalive": "http_keepalive"}
_SECONDS = frozenset({"harakiri", "http_timeout"})
_STORY_NOTE = re.compile(r"\s+; story .*$")
PRACTICE_HEADER = """\
; {hop}'s uwsgi.ini as the lab starts it with, in real (story) time: practice mode's check scales the
; seconds by the scenario's time scale. Practice mode applies these options (add, change or remove them):
;   {readable}
; and the address of the http (or socket) line; its port and the rest are the lab's plumbing and stay.
"""


def ini_options(text: str) -> list[tuple[str, str, str, int]]:
    """(section, key, value, line) in file order, as uwsgi's own ini parser reads them (core/ini.c 2.0.30):
    a line is stripped, `;` or `#` at its start makes it a comment, `[name]` opens a section, the key ends at
    the first `=`; repeated keys are all kept (configparser would refuse them or keep only the last)."""
    found, section = [], "uwsgi"
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        key, _, value = line.partition("=")
        found.append((section, key.strip(), value.strip(), number))
    return found


def _practice_ini(rendered: str, hop: str) -> str:
    lines = [line for line in rendered.splitlines() if not line.startswith("; Rendered") and
             not line.startswith("; rounded")]
    header = PRACTICE_HEADER.format(hop=hop, readable=", ".join(READABLE))
    return header + "\n".join(_STORY_NOTE.sub("", line) for line in lines) + "\n"


def _normal(option: tuple[str, str, str, int]) -> tuple[str, str, str]:
    section, key, value, _ = option
    return section, key, value


def read_ini(directory: Path, base: UwsgiKnobs, rendered: Callable[[UwsgiKnobs], str], hop: str,
             listen_port: int) -> UwsgiKnobs:
    shown, text = workspace_file(directory, "uwsgi.ini", hop)
    mine = ini_options(text)
    data = base.model_dump(mode="json", exclude_unset=True)
    seen: dict[str, int] = {}
    listen = LISTEN_OPTION[base.protocol]
    for section, key, value, line in mine:
        if section == "uwsgi" and key == listen and not value.startswith("/"):
            # `http = 0.0.0.0:8080`: the address is the fix's (127.0.0.1 is unreachable from another container),
            # the port is the lab's, where the proxy in front connects.
            host, _, port = value.rpartition(":")
            if port != str(listen_port):
                raise WorkspaceError(f"{shown}:{line}: {key} = {value}: keep port {listen_port}, where the hop in "
                                     "front connects; the address is yours to change")
            data["bind"] = host
            continue
        knob = READABLE.get(key)
        if section != "uwsgi" or knob is None:
            continue
        if knob in seen:
            raise WorkspaceError(f"{shown}:{line}: {key} is set twice (line {seen[knob]}); uwsgi would keep the last")
        seen[knob] = line
        if not value.isdigit():
            meant = " (1: on)" if knob == "http_keepalive" else " of seconds" if knob in _SECONDS else ""
            raise WorkspaceError(f"{shown}:{line}: {key} = {value}: write a whole number{meant}; uwsgi reads it "
                                 "with atoi(), which keeps the leading digits and silently drops the rest "
                                 "(no digits: 0)")
        data[knob] = int(value) > 0 if knob == "http_keepalive" else int(value)
    for key, knob in READABLE.items():
        if knob not in seen and any(option[1] == key for option in ini_options(rendered(base))):
            data.pop(knob, None)  # taken out: uwsgi's default (the knob's)
    knobs = validated(UwsgiKnobs, data, shown)
    again = Counter(_normal(option) for option in ini_options(rendered(knobs)))
    for option in mine:
        if again[_normal(option)] > 0:
            again[_normal(option)] -= 1
            continue
        close = difflib.get_close_matches(option[1], READABLE, n=1)
        hint = f" (did you mean {close[0]}?)" if close and option[1] not in READABLE else ""
        raise WorkspaceError(f"{shown}:{option[3]}: `{option[1]} = {option[2]}` is outside what practice mode "
                             f"runs{hint}; the file's header lists the options it applies",
                             tip="undo that line (`{prog} practice diff` shows your changes)")
    for (_, key, value), count in again.items():
        if count > 0 and key not in READABLE:  # a readable option left out is its default, which the lab writes
            raise WorkspaceError(f"{shown}: `{key} = {value}` is gone, and the lab needs it",
                                 tip="put it back (`{prog} practice diff` shows your changes)")
    return knobs


class UwsgiHop(AppServerAccess):
    name = "uwsgi"
    family = "uwsgi"
    runs_app = True
    reload_signal = None
    fix_format = "uwsgi"
    knobs = UwsgiKnobs
    notable = NOTABLE
    recognisers = (recognise_lab_json, recognise_log)

    @staticmethod
    def message(text: str) -> str:
        return text.strip()  # uwsgi's own lines carry no common prefix

    def render(self, knobs: UwsgiKnobs, ctx: RenderContext) -> dict[str, str]:
        lines = [
            f"; Rendered by faultlab for hop {ctx.hop!r}. Time scale {ctx.scale}: timeouts are story × scale,",
            "; rounded up to whole seconds because uwsgi takes no fractions.",
            "[uwsgi]",
            "master = true",
            "die-on-term = true  ; SIGTERM (docker stop) ends uwsgi; without it uwsgi 2.0 reloads and is killed",
            "module = faultapp:app",
            "chdir = /srv/apps",
            f"{LISTEN_OPTION[knobs.protocol]} = {knobs.bind}:{ctx.listen_port}",
            # The proxy runs as another user (and uwsgi reads a comment after this value as part of it).
            *([f"socket = {unix_socket_path(ctx.hop)}", "chmod-socket = 666"] if knobs.unix_socket else []),
            f"processes = {knobs.processes}",
            f"threads = {knobs.threads}",
            f"buffer-size = {knobs.buffer_size}",
            f"listen = {knobs.listen}",
            f"log-format = {LOG_FORMAT}",
        ]
        if knobs.protocol == "http":
            lines.append(f"http-timeout = {ctx.scale.lab_s_whole(knobs.http_timeout)}"
                         f"  ; story {format_duration(knobs.http_timeout)}")
            if knobs.http_keepalive:
                lines.append("http-keepalive = 1")
        if knobs.harakiri:
            lines.append(f"harakiri = {ctx.scale.lab_s_whole(knobs.harakiri)}"
                         f"  ; story {format_duration(knobs.harakiri)}")
        return {"uwsgi.ini": "\n".join(lines) + "\n"}

    def settings(self, knobs: UwsgiKnobs, ctx: RenderContext) -> list[Setting]:
        explicit = knobs.model_fields_set
        listen = LISTEN_OPTION[knobs.protocol]
        settings = [Setting(listen, f"{knobs.bind}:{ctx.listen_port}", f"{knobs.bind}:{ctx.listen_port}",
                            bool({"protocol", "bind"} & explicit))]
        if knobs.unix_socket:
            path = unix_socket_path(ctx.hop)
            settings.append(Setting("socket (UNIX)", path, path, True))
        if knobs.protocol == "http":
            value = "on" if knobs.http_keepalive else "off"
            settings.append(Setting("http-keepalive", value, value, "http_keepalive" in explicit))
        settings.append(Setting("processes × threads", f"{knobs.processes} × {knobs.threads}",
                                f"{knobs.processes} × {knobs.threads}", bool({"processes", "threads"} & explicit)))
        harakiri_lab = f"{ctx.scale.lab_s_whole(knobs.harakiri)}s" if knobs.harakiri else "off"
        settings.append(Setting("harakiri", format_duration(knobs.harakiri) if knobs.harakiri else "off",
                                harakiri_lab, "harakiri" in explicit))
        if "listen" in explicit:
            settings.append(Setting("listen", str(knobs.listen), str(knobs.listen), True))
        if "buffer_size" in explicit:
            settings.append(Setting("buffer-size", str(knobs.buffer_size), str(knobs.buffer_size), True))
        return settings

    def export(self, ctx: RenderContext, before: UwsgiKnobs, after: UwsgiKnobs) -> list[Snippet]:
        story = ctx.at_story_time()
        old, new = options(self.render(before, story)["uwsgi.ini"]), options(self.render(after, story)["uwsgi.ini"])
        changed, dropped = changes(old, new)
        if not changed and not dropped:
            return []
        lines = ["[uwsgi]", *(f"{name} = {value}" for name, value in changed.items()),
                 *(f"; remove: {name} = {old[name]}" for name in dropped)]
        return [Snippet("uwsgi", ctx.hop, "uwsgi.ini", "\n".join(lines) + "\n")]

    readable = frozenset(READABLE.values()) | {"bind"}
    # Strict mode refuses an unknown option ("[strict-mode] unknown config directive: lisen") and --dump-options
    # exits once the options are read, before the app loads or a socket binds (core/uwsgi.c, 2.0.30). Measured
    # with the lab's pyuwsgi 2.0.30: exit 0 for the broken file, 1 with uwsgi's line for `lisen` or `listen = -5`.
    tool_check = ToolCheck("python", "uwsgi.ini", ("uwsgi", "--strict", "--ini", "{file}", "--dump-options"),
                           noise=("getting INI configuration",))

    def workspace(self, knobs: UwsgiKnobs, ctx: RenderContext) -> dict[str, str]:
        return {"uwsgi.ini": _practice_ini(self.render(knobs, ctx.at_story_time())["uwsgi.ini"], ctx.hop)}

    def read_workspace(self, directory: Path, base: UwsgiKnobs, ctx: RenderContext) -> UwsgiKnobs:
        return read_ini(directory, base, lambda knobs: self.workspace(knobs, ctx)["uwsgi.ini"], ctx.hop,
                        ctx.listen_port)
