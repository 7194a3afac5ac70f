"""gunicorn: knobs named after its settings, rendered as a gunicorn.conf.py."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from faultlab.hops.base import AccessFields, Knobs, RenderContext, Setting, json_access
from faultlab.model.units import Duration, format_duration

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

    def longest_wait_s(self) -> float:
        return self.timeout


_SCALED = ("timeout", "graceful_timeout", "keepalive")


class GunicornHop:
    name = "gunicorn"
    knobs = GunicornKnobs

    @staticmethod
    def parse_access(text: str) -> AccessFields | None:
        return json_access(text, request_id="request_id", status="status")

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
            'accesslog = "-"',
            'errorlog = "-"',
            'loglevel = "info"',
            f"access_log_format = {ACCESS_LOG_FORMAT!r}",
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
        return settings
