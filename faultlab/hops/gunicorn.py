"""gunicorn: knobs named after its settings, rendered as a gunicorn.conf.py."""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from faultlab.hops.base import (
    AppServerAccess,
    Knobs,
    ParsedLine,
    RenderContext,
    Setting,
    Snippet,
    ToolCheck,
    WorkspaceError,
    lab_json_recogniser,
    memory_limit_snippet,
    validated,
    workspace_file,
)
from faultlab.units import Duration, KnobSize, format_duration, format_size

# JSON so the lab can parse it; %({x-request-id}i)s is the header nginx passes on.
ACCESS_LOG_FORMAT = (
    '{"request_id":"%({x-request-id}i)s","status":%(s)s,"method":"%(m)s",'
    '"uri":"%(U)s","request_time_us":%(D)s}'
)


class GunicornKnobs(Knobs):
    timeout: Duration = 30.0  # a sync worker silent for longer is killed ("WORKER TIMEOUT")
    graceful_timeout: Duration = 30.0
    keepalive: Duration = 2.0
    workers: int = Field(1, ge=1, le=64)
    threads: int = Field(1, ge=1, le=256)
    worker_class: Literal["sync", "gthread"] = "sync"
    # Which gunicorn runs (both are in the image). 21.2.0 is the write-up's behaviour on a worker
    # timeout (connection closed, the proxy says 502); 22.0 and later answer 500 themselves.
    release: Literal["27.0.1", "21.2.0"] = "27.0.1"
    # The longest request header line gunicorn reads, name and value: a longer one is answered 431
    # (gunicorn/workers/base.py handle_error, LimitRequestHeaders). Its docs call 0 "unlimited"; 27.0.1
    # turns 0 back into 8190 (gunicorn/http/message.py), which 400-header-too-large shows.
    limit_request_field_size: int = Field(8190, ge=0, le=1 << 20)
    # The container's memory limit (Kubernetes' resources.limits.memory): above it the kernel's OOM
    # killer kills the largest process in the container, a worker in the middle of its request.
    memory_limit: KnobSize | None = Field(None, ge=32 << 20)
    # A worker is replaced after this many requests (0: never), gunicorn's guard against a slow leak.
    max_requests: int = Field(0, ge=0)

    def memory_limit_bytes(self) -> int | None:
        return self.memory_limit

    def longest_wait_s(self) -> float:
        return self.timeout

    def stop_grace_s(self) -> float:
        return self.graceful_timeout


_SCALED = ("timeout", "graceful_timeout", "keepalive")


# Default formats, for diagnose (gunicorn's default access format is nginx's `combined`: see hops/nginx.py).
_LOG_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] "
                       r"\[(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\] ")
_PREFIX = re.compile(r"^\[[^]]*\d\d:\d\d:\d\d[^]]*\] \[\d+\] ")
NOTABLE = re.compile(r"\[(?:CRITICAL|ERROR)\]|WORKER TIMEOUT|Traceback|RuntimeError|Broken pipe|Invalid request from")


def recognise_log(text: str) -> ParsedLine | None:
    return ParsedLine(text, "gunicorn log", frozenset({"gunicorn"}), "error") if _LOG_LINE.match(text) else None


recognise_lab_json = lab_json_recogniser("request_time_us", frozenset({"gunicorn"}))


def message(text: str) -> str:
    """`[2026-11-24 10:03:00 +0000] [1] [CRITICAL] WORKER TIMEOUT (pid:8)` → `[CRITICAL] WORKER TIMEOUT (pid:8)`"""
    return _PREFIX.sub("", text.strip())


# The fix, as gunicorn.conf.py and flags ------------------------------------------------------------

_ASSIGNMENT = re.compile(r"^(\w+) = (.*?)(?:\s+# .*)?$")
# gunicorn's flag is --<name with dashes> for every setting the lab sets, except these (gunicorn/config.py).
_FLAG_SPELLING = {"keepalive": "--keep-alive", "limit_request_field_size": "--limit-request-field_size"}
APP = "faultapp:app"  # the lab's app; yours goes here


def assignments(conf: str) -> dict[str, str]:
    found = {}
    for line in conf.splitlines():
        match = _ASSIGNMENT.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def flag(name: str, value: str) -> str:
    literal = ast.literal_eval(value)
    return f"{_FLAG_SPELLING.get(name, '--' + name.replace('_', '-'))} {literal}"


# Practice mode: the learner's gunicorn.conf.py --------------------------------------------------------
# gunicorn execs the file as Python (app/base.py get_config_from_filename) and silently skips names it has no
# setting for; the lab never runs it (nginx -t's counterpart, --check-config, runs it in the image) and reads
# only plain assignments of the settings a fix may change.
READABLE = ("workers", "threads", "worker_class", "timeout", "graceful_timeout", "keepalive",
            "limit_request_field_size", "max_requests")
_STORY_NOTE = re.compile(r"\s+# story .*$")
PRACTICE_HEADER = """\
# {hop}'s gunicorn.conf.py, as the lab starts it with, in real (story) seconds: practice mode's check scales
# them by the scenario's time scale. Practice mode applies plain assignments (name = value) of:
#   {readable}
# The rest is the lab's plumbing (bind, logs) and stays as it is. gunicorn would run any Python here;
# practice mode reads assignments only.
"""


def _practice_conf(rendered: str, hop: str) -> str:
    lines = [line for line in rendered.splitlines() if not line.startswith(("# Rendered", "# rounded"))]
    return PRACTICE_HEADER.format(hop=hop, readable=", ".join(READABLE)) + "\n".join(
        _STORY_NOTE.sub("", line) for line in lines) + "\n"


def conf_assignments(text: str, shown: str) -> list[tuple[str, Any, int]]:
    """(name, value, line) of every statement, each of which must be `name = <literal>`."""
    try:
        tree = ast.parse(text, shown)
    except SyntaxError as exc:
        raise WorkspaceError(f"{shown}:{exc.lineno}: {exc.msg}") from None
    found = []
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise WorkspaceError(f"{shown}:{node.lineno}: practice mode reads plain assignments (name = value) only",
                                 tip="undo that line (`{prog} practice diff` shows your changes)")
        try:
            value = ast.literal_eval(node.value)
        except ValueError:
            raise WorkspaceError(f"{shown}:{node.lineno}: {node.targets[0].id} = …: a plain value (a number, a "
                                 "string, True or False), not an expression") from None
        found.append((node.targets[0].id, value, node.lineno))
    return found


def read_conf(directory: Path, base: GunicornKnobs, rendered: Callable[[GunicornKnobs], str],
              hop: str) -> GunicornKnobs:
    shown, text = workspace_file(directory, "gunicorn.conf.py", hop)
    mine = conf_assignments(text, shown)
    data = base.model_dump(mode="json", exclude_unset=True)
    seen: dict[str, int] = {}
    for name, value, line in mine:
        if name not in READABLE:
            continue
        if name in seen:
            raise WorkspaceError(f"{shown}:{line}: {name} is set twice (line {seen[name]}); gunicorn keeps the last")
        seen[name] = line
        data[name] = value
    for name in READABLE:
        if name not in seen:
            data.pop(name, None)  # taken out: gunicorn's default (the knob's)
    knobs = validated(GunicornKnobs, data, shown)
    again = {(name, repr(value)) for name, value, _ in conf_assignments(rendered(knobs), shown)}
    for name, value, line in mine:
        if (name, repr(value)) in again or name in READABLE and isinstance(value, int | float) and (
                name, repr(int(value))) in again:
            continue
        close = difflib.get_close_matches(name, READABLE, n=1)
        hint = (f": gunicorn has no setting {name!r} and would ignore it silently (did you mean {close[0]}?)"
                if close and name not in READABLE else " is outside what practice mode runs")
        raise WorkspaceError(f"{shown}:{line}: `{name} = {value!r}`{hint}",
                             tip="undo that line (`{prog} practice diff` shows your changes)")
    missing = {name for name, _ in again} - {name for name, _, _ in mine} - set(READABLE)
    if missing:
        raise WorkspaceError(f"{shown}: `{sorted(missing)[0]}` is gone, and the lab needs it",
                             tip="put it back (`{prog} practice diff` shows your changes)")
    return knobs


class GunicornHop(AppServerAccess):
    name = "gunicorn"
    family = "gunicorn"
    runs_app = True
    reload_signal = None
    fix_format = "gunicorn"
    knobs = GunicornKnobs
    notable = NOTABLE
    recognisers = (recognise_lab_json, recognise_log)
    message = staticmethod(message)

    def render(self, knobs: GunicornKnobs, ctx: RenderContext) -> dict[str, str]:
        # gunicorn only takes whole seconds, so scaled timeouts are rounded up (never below 1 s).
        scaled = {name: ctx.scale.lab_s_whole(getattr(knobs, name)) for name in _SCALED}
        lines = [
            f"# Rendered by faultlab for hop {ctx.hop!r}. Time scale {ctx.scale}: timeouts are story × scale,",
            "# rounded up to whole seconds because gunicorn takes no fractions.",
            f'bind = "0.0.0.0:{ctx.listen_port}"',
            f"workers = {knobs.workers}",
            f"threads = {knobs.threads}",
            f'worker_class = "{knobs.worker_class}"',
            *(f"{name} = {value}  # story {format_duration(getattr(knobs, name))}" for name, value in scaled.items()),
            f"limit_request_field_size = {knobs.limit_request_field_size}",
            f"max_requests = {knobs.max_requests}",
            *([f"# container memory limit: {format_size(knobs.memory_limit)} (docker update, not a gunicorn setting)"]
              if knobs.memory_limit else []),
            'accesslog = "-"',
            'errorlog = "-"',
            'loglevel = "info"',
            f"access_log_format = {ACCESS_LOG_FORMAT!r}",
            # gunicorn 27.0.1 opens a control socket in the working directory, which the app's user cannot
            # write: an error line at every start, in a step that restarts a replica (21.2.0 ignores it).
            "control_socket_disable = True",
        ]
        return {"gunicorn.conf.py": "\n".join(lines) + "\n", "gunicorn-release": knobs.release + "\n"}

    def settings(self, knobs: GunicornKnobs, ctx: RenderContext) -> list[Setting]:
        explicit = knobs.model_fields_set
        settings = [
            Setting(name, format_duration(getattr(knobs, name)),
                    f"{ctx.scale.lab_s_whole(getattr(knobs, name))}s", name in explicit)
            for name in ("timeout",)
        ]
        settings += [Setting(name, str(getattr(knobs, name)), str(getattr(knobs, name)), name in explicit)
                     for name in ("release", "workers", "worker_class")]
        for name in ("limit_request_field_size", "max_requests"):
            if name in explicit:
                value = str(getattr(knobs, name))
                settings.append(Setting(name, value, value, True))
        if knobs.memory_limit is not None:
            settings.append(Setting("memory limit (container)", format_size(knobs.memory_limit),
                                    format_size(knobs.memory_limit), True))
        if knobs.worker_class == "gthread":  # the sync worker closes every connection after its answer
            settings += [Setting("threads", str(knobs.threads), str(knobs.threads), "threads" in explicit),
                         Setting("keepalive", format_duration(knobs.keepalive),
                                 f"{ctx.scale.lab_s_whole(knobs.keepalive)}s", "keepalive" in explicit)]
        return settings

    def export(self, ctx: RenderContext, before: GunicornKnobs, after: GunicornKnobs) -> list[Snippet]:
        story = ctx.at_story_time()
        old = assignments(self.render(before, story)["gunicorn.conf.py"])
        new = assignments(self.render(after, story)["gunicorn.conf.py"])
        changed = {name: value for name, value in new.items() if old.get(name) != value}
        memory = memory_limit_snippet(ctx.hop, before.memory_limit, after.memory_limit)
        note = ""
        if before.release != after.release:
            note = (f"# The step also runs gunicorn {after.release} instead of {before.release}: "
                    "a different release, not a setting.\n")
        if not changed:
            return ([Snippet("gunicorn", ctx.hop, "gunicorn.conf.py", note)] if note else []) + memory
        conf = note + "".join(f"{name} = {value}\n" for name, value in changed.items())
        flags = " ".join(flag(name, value) for name, value in changed.items())
        command = f"gunicorn {flags} {APP}  # {APP} is the lab's app: put yours\n"
        return [Snippet("gunicorn", ctx.hop, "gunicorn.conf.py", conf),
                Snippet("gunicorn", ctx.hop, "gunicorn command line", command), *memory]

    readable = frozenset(READABLE)
    # --check-config loads the app too (gunicorn/app/base.py), so the lab's apps come along; it exits 0 when the
    # configuration is correct and 1 otherwise (gunicorn's own help).
    tool_check = ToolCheck("python", "gunicorn.conf.py",
                           ("gunicorn", "--check-config", "-c", "{file}", "--chdir", "{apps}", APP))

    def workspace(self, knobs: GunicornKnobs, ctx: RenderContext) -> dict[str, str]:
        return {"gunicorn.conf.py": _practice_conf(self.render(knobs, ctx.at_story_time())["gunicorn.conf.py"],
                                                   ctx.hop)}

    def read_workspace(self, directory: Path, base: GunicornKnobs, ctx: RenderContext) -> GunicornKnobs:
        return read_conf(directory, base, lambda knobs: self.workspace(knobs, ctx)["gunicorn.conf.py"], ctx.hop)
