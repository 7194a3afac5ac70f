"""nginx as a reverse proxy or load balancer: knobs named after its directives, nginx's defaults.

nginx talks HTTP to its upstream (proxy_pass, the proxy_* directives) or the uwsgi protocol
(uwsgi_pass, the uwsgi_* directives); a scenario picks with `upstream_protocol` and may only set
the directives of that family, as nginx would ignore the others. limit_conn / limit_req make it a
stand-in for a low-spec cloud load balancer: above the limit nginx answers 503 itself.
"""

from __future__ import annotations

import re
import tempfile
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal

import crossplane
import jinja2
from pydantic import Field, field_validator, model_validator

from faultlab.hops import tls
from faultlab.hops.base import (
    AccessFields,
    Knobs,
    ParsedLine,
    RenderContext,
    Setting,
    Snippet,
    ToolCheck,
    WorkspaceError,
    combined,
    compact_json,
    json_access,
    json_fields,
    lab_json_recogniser,
    story_duration,
    unix_socket_path,
    upstream_tries,
    validated,
    workspace_file,
)
from faultlab.units import Duration, format_duration, format_size, parse_size

_NGINX_SIZE = re.compile(r"^\d+[kKmMgG]?$")
_RATE = re.compile(r"^\d+r/[sm]$")
_BUFFERS = re.compile(r"^\d+ \d+[kKmM]?$")
PAGE_SIZE = 4096  # nginx's default buffer size is one memory page: 4 KiB on x86-64 and arm64 Linux
TIMEOUTS = ("connect_timeout", "send_timeout", "read_timeout")
PER_FAMILY = (*TIMEOUTS, "ignore_client_abort", "request_buffering", "buffering")
BUFFERS = ("buffer_size", "buffers", "busy_buffers_size")
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
    # Upstream keep-alive (an `upstream` block's `keepalive`; 0: none, nginx's default) and retries to the
    # next server. nginx's defaults; the ingress hop sets ingress-nginx's (see hops/ingress.py).
    upstream_keepalive: int = Field(0, ge=0, le=10_000)  # idle connections kept per worker
    upstream_keepalive_timeout: Duration = 60.0
    upstream_keepalive_requests: int = Field(1000, ge=1)
    upstream_keepalive_time: Duration = 3600.0
    proxy_next_upstream: str = "error timeout"
    # 0: no limit but the servers listed; the one upstream is listed this many times (at least once), so
    # nginx may retry the same server, as ingress-nginx's Lua balancer does with a single pod.
    proxy_next_upstream_tries: int = Field(0, ge=0, le=20)
    proxy_next_upstream_timeout: Duration = 0.0  # 0: no limit
    # The buffer for the upstream's response header (`*_buffer_size`: the whole header block must fit in
    # it), the body buffers, and how many of those may be busy sending; None: nginx's defaults (one
    # memory page, 8 pages, twice the larger of the two), checked as nginx -t checks them.
    proxy_buffer_size: str | None = None
    proxy_buffers: str | None = None  # "<number> <size>", e.g. "4 16k"
    proxy_busy_buffers_size: str | None = None
    uwsgi_buffer_size: str | None = None
    uwsgi_buffers: str | None = None
    uwsgi_busy_buffers_size: str | None = None
    # Buffers for a long request line or header line ("4 8k"): one line longer than the size is a 400.
    large_client_header_buffers: str | None = None
    # Name resolution. nginx resolves a host name in proxy_pass once, when it loads its config; `resolver`
    # is used only for names it meets at request time: proxy_pass with a variable (`upstream_variable`),
    # which is then resolved per request and cached for `resolver_valid` (default: the answer's TTL).
    resolver: str | None = None  # e.g. "127.0.0.11", Docker's embedded DNS
    resolver_valid: Duration | None = None
    upstream_variable: bool = False
    # TLS. As a server: listen with TLS for `tls_server_name` (a certificate from the lab's throwaway CA),
    # and reject the handshake of a client that names no server or another one (a default server with
    # ssl_reject_handshake, as an SNI-routed shared endpoint does). As a client: proxy_pass https://, with
    # nginx's proxy_ssl_* directives and their defaults (no SNI sent, the certificate not verified).
    tls_server_name: str | None = None
    upstream_tls: bool = False
    proxy_ssl_server_name: bool = False
    proxy_ssl_name: str | None = None
    proxy_ssl_verify: bool = False
    # The Host header sent upstream. None: the client's ($host), as the lab's hops pass it (nginx's own
    # default would be $proxy_host, the proxy_pass host); a name, for an upstream that routes by it.
    proxy_host_header: str | None = None
    # Talk to the next hop over its UNIX socket in the shared folder (unix:/srv/shared/<hop>.sock) instead
    # of TCP: a full listen queue is then an immediate error (EAGAIN), not a dropped SYN.
    upstream_unix: bool = False
    error_log_level: Literal["debug", "info", "notice", "warn", "error"] = "info"
    # Client-side timeouts: None leaves nginx's own (unscaled) default; a value is rendered scaled.
    client_header_timeout: Duration | None = None
    client_body_timeout: Duration | None = None
    keepalive_timeout: Duration | None = None
    reset_timedout_connection: bool = False

    @field_validator("client_max_body_size", mode="before")
    @classmethod
    def _nginx_size(cls, value: object) -> str:
        text = str(value).strip()
        if not _NGINX_SIZE.match(text):
            raise ValueError(f"{value!r} is not an nginx size; write e.g. '1m', '1024m', '512k' or '0'")
        return text

    @field_validator("proxy_buffer_size", "proxy_busy_buffers_size", "uwsgi_buffer_size", "uwsgi_busy_buffers_size")
    @classmethod
    def _buffer_size(cls, value: str | None) -> str | None:
        if value is not None and (not _NGINX_SIZE.match(value) or value[-1] in "gG"):
            raise ValueError(f"{value!r} is not an nginx buffer size; write e.g. '16k'")
        return value

    @field_validator("proxy_buffers", "uwsgi_buffers", "large_client_header_buffers")
    @classmethod
    def _buffers(cls, value: str | None) -> str | None:
        if value is not None and not _BUFFERS.match(value):
            raise ValueError(f"{value!r}: write a number of buffers and their size, e.g. '4 16k'")
        return value

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

    @field_validator("tls_server_name", "proxy_ssl_name", "proxy_host_header")
    @classmethod
    def _host_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", value):
            raise ValueError(f"{value!r} is not a host name, e.g. 'app.internal'")
        return value

    @field_validator("resolver")
    @classmethod
    def _resolver(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[\w.:-]+", value):
            raise ValueError(f"{value!r}: one resolver address, e.g. '127.0.0.11'")
        return value

    @model_validator(mode="after")
    def _variable_alone(self) -> NginxKnobs:
        if self.upstream_variable and (self.upstream_keepalive or self.proxy_next_upstream_tries > 1):
            raise ValueError("upstream_variable: a variable in proxy_pass names a host, not the upstream block that "
                             "keep-alive and retries need")
        if self.upstream_unix and (self.upstream_protocol != "uwsgi" or self.upstream_variable):
            raise ValueError("upstream_unix: the lab's app servers speak the uwsgi protocol on a UNIX socket "
                             "(upstream_protocol: uwsgi), at a plain address, not through a variable")
        tls_client = {"proxy_ssl_server_name", "proxy_ssl_name", "proxy_ssl_verify"} & self.model_fields_set
        if tls_client and not self.upstream_tls:
            raise ValueError(f"{', '.join(sorted(tls_client))}: these apply only with upstream_tls: true (proxy_pass "
                             "https://)")
        if self.upstream_tls and self.upstream_protocol != "http":
            raise ValueError("upstream_tls: the lab's TLS upstream speaks HTTP (proxy_pass https://)")
        if self.resolver_valid is not None and self.resolver is None:
            raise ValueError("resolver_valid: set `resolver` too")
        return self

    @model_validator(mode="after")
    def _buffers_fit(self) -> NginxKnobs:
        problem = buffers_problem(self)
        if problem:
            raise ValueError(f"nginx -t would refuse this: {problem}")
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


def _bytes(size: str) -> int:
    return parse_size(size.lower())


def buffers_problem(knobs: NginxKnobs) -> str | None:
    """What nginx -t would say about the family's buffer sizes, or None: the checks of
    ngx_http_{proxy,uwsgi}_merge_loc_conf (nginx 1.22.1, src/http/modules/), with nginx's defaults
    (buffer_size one page, buffers 8 pages, busy_buffers_size twice the larger buffer)."""
    family = knobs.family
    buffer_size = _bytes(knobs.value("buffer_size") or str(PAGE_SIZE))  # type: ignore[arg-type]
    number, _, each = str(knobs.value("buffers") or f"8 {PAGE_SIZE}").partition(" ")
    count, each_bytes = int(number), _bytes(each)
    if count < 2:
        return f'there must be at least 2 "{family}_buffers"'
    larger = max(buffer_size, each_bytes)
    busy_setting = knobs.value("busy_buffers_size")
    busy = _bytes(busy_setting) if busy_setting else 2 * larger  # type: ignore[arg-type]
    said = f"{family}_busy_buffers_size is {busy_setting}" if busy_setting else (
        f"{family}_busy_buffers_size defaults to twice the larger buffer, {format_size(busy)}")
    if busy < larger:
        return (f'"{family}_busy_buffers_size" must be equal to or greater than the maximum of '
                f'the value of "{family}_buffer_size" and one of the "{family}_buffers" ({said})')
    if busy > (count - 1) * each_bytes:
        return (f'"{family}_busy_buffers_size" must be less than the size of all '
                f'"{family}_buffers" minus one buffer ({said}; {count} - 1 buffers of {format_size(each_bytes)} '
                f'are {format_size((count - 1) * each_bytes)}): raise {family}_buffers too, e.g. '
                f'"4 {larger // 1024}k"')
    return None


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


def _resolver(knobs: NginxKnobs, ctx: RenderContext) -> str | None:
    """The resolver directive's arguments; nginx's valid= takes whole seconds."""
    if knobs.resolver is None:
        return None
    valid = knobs.resolver_valid
    return knobs.resolver + (f" valid={max(1, round(ctx.scale.lab_s(valid)))}s" if valid is not None else "")


def _next_hop_address(knobs: NginxKnobs, ctx: RenderContext) -> str | None:
    """Where proxy_pass / uwsgi_pass goes: the next hop's service, or its UNIX socket in the shared folder."""
    if knobs.upstream_unix:
        return f"unix:{unix_socket_path((ctx.upstream or 'app').split(':')[0])}"
    return ctx.upstream


def render_conf(knobs: NginxKnobs, ctx: RenderContext, flavour: str) -> str:
    if ctx.upstream is None:
        raise ValueError(f"hop {ctx.hop!r}: nginx needs a next hop to proxy to")
    upstream_directives = [(knobs.directive(name), _lab_ms(knobs.value(name), ctx)) for name in TIMEOUTS]  # type: ignore[arg-type]
    upstream_directives += [(knobs.directive(name), _on_off(knobs.value(name)))
                            for name in ("ignore_client_abort", "request_buffering", "buffering")]
    http = knobs.upstream_protocol == "http"
    if ctx.servers and not http:
        raise ValueError(f"hop {ctx.hop!r}: a drained replica needs an HTTP upstream block, not uwsgi_pass")
    upstream_block = http and (knobs.upstream_keepalive > 0 or knobs.proxy_next_upstream_tries > 1 or bool(ctx.servers))
    if knobs.upstream_variable and upstream_block:
        raise ValueError(f"hop {ctx.hop!r}: a drained replica needs an upstream block, not a variable in proxy_pass")
    if upstream_block:
        upstream_directives += [
            ("proxy_next_upstream", knobs.proxy_next_upstream),
            ("proxy_next_upstream_tries", str(knobs.proxy_next_upstream_tries)),
            ("proxy_next_upstream_timeout", _lab_ms(knobs.proxy_next_upstream_timeout, ctx)
             if knobs.proxy_next_upstream_timeout else "0"),
        ]
    upstream_directives += [(knobs.directive(name), str(knobs.value(name))) for name in BUFFERS
                            if knobs.value(name) is not None]
    if knobs.upstream_tls:
        upstream_directives += [("proxy_ssl_server_name", _on_off(knobs.proxy_ssl_server_name))]
        if knobs.proxy_ssl_name:
            upstream_directives.append(("proxy_ssl_name", knobs.proxy_ssl_name))
        upstream_directives.append(("proxy_ssl_verify", _on_off(knobs.proxy_ssl_verify)))
        if knobs.proxy_ssl_verify:
            upstream_directives.append(("proxy_ssl_trusted_certificate", f"/etc/faultlab/{TLS_FILES['ca']}"))
    client = [(name, _lab_ms(getattr(knobs, name), ctx))
              for name in ("client_header_timeout", "client_body_timeout", "keepalive_timeout")
              if getattr(knobs, name) is not None]
    if knobs.reset_timedout_connection:
        client.append(("reset_timedout_connection", "on"))
    if knobs.large_client_header_buffers:
        client.append(("large_client_header_buffers", knobs.large_client_header_buffers))
    return _template().render(
        error_log_level=knobs.error_log_level,
        client_directives=client,
        upstream_block=upstream_block,
        upstream_listing=max(1, knobs.proxy_next_upstream_tries),
        upstream_keepalive=knobs.upstream_keepalive,
        upstream_keepalive_timeout=_lab_ms(knobs.upstream_keepalive_timeout, ctx),
        upstream_keepalive_requests=knobs.upstream_keepalive_requests,
        upstream_keepalive_time=_lab_ms(knobs.upstream_keepalive_time, ctx),
        hop=ctx.hop,
        flavour=flavour,
        scale=str(ctx.scale),
        listen_port=ctx.listen_port,
        health_port=HEALTH_PORT,
        upstream=_next_hop_address(knobs, ctx),
        servers=ctx.servers or (ctx.upstream,),
        protocol=knobs.upstream_protocol,
        client_max_body_size=knobs.client_max_body_size,
        proxy_http_version=knobs.proxy_http_version,
        upstream_directives=upstream_directives,
        limit_conn=knobs.limit_conn,
        limit_req_rate=knobs.limit_req_rate,
        limit_req_burst=knobs.limit_req_burst,
        answer=knobs.answer,
        resolver=_resolver(knobs, ctx),
        upstream_variable=knobs.upstream_variable,
        scheme="https" if knobs.upstream_tls else "http",
        host_header=knobs.proxy_host_header or "$host",
        tls_server_name=knobs.tls_server_name,
        tls_files=TLS_FILES,
    )


TLS_FILES = {"certificate": "server.crt", "key": "server.key", "ca": "ca.crt"}  # in the hop's config directory


def tls_files(knobs: NginxKnobs) -> dict[str, str]:
    """The certificate and key a TLS server hop serves, the CA a verifying client trusts."""
    files: dict[str, str] = {}
    if knobs.tls_server_name:
        made = tls.material(knobs.tls_server_name)
        files |= {TLS_FILES["certificate"]: made.certificate, TLS_FILES["key"]: made.key}
    if knobs.upstream_tls and knobs.proxy_ssl_verify:
        files[TLS_FILES["ca"]] = tls.authority()
    return files


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
    for directive, value in [(knobs.directive(name), knobs.value(name)) for name in BUFFERS] + [
            ("large_client_header_buffers", knobs.large_client_header_buffers)]:
        if value is not None:
            settings.append(Setting(directive, str(value), str(value), directive in explicit))
    resolver = _resolver(knobs, ctx)
    if resolver is not None:
        settings.append(Setting("resolver", str(_resolver(knobs, ctx.at_story_time())), resolver, True))
    if knobs.tls_server_name:
        settings.append(Setting("listen … ssl; server_name", knobs.tls_server_name, knobs.tls_server_name, True))
    if knobs.upstream_tls:
        for name in ("proxy_ssl_server_name", "proxy_ssl_verify"):
            value = _on_off(getattr(knobs, name))
            settings.append(Setting(name, value, value, name in explicit))
        if knobs.proxy_ssl_name:
            settings.append(Setting("proxy_ssl_name", knobs.proxy_ssl_name, knobs.proxy_ssl_name, True))
    if knobs.proxy_host_header:
        header = f"Host {knobs.proxy_host_header}"
        settings.append(Setting("proxy_set_header", header, header, True))
    if knobs.upstream_unix:
        path = str(_next_hop_address(knobs, ctx))
        settings.append(Setting(f"{knobs.family}_pass", path, path, True))
    if knobs.upstream_variable:
        text = "through a variable: resolved per request"
        settings.append(Setting(f"{knobs.family}_pass", text, text, True))
    if knobs.limit_conn is not None:
        settings.append(Setting("limit_conn", str(knobs.limit_conn), str(knobs.limit_conn), True))
    if knobs.limit_req_rate is not None:
        rate = f"{knobs.limit_req_rate} burst={knobs.limit_req_burst}"
        settings.append(Setting("limit_req", rate, rate, True))
    if knobs.answer is not None:
        settings.append(Setting("return", str(knobs.answer), str(knobs.answer), True))
    if knobs.upstream_protocol == "http" and knobs.upstream_keepalive:
        timeout = knobs.upstream_keepalive_timeout
        story = f"{knobs.upstream_keepalive} idle, {format_duration(timeout)}"
        lab = f"{knobs.upstream_keepalive} idle, {format_duration(ctx.scale.lab_s(timeout))}"
        settings.append(Setting("upstream keepalive", story, lab,
                                bool({"upstream_keepalive", "upstream_keepalive_timeout"} & explicit)))
    if knobs.upstream_protocol == "http" and knobs.proxy_next_upstream_tries > 1:
        retries = f"{knobs.proxy_next_upstream} ×{knobs.proxy_next_upstream_tries}"
        settings.append(Setting("proxy_next_upstream", retries, retries,
                                bool({"proxy_next_upstream", "proxy_next_upstream_tries"} & explicit)))
    return settings


# What nginx writes into $upstream_status when it gave up on the upstream itself (ngx_http_upstream_next,
# src/http/ngx_http_upstream.c 1.22.1: 502 for an error or an invalid header, 504 for a timeout); any other
# status there is the upstream's answer.
OWN_FAILURES = frozenset({502, 504})


def parse_access(text: str) -> AccessFields | None:
    fields = json_access(text, request_id="request_id", status="status", forwarded="upstream_status",
                         own_failures=OWN_FAILURES)
    if fields is None or not fields.forwarded:
        return fields
    # $upstream_bytes_sent is "0" for every try whose connect failed (refused, timed out; ngx_http_upstream.c
    # counts what the upstream connection sent): nothing reached the next hop, so the evidence need not
    # wait for its line.
    sent = str((json_fields(text) or {}).get("upstream_bytes_sent", ""))
    return replace(fields, forwarded=False) if sent and all(part == "0" for part in upstream_tries(sent)) else fields


# Default formats, for diagnose ------------------------------------------------------------------

_ERROR_LINE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: ")
_UPSTREAM_SCHEME = re.compile(r'upstream: "(\w+)://')
FAMILY = frozenset({"nginx", "ingress-nginx"})  # the ingress hop is nginx: its error lines are nginx's


def recognise_error(text: str) -> ParsedLine | None:
    if not _ERROR_LINE.match(text):
        return None
    scheme = _UPSTREAM_SCHEME.search(text)
    # ingress-nginx is nginx: its error log lines are nginx's, so the line cannot say which of the two wrote it.
    return ParsedLine(text, "nginx error", FAMILY, "error", upstream_scheme=scheme[1] if scheme else None)


recognise_lab_json = lab_json_recogniser("upstream_status", FAMILY)


# nginx's `main` format: combined plus "$http_x_forwarded_for" (commented out in nginx's own conf/nginx.conf,
# switched on in the Docker image's /etc/nginx/nginx.conf). gunicorn's default format has no such field.
_MAIN_TAIL = re.compile(r'^ "[^"]*"$')


def recognise_combined(text: str) -> ParsedLine | None:
    line = combined(text)
    if line is None:
        return None
    # nginx's combined and gunicorn's default are one format: the line could be either. Neither logs the
    # upstream's status, so the lab-format twin leaves it out (signatures that need it do not match).
    canonical = compact_json({"status": line.status, "method": line.method, "uri": line.uri})
    if not line.rest.strip():
        return ParsedLine(text, "combined access (nginx or gunicorn)", frozenset({"nginx", "gunicorn"}), "access",
                          (line.status,), canonical)
    if _MAIN_TAIL.match(line.rest):
        return ParsedLine(text, "nginx main access", FAMILY, "access", (line.status,), canonical)
    return None


# A custom `log_format` of key=value pairs that logs the upstream's status beside the client's ("status=504 …
# upstream_status=504", or a short name such as "upstat=504"): the same two fields as the lab's format.
_KV_STATUS = re.compile(r'(?:^|\s)status="?([1-5]\d\d)\b')
_KV_UPSTREAM_STATUS = re.compile(r'(?:^|\s)up\w*stat\w*="?([\d, :-]+?)"?(?:\s|$)')
_KV_REQUEST = re.compile(r'(?:^|\s)request="(\w+) (\S+)')


def recognise_key_value(text: str) -> ParsedLine | None:
    status, upstream = _KV_STATUS.search(text), _KV_UPSTREAM_STATUS.search(text)
    if status is None or upstream is None:
        return None
    request = _KV_REQUEST.search(text)
    canonical = lab_json(int(status[1]), upstream[1], request[1] if request else "", request[2] if request else "")
    return ParsedLine(text, "nginx key=value access (custom log_format)", FAMILY, "access", (int(status[1]),),
                      canonical)


# The page nginx writes for an error it answers itself (src/http/ngx_http_special_response.c, 1.22.1): the
# status in <title>, and "<center>nginx</center>" (or "nginx/1.22.1", or openresty's name) at the foot.
# A page is many lines; logformats.unwrapped joins them. A 502 or 504 page nginx wrote is its own failure
# to get an answer (an upstream's own error page passes through as the upstream wrote it).
_ERROR_PAGE = re.compile(r"<title>([1-5]\d\d) [^<]*</title>.*<center>(?:nginx|openresty)(?:/[\d.]+)?</center>",
                         re.IGNORECASE | re.DOTALL)


def recognise_error_page(text: str) -> ParsedLine | None:
    page = _ERROR_PAGE.search(text)
    if page is None:
        return None
    status = int(page[1])
    upstream = str(status) if status in OWN_FAILURES else "-"
    return ParsedLine(text, "nginx error page", FAMILY, "access", (status,), lab_json(status, upstream, "", ""))


def lab_json(status: int, upstream_status: str, method: str, uri: str) -> str:
    """An nginx access event in the lab's JSON format (for default formats that carry the same fields)."""
    return compact_json({"status": status, "upstream_status": upstream_status, "method": method, "uri": uri})


NOTABLE = re.compile(r"\[(?:error|crit|alert|emerg)\]")
_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: (?:\*\d+ )?")


def message(text: str) -> str:
    """`2026/11/24 10:03:00 [error] 45#45: *1021 upstream … , client: …` → `[error] upstream …`"""
    text = _PREFIX.sub(r"[\1] ", text.strip())
    return text.split(", client: ")[0]


# The fix, as nginx.conf ----------------------------------------------------------------------------
Block = tuple[str, int]  # the block's header ("location /") and its place among same-named siblings


@dataclass(frozen=True)
class Statement:
    path: tuple[Block, ...]
    text: str  # the directive and its arguments, single-spaced, without the ";"


def _tokens(conf: str) -> Iterator[str]:
    index, end = 0, len(conf)
    while index < end:
        char = conf[index]
        if char.isspace():
            index += 1
        elif char == "#":
            index = conf.find("\n", index)
            index = end if index < 0 else index
        elif char in "{};":
            yield char
            index += 1
        elif char in "'\"":
            close = index + 1
            while close < end and conf[close] != char:
                close += 2 if conf[close] == "\\" else 1
            yield conf[index:close + 1]
            index = close + 1
        else:
            start = index
            while index < end and not conf[index].isspace() and conf[index] not in "{};'\"#":
                index += 1
            yield conf[start:index]


def statements(conf: str) -> list[Statement]:
    """Every simple directive of an nginx config with the path of blocks around it, in file order."""
    found: list[Statement] = []
    path: list[Block] = []
    siblings: list[dict[str, int]] = [{}]
    words: list[str] = []
    for token in _tokens(conf):
        if token == "{":
            header = " ".join(words)
            ordinal = siblings[-1].get(header, 0)
            siblings[-1][header] = ordinal + 1
            path.append((header, ordinal))
            siblings.append({})
            words = []
        elif token == "}":
            path.pop()
            siblings.pop()
        elif token == ";":
            found.append(Statement(tuple(path), " ".join(words)))
            words = []
        else:
            words.append(token)
    return found


def _zone_of(statement: Statement) -> str | None:
    # limit_conn_zone / limit_req_zone … zone=NAME:size define a zone that other directives use by name.
    name = statement.text.split()[0]
    if not name.endswith("_zone"):
        return None
    for word in statement.text.split()[1:]:
        if word.startswith("zone="):
            return word.removeprefix("zone=").split(":")[0]
    return None


def _uses_zone(statement: Statement, zone: str) -> bool:
    return _zone_of(statement) is None and any(word in (zone, f"zone={zone}") for word in statement.text.split())


def changed(before: str, after: str) -> tuple[list[Statement], list[Statement]]:
    """(directives to write, directives to delete): what `after` has that `before` has not, and the
    other way round; a zone definition comes along with a changed directive that uses the zone."""
    old, new = statements(before), statements(after)
    added = [s for s in new if s not in old]
    rewritten = {(s.path, s.text.split()[0]) for s in added}
    removed = [s for s in old if s not in new and (s.path, s.text.split()[0]) not in rewritten]
    for definition in (s for s in new if _zone_of(s)):
        if definition not in added and any(_uses_zone(s, _zone_of(definition) or "") for s in added):
            added.append(definition)
    added.sort(key=new.index)
    return added, removed


def format_statements(found: list[Statement], removed: list[Statement] | None = None) -> str:
    """Nested blocks around the directives; `removed` ones are written as comments after the others."""
    lines: list[str] = []
    open_path: tuple[Block, ...] = ()
    marked = [(s, False) for s in found] + [(s, True) for s in removed or []]
    for statement, is_removed in marked:
        common = 0
        while common < min(len(open_path), len(statement.path)) and open_path[common] == statement.path[common]:
            common += 1
        for depth in range(len(open_path) - 1, common - 1, -1):
            lines.append("    " * depth + "}")
        for depth in range(common, len(statement.path)):
            lines.append("    " * depth + statement.path[depth][0] + " {")
        open_path = statement.path
        text = " ".join(story_duration(word) for word in statement.text.split())
        indent = "    " * len(statement.path)
        lines.append(f"{indent}# remove: {text};" if is_removed else f"{indent}{text};")
    for depth in range(len(open_path) - 1, -1, -1):
        lines.append("    " * depth + "}")
    return "\n".join(lines) + "\n"




def export_conf(before: str, after: str, hop: str) -> list[Snippet]:
    added, removed = changed(before, after)
    if not added and not removed:
        return []
    return [Snippet("nginx", hop, "nginx.conf", format_statements(added, removed))]


# Practice mode: the learner's nginx.conf ------------------------------------------------------------
# The directives a learner may change, each read into the knob of the same name; inside an `upstream` block
# the keep-alive directives are the upstream's. Everything else in the file is the lab's plumbing (log
# format, request ids, ports) and must stay as it is: the reader renders the knobs again and compares.
READABLE = ("client_max_body_size", "client_header_timeout", "client_body_timeout", "keepalive_timeout",
            "reset_timedout_connection", "large_client_header_buffers", "proxy_http_version",
            "proxy_next_upstream", "proxy_next_upstream_tries", "proxy_ssl_server_name", "proxy_ssl_name",
            "proxy_ssl_verify",
            *(f"{family}_{name}" for family in ("proxy", "uwsgi") for name in (*PER_FAMILY, *BUFFERS)))
READABLE_UPSTREAM = {"keepalive": "upstream_keepalive", "keepalive_timeout": "upstream_keepalive_timeout",
                     "keepalive_requests": "upstream_keepalive_requests", "keepalive_time": "upstream_keepalive_time"}
_TIME_KNOBS = frozenset({f"{family}_{name}" for family in ("proxy", "uwsgi") for name in TIMEOUTS} | {
    "client_header_timeout", "client_body_timeout", "keepalive_timeout", "upstream_keepalive_timeout",
    "upstream_keepalive_time"})
_FLAG_KNOBS = frozenset({f"{family}_{name}" for family in ("proxy", "uwsgi")
                         for name in ("ignore_client_abort", "request_buffering", "buffering")} | {
    "reset_timedout_connection", "proxy_ssl_server_name", "proxy_ssl_verify"})
_INT_KNOBS = frozenset({"proxy_next_upstream_tries", "upstream_keepalive", "upstream_keepalive_requests"})
# nginx's time units (ngx_parse_time, src/core/ngx_parse.c): a number alone is seconds.
_NGINX_TIME = re.compile(r"(\d+)(ms|s|m|h|d|w|M|y)?")
_NGINX_TIME_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000, "y": 31536000,
                 None: 1}
_WHOLE_SECONDS = re.compile(r"(?<=\s)(\d+)000ms(?=;)")
PRACTICE_HEADER = """\
# {hop}'s nginx.conf as the lab starts it with, in real (story) time: practice mode's check scales every
# duration by the scenario's time scale. Practice mode applies these directives (add, change or remove them):
{readable}
# proxy_set_header Host, and, in an upstream block, keepalive, keepalive_timeout, keepalive_requests and
# keepalive_time.
# The rest is the lab's plumbing (ports, log format, request ids) and stays as it is.
"""

Found = tuple[tuple[str, ...], str, tuple[str, ...], int]  # block path, directive, arguments, line


def nginx_time_s(text: str) -> float:
    """`60`, `60s`, `1m30s`, `500ms` → seconds, as nginx reads a time."""
    if not text or _NGINX_TIME.sub("", text):
        raise ValueError(f"{text!r} is not an nginx time, e.g. 60s, 10m or 500ms")
    return sum(int(number) * _NGINX_TIME_S[unit or None] for number, unit in _NGINX_TIME.findall(text))


def _flatten(parsed: list[dict[str, Any]], path: tuple[str, ...] = ()) -> Iterator[Found]:
    ordinals: Counter[str] = Counter()
    for item in parsed:
        if "block" in item:
            header = " ".join([item["directive"], *item["args"]])
            yield from _flatten(item["block"], (*path, f"{header} #{ordinals[header]}"))
            ordinals[header] += 1
        else:
            yield path, item["directive"], tuple(item["args"]), item["line"]


def parse_file(path: Path, shown: str) -> list[Found]:
    """Every directive of one nginx config file (its includes are not followed), by crossplane."""
    payload = crossplane.parse(str(path), single=True, comments=False, strict=False, catch_errors=True)
    for config in payload["config"]:
        for error in config["errors"]:
            raise WorkspaceError(f"{shown}:{error.get('line') or '?'}: {error['error'].split(' in /')[0]}",
                                 tip="fix the line, or `{prog} practice diff` to see what you changed")
    return list(_flatten(payload["config"][0]["parsed"])) if payload["config"] else []


def _parse_text(text: str) -> list[Found]:
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as conf:
        conf.write(text)
        conf.flush()
        return parse_file(Path(conf.name), "nginx.conf")


def _knob_of(found: Found) -> str | None:
    path, directive, args, _ = found
    if any(block.startswith("upstream ") for block in path):
        return READABLE_UPSTREAM.get(directive)
    if directive == "proxy_set_header" and args[:1] and args[0].lower() == "host":
        return "proxy_host_header"  # the Host header sent upstream ($host: the client's, the lab's default)
    return directive if directive in READABLE else None


def _value(knob: str, args: tuple[str, ...]) -> object:
    if knob == "proxy_host_header":
        return None if args[1:] == ("$host",) else " ".join(args[1:])
    if knob in _TIME_KNOBS:
        return nginx_time_s(args[0]) if len(args) == 1 else " ".join(args)
    if knob in _FLAG_KNOBS:
        return {"on": True, "off": False}.get(args[0], args[0]) if len(args) == 1 else " ".join(args)
    if knob in _INT_KNOBS and len(args) == 1 and args[0].isdigit():
        return int(args[0])
    return " ".join(args)


def _normal(found: Found) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """A directive as the comparison sees it: times in seconds, so 60s, 1m and 60000ms are one value."""
    path, directive, args, _ = found
    knob = _knob_of(found)
    if knob in _TIME_KNOBS and len(args) == 1:
        try:
            return path, directive, (f"{nginx_time_s(args[0]):g}",)
        except ValueError:
            pass
    return path, directive, args


def _show(found: Found) -> str:
    return " ".join([found[1], *found[2]]) + ";"


def practice_conf(rendered: str, hop: str) -> str:
    """A rendered story-time nginx.conf as the learner reads it: the practice header, whole seconds."""
    lines = rendered.splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    readable = textwrap.wrap(", ".join(READABLE), 110, initial_indent="#   ", subsequent_indent="#   ")
    header = PRACTICE_HEADER.format(hop=hop, readable="\n".join(readable))
    return header + _WHOLE_SECONDS.sub(lambda match: f"{match[1]}s", "".join(lines))


def read_conf(directory: Path, base: NginxKnobs, rendered: Callable[[NginxKnobs], str], hop: str,
              knobs_type: type[NginxKnobs]) -> NginxKnobs:
    """The knobs a learner's nginx.conf says: the readable directives read into knobs, then rendered again,
    which must give back the learner's file directive for directive (else the file changes what the
    lab cannot run, and the message names the line)."""
    shown, _ = workspace_file(directory, "nginx.conf", hop)
    mine = parse_file(directory / "nginx.conf", shown)
    start = _parse_text(rendered(base))
    data = base.model_dump(mode="json", exclude_unset=True)
    seen: dict[str, Found] = {}
    for found in mine:
        knob = _knob_of(found)
        if knob is None:
            continue
        if knob in seen:
            raise WorkspaceError(f"{shown}:{found[3]}: \"{found[1]}\" directive is duplicate (line {seen[knob][3]})")
        seen[knob] = found
        try:
            value = _value(knob, found[2])
        except ValueError as exc:
            raise WorkspaceError(f"{shown}:{found[3]}: {exc}") from None
        if value is None:
            data.pop(knob, None)
        else:
            data[knob] = value
    for found in start:
        knob = _knob_of(found)
        if knob is not None and knob not in seen:
            data.pop(knob, None)  # a directive taken out: nginx's default (the knob's)
    knobs = validated(knobs_type, data, shown)
    again = Counter(_normal(found) for found in _parse_text(rendered(knobs)))
    for found in mine:
        key = _normal(found)
        if again[key] > 0:
            again[key] -= 1
            continue
        raise WorkspaceError(
            f"{shown}:{found[3]}: `{_show(found)}` is outside what practice mode runs (the file's header lists "
            "the directives it applies; the rest must stay as the lab wrote it)",
            tip="undo that line (`{prog} practice diff` shows your changes)")
    for key, count in again.items():
        # A readable directive left out is nginx's default, which the lab writes out.
        if count > 0 and _knob_of((*key, 0)) is None:
            raise WorkspaceError(f"{shown}: `{' '.join([key[1], *key[2]])};` is gone, and the lab needs it "
                                 f"({' > '.join(block.rsplit(' #', 1)[0] for block in key[0]) or 'main'})",
                                 tip="put it back (`{prog} practice diff` shows your changes)")
    return knobs


class NginxHop:
    name = "nginx"
    family = "nginx"
    runs_app = False
    reload_signal = "HUP"  # it re-reads its config and resolves its upstreams; old workers finish their requests
    fix_format = "nginx"
    knobs = NginxKnobs
    notable = NOTABLE
    recognisers = (recognise_lab_json, recognise_error, recognise_combined, recognise_key_value, recognise_error_page)
    parse_access = staticmethod(parse_access)
    message = staticmethod(message)

    def render(self, knobs: NginxKnobs, ctx: RenderContext) -> dict[str, str]:
        return {"nginx.conf": render_conf(knobs, ctx, flavour="plain nginx, nginx's own defaults"),
                **tls_files(knobs)}

    def settings(self, knobs: NginxKnobs, ctx: RenderContext) -> list[Setting]:
        return directive_settings(knobs, ctx, set(knobs.model_fields_set))

    @staticmethod
    def upstream_scheme(knobs: NginxKnobs) -> str:
        return "https" if knobs.upstream_tls else knobs.upstream_protocol

    def export(self, ctx: RenderContext, before: NginxKnobs, after: NginxKnobs) -> list[Snippet]:
        story = ctx.at_story_time()
        return export_conf(self.render(before, story)["nginx.conf"], self.render(after, story)["nginx.conf"], ctx.hop)

    readable = frozenset(READABLE) | frozenset(READABLE_UPSTREAM.values()) | {"proxy_host_header"}
    # nginx -t is the authority on a file's syntax and values: its words are what a learner sees at work.
    tool_check = ToolCheck("nginx", "nginx.conf", ("nginx", "-t", "-c", "{file}"), noise=("test failed",))

    def workspace(self, knobs: NginxKnobs, ctx: RenderContext) -> dict[str, str]:
        return {"nginx.conf": practice_conf(self.render(knobs, ctx.at_story_time())["nginx.conf"], ctx.hop)}

    def read_workspace(self, directory: Path, base: NginxKnobs, ctx: RenderContext) -> NginxKnobs:
        return read_conf(directory, base, lambda knobs: self.workspace(knobs, ctx)["nginx.conf"], ctx.hop,
                         NginxKnobs)
