"""uvicorn: knobs named after its settings, rendered as its command line (uvicorn has no config file).

The app is the lab's Flask app behind a2wsgi (apps/faultapp/asgi.py), whose wrapper writes the lab's
JSON access line: uvicorn's own access line names no request header.
"""

from __future__ import annotations

import re

from pydantic import Field

from faultlab.hops.base import (
    AppServerAccess,
    Knobs,
    ParsedLine,
    RenderContext,
    Setting,
    Snippet,
    changes,
    compact_json,
    lab_json_recogniser,
)
from faultlab.units import Duration, format_duration

APP = "faultapp.asgi:app"  # the lab's app; yours goes here
FLAGS_FILE = "uvicorn.flags"  # the compose service runs `uvicorn $(cat …)`


class UvicornKnobs(Knobs):
    # Defaults of uvicorn/config.py (0.54.0).
    timeout_keep_alive: Duration = 5.0  # close a keep-alive connection idle this long
    workers: int = Field(1, ge=1, le=64)
    limit_concurrency: int | None = Field(None, ge=1, le=100_000)  # above it: 503 from uvicorn itself
    backlog: int = Field(2048, ge=1, le=65535)
    timeout_graceful_shutdown: Duration | None = None  # None: wait for every request on SIGTERM

    def longest_wait_s(self) -> float:
        return 0.0  # uvicorn never gives up on a request of its own accord

    def stop_grace_s(self) -> float | None:
        return self.timeout_graceful_shutdown


# The settings in uvicorn's flag spelling, in the order the command line gives them.
_FLAGS = ("timeout_keep_alive", "workers", "limit_concurrency", "backlog", "timeout_graceful_shutdown")
_SCALED = frozenset({"timeout_keep_alive", "timeout_graceful_shutdown"})


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


# Default formats, for diagnose: uvicorn's LOGGING_CONFIG ("%(levelprefix)s %(message)s", the level
# padded to 9 columns) and its access line `INFO:     172.18.0.3:40000 - "GET / HTTP/1.1" 200 OK`.
_LOG_LINE = re.compile(r"^(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL|TRACE): +(?P<message>.*)$")
_ACCESS = re.compile(r'^\S+:\d+ - "(?P<method>[A-Z]+) (?P<uri>\S+) HTTP/[\d.]+" (?P<status>\d{3})(?: [\w -]+)?$')
NOTABLE = re.compile(r"^(?:ERROR|CRITICAL|WARNING):|Traceback|RuntimeError|Shutting down|Waiting for")


def recognise_log(text: str) -> ParsedLine | None:
    line = _LOG_LINE.match(text)
    if not line:
        return None
    access = _ACCESS.match(line["message"])
    if access:
        status = int(access["status"])
        canonical = compact_json({"status": status, "method": access["method"], "uri": access["uri"]})
        return ParsedLine(text, "uvicorn access", frozenset({"uvicorn"}), "access", (status,), canonical)
    return ParsedLine(text, "uvicorn log", frozenset({"uvicorn"}), "error")


recognise_lab_json = lab_json_recogniser("asgi_time_us", frozenset({"uvicorn"}))


class UvicornHop(AppServerAccess):
    name = "uvicorn"
    family = "uvicorn"
    runs_app = True
    reload_signal = None
    fix_format = "uvicorn"
    knobs = UvicornKnobs
    notable = NOTABLE
    recognisers = (recognise_lab_json, recognise_log)

    @staticmethod
    def message(text: str) -> str:
        line = _LOG_LINE.match(text.strip())
        return f"{line['level']}: {line['message']}" if line else text.strip()

    def flags(self, knobs: UvicornKnobs, ctx: RenderContext) -> dict[str, str]:
        """Flag → value as the rendered command line gives them (scaled ones in whole seconds: uvicorn's
        flags take integers)."""
        values: dict[str, str] = {}
        for name in _FLAGS:
            value = getattr(knobs, name)
            if value is None:
                continue
            values[_flag(name)] = str(ctx.scale.lab_s_whole(value)) if name in _SCALED else str(value)
        return values

    def render(self, knobs: UvicornKnobs, ctx: RenderContext) -> dict[str, str]:
        flags = " ".join(f"{flag} {value}" for flag, value in self.flags(knobs, ctx).items())
        return {FLAGS_FILE: f"--host 0.0.0.0 --port {ctx.listen_port} --app-dir /srv/apps {flags} {APP}\n"}

    def settings(self, knobs: UvicornKnobs, ctx: RenderContext) -> list[Setting]:
        explicit = knobs.model_fields_set
        settings = []
        for name in _FLAGS:
            value = getattr(knobs, name)
            if name not in explicit and name not in ("timeout_keep_alive", "workers"):
                continue
            if value is None:
                settings.append(Setting(_flag(name), "none", "none", name in explicit))
            elif name in _SCALED:
                settings.append(Setting(_flag(name), format_duration(value), f"{ctx.scale.lab_s_whole(value)}s",
                                        name in explicit))
            else:
                settings.append(Setting(_flag(name), str(value), str(value), name in explicit))
        return settings

    def export(self, ctx: RenderContext, before: UvicornKnobs, after: UvicornKnobs) -> list[Snippet]:
        story = ctx.at_story_time()
        old, new = self.flags(before, story), self.flags(after, story)
        changed, dropped = changes(old, new)
        if not changed and not dropped:
            return []
        flags = " ".join(f"{flag} {value}" for flag, value in changed.items())
        note = "".join(f"# and leave out {flag} {old[flag]}\n" for flag in dropped)
        return [Snippet("uvicorn", ctx.hop, "uvicorn command line",
                        f"uvicorn {flags} {APP}  # {APP} is the lab's app: put yours\n{note}")]
