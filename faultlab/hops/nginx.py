"""nginx as a reverse proxy or load balancer: knobs named after its directives, nginx's defaults.

nginx talks HTTP to its upstream (proxy_pass, the proxy_* directives) or the uwsgi protocol
(uwsgi_pass, the uwsgi_* directives); a scenario picks with `upstream_protocol` and may only set
the directives of that family, as nginx would ignore the others. limit_conn / limit_req make it a
stand-in for a low-spec cloud load balancer: above the limit nginx answers 503 itself.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Literal

import jinja2
from pydantic import Field, field_validator, model_validator

from faultlab.hops.base import AccessFields, Knobs, RenderContext, Setting, json_access
from faultlab.model.units import Duration, format_duration

_NGINX_SIZE = re.compile(r"^\d+[kKmMgG]?$")
_RATE = re.compile(r"^\d+r/[sm]$")
TIMEOUTS = ("connect_timeout", "send_timeout", "read_timeout")
PER_FAMILY = (*TIMEOUTS, "ignore_client_abort", "request_buffering", "buffering")
HEALTH_PORT = 9901  # compose files probe it (FAULTLAB_HEALTH_PORT)


class NginxKnobs(Knobs):
    upstream_protocol: Literal["http", "uwsgi"] = "http"
    client_max_body_size: str = "1m"  # nginx size syntax; "0" turns the check off
    proxy_connect_timeout: Duration = 60.0
    proxy_send_timeout: Duration = 60.0
    proxy_read_timeout: Duration = 60.0
    proxy_ignore_client_abort: bool = False
    proxy_request_buffering: bool = True
    proxy_buffering: bool = True
    proxy_http_version: Literal["1.0", "1.1"] = "1.0"
    uwsgi_connect_timeout: Duration = 60.0
    uwsgi_send_timeout: Duration = 60.0
    uwsgi_read_timeout: Duration = 60.0
    uwsgi_ignore_client_abort: bool = False
    uwsgi_request_buffering: bool = True
    uwsgi_buffering: bool = True
    limit_conn: int | None = Field(None, ge=1)  # concurrent connections for the whole server
    limit_req_rate: str | None = None  # e.g. "50r/s", for the whole server
    limit_req_burst: int = Field(0, ge=0)
    answer: int | None = Field(None, ge=200, le=599)  # `return N` for every request: a stand-in backend

    @field_validator("client_max_body_size", mode="before")
    @classmethod
    def _nginx_size(cls, value: object) -> str:
        text = str(value).strip()
        if not _NGINX_SIZE.match(text):
            raise ValueError(f"{value!r} is not an nginx size; write e.g. '1m', '1024m', '512k' or '0'")
        return text

    @field_validator("limit_req_rate")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        if value is not None and not _RATE.match(value):
            raise ValueError(f"{value!r} is not an nginx rate; write e.g. '50r/s' or '600r/m'")
        return value

    @model_validator(mode="after")
    def _one_family(self) -> NginxKnobs:
        other = "uwsgi" if self.upstream_protocol == "http" else "proxy"
        stray = sorted(name for name in self.model_fields_set if name.startswith(f"{other}_"))
        if stray:
            raise ValueError(f"{', '.join(stray)}: these apply only with upstream_protocol: "
                             f"{'uwsgi' if other == 'uwsgi' else 'http'} (this hop talks {self.upstream_protocol})")
        return self

    @property
    def family(self) -> str:
        return "proxy" if self.upstream_protocol == "http" else "uwsgi"

    def directive(self, name: str) -> str:
        return f"{self.family}_{name}"

    def value(self, name: str) -> object:
        return getattr(self, self.directive(name))

    def longest_wait_s(self) -> float:
        return max(float(self.value(name)) for name in TIMEOUTS)  # type: ignore[arg-type]


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("faultlab.hops", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("nginx.conf.j2")


def _on_off(flag: object) -> str:
    return "on" if flag else "off"


def _lab_ms(story_s: float, ctx: RenderContext) -> str:
    # nginx takes milliseconds, so the scaled value is exact to the millisecond (at least 1 ms).
    return f"{max(1, round(ctx.scale.lab_s(story_s) * 1000))}ms"


def render_conf(knobs: NginxKnobs, ctx: RenderContext, flavour: str) -> str:
    if ctx.upstream is None:
        raise ValueError(f"hop {ctx.hop!r}: nginx needs a next hop to proxy to")
    upstream_directives = [(knobs.directive(name), _lab_ms(knobs.value(name), ctx)) for name in TIMEOUTS]  # type: ignore[arg-type]
    upstream_directives += [(knobs.directive(name), _on_off(knobs.value(name)))
                            for name in ("ignore_client_abort", "request_buffering", "buffering")]
    return _template().render(
        hop=ctx.hop,
        flavour=flavour,
        scale=str(ctx.scale),
        listen_port=ctx.listen_port,
        health_port=HEALTH_PORT,
        upstream=ctx.upstream,
        protocol=knobs.upstream_protocol,
        client_max_body_size=knobs.client_max_body_size,
        proxy_http_version=knobs.proxy_http_version,
        upstream_directives=upstream_directives,
        limit_conn=knobs.limit_conn,
        limit_req_rate=knobs.limit_req_rate,
        limit_req_burst=knobs.limit_req_burst,
        answer=knobs.answer,
    )


def directive_settings(knobs: NginxKnobs, ctx: RenderContext, explicit: set[str]) -> list[Setting]:
    settings = [Setting("client_max_body_size", knobs.client_max_body_size, knobs.client_max_body_size,
                        "client_max_body_size" in explicit)]
    for name in PER_FAMILY:
        directive, value = knobs.directive(name), knobs.value(name)
        if name in TIMEOUTS:
            story, lab = format_duration(value), format_duration(ctx.scale.lab_s(value))  # type: ignore[arg-type]
        else:
            story = lab = _on_off(value)
        settings.append(Setting(directive, story, lab, directive in explicit))
    if knobs.limit_conn is not None:
        settings.append(Setting("limit_conn", str(knobs.limit_conn), str(knobs.limit_conn), True))
    if knobs.limit_req_rate is not None:
        rate = f"{knobs.limit_req_rate} burst={knobs.limit_req_burst}"
        settings.append(Setting("limit_req", rate, rate, True))
    if knobs.answer is not None:
        settings.append(Setting("return", str(knobs.answer), str(knobs.answer), True))
    return settings


def parse_access(text: str) -> AccessFields | None:
    return json_access(text, request_id="request_id", status="status", forwarded="upstream_status")


class NginxHop:
    name = "nginx"
    knobs = NginxKnobs
    parse_access = staticmethod(parse_access)

    def render(self, knobs: NginxKnobs, ctx: RenderContext) -> dict[str, str]:
        return {"nginx.conf": render_conf(knobs, ctx, flavour="plain nginx, nginx's own defaults")}

    def settings(self, knobs: NginxKnobs, ctx: RenderContext) -> list[Setting]:
        return directive_settings(knobs, ctx, set(knobs.model_fields_set))
