"""nginx as a reverse proxy: knobs named after its directives, defaults as nginx documents them."""

from __future__ import annotations

import re
from functools import cache
from typing import Literal

import jinja2
from pydantic import field_validator

from lab.render.base import Knobs, RenderContext, Setting
from lab.units import Duration, format_duration

_NGINX_SIZE = re.compile(r"^\d+[kKmMgG]?$")
TIMEOUTS = ("proxy_connect_timeout", "proxy_send_timeout", "proxy_read_timeout")
HEALTH_PORT = 9901  # compose files probe it (FAULTLAB_HEALTH_PORT)


class NginxKnobs(Knobs):
    client_max_body_size: str = "1m"  # nginx size syntax; "0" turns the check off
    proxy_connect_timeout: Duration = 60.0
    proxy_send_timeout: Duration = 60.0
    proxy_read_timeout: Duration = 60.0
    proxy_request_buffering: bool = True
    proxy_buffering: bool = True
    proxy_http_version: Literal["1.0", "1.1"] = "1.0"

    @field_validator("client_max_body_size", mode="before")
    @classmethod
    def _nginx_size(cls, value: object) -> str:
        text = str(value).strip()
        if not _NGINX_SIZE.match(text):
            raise ValueError(f"{value!r} is not an nginx size; write e.g. '1m', '1024m', '512k' or '0'")
        return text

    def longest_wait_s(self) -> float:
        return max(getattr(self, name) for name in TIMEOUTS)


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("lab.render", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template("nginx.conf.j2")


def _on_off(flag: bool) -> str:
    return "on" if flag else "off"


def _lab_ms(story_s: float, ctx: RenderContext) -> str:
    # nginx takes milliseconds, so the scaled value is exact to the millisecond (at least 1 ms).
    return f"{max(1, round(ctx.scale.lab_s(story_s) * 1000))}ms"


def render_conf(knobs: NginxKnobs, ctx: RenderContext, flavour: str) -> str:
    if ctx.upstream is None:
        raise ValueError(f"hop {ctx.hop!r}: nginx needs a next hop to proxy to")
    return _template().render(
        hop=ctx.hop,
        flavour=flavour,
        scale=str(ctx.scale),
        listen_port=ctx.listen_port,
        health_port=HEALTH_PORT,
        upstream=ctx.upstream,
        client_max_body_size=knobs.client_max_body_size,
        proxy_http_version=knobs.proxy_http_version,
        proxy_request_buffering=_on_off(knobs.proxy_request_buffering),
        proxy_buffering=_on_off(knobs.proxy_buffering),
        **{name: _lab_ms(getattr(knobs, name), ctx) for name in TIMEOUTS},
    )


def directive_settings(knobs: NginxKnobs, ctx: RenderContext, explicit: set[str]) -> list[Setting]:
    settings = [
        Setting("client_max_body_size", knobs.client_max_body_size, knobs.client_max_body_size,
                "client_max_body_size" in explicit),
    ]
    for name in TIMEOUTS:
        story_s = getattr(knobs, name)
        settings.append(Setting(name, format_duration(story_s), format_duration(ctx.scale.lab_s(story_s)),
                                name in explicit))
    for name in ("proxy_request_buffering", "proxy_buffering"):
        value = _on_off(getattr(knobs, name))
        settings.append(Setting(name, value, value, name in explicit))
    return settings


class NginxHop:
    name = "nginx"
    knobs = NginxKnobs

    def render(self, knobs: NginxKnobs, ctx: RenderContext) -> dict[str, str]:
        return {"nginx.conf": render_conf(knobs, ctx, flavour="plain nginx, nginx's own defaults")}

    def settings(self, knobs: NginxKnobs, ctx: RenderContext) -> list[Setting]:
        return directive_settings(knobs, ctx, set(knobs.model_fields_set))
