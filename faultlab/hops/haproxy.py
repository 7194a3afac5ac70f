"""HAProxy (Debian 2.6) as the stand-in for a cloud load balancer that does not retry (an AWS ALB).

Knobs use HAProxy's directive names, except `idle_timeout`, the ALB's one idle timeout (attribute
`idle_timeout.timeout_seconds`, 60 s by default), which the renderer spreads over the directives that
play its part. HAProxy 2.6 has no idle timeout for pooled server connections: a purge task closes
about half of the surplus idle ones every `pool-purge-delay` (doc/configuration.txt; src/server.c
srv_cleanup_idle_conns, 2.6.0). The renderer sets the delay to a third of the idle timeout. Measured
in the lab (HAProxy 2.6.12, delay 20 s): one idle connection was closed 60 s after its last use, as an
ALB's would be; of 40 left idle by a burst, 11 were closed at 59 s, 29 lived on (18 at 80 s, 10 at
100 s). So the stand-in keeps some connections longer than an ALB, never shorter. `http-reuse always`
lets any request take any idle connection, as an ALB does across clients (HAProxy's default `safe`
never sends a client connection's first request on one).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from faultlab.hops.base import (
    AccessFields,
    Knobs,
    NamesNoUpstream,
    ParsedLine,
    RenderContext,
    Setting,
    Snippet,
    compact_json,
    json_fields,
    lab_json_recogniser,
)
from faultlab.units import Duration, format_duration

HEALTH_PORT = 9901
NO_SERVER = "<NOSRV>"  # %s when HAProxy answered without picking a server
# The lab's JSON access line; key order is the canonical twin's (diagnose) order after request_id.
LOG_FORMAT = ('{"request_id":"%[capture.req.hdr(0),json(utf8s)]","status":%ST,"termination_state":"%tsc",'
              '"server":"%s","method":"%HM","uri":"%[capture.req.uri,json(utf8s)]","Tc":%Tc,"Tr":%Tr,"Ta":%Ta,'
              '"retries":%rc,"backend_port":"%bp"}')


class HaproxyKnobs(Knobs):
    idle_timeout: Duration = Field(60.0, gt=0)  # the ALB's idle timeout (60 s by default)
    timeout_connect: Duration = Field(10.0, gt=0)  # an ALB gives up connecting to a target after 10 s
    http_reuse: Literal["never", "safe", "aggressive", "always"] = "always"
    retries: int = Field(0, ge=0, le=10)  # an ALB does not retry; HAProxy's own default is 3
    retry_on: str = Field("none", pattern=r"^[a-z0-9 -]+$")  # HAProxy's own default: conn-failure
    maxconn: int | None = Field(None, ge=1, le=100_000)  # per server; None: no limit

    def longest_wait_s(self) -> float:
        return self.idle_timeout

    def directives(self) -> dict[str, float]:
        """The HAProxy timeouts `idle_timeout` stands for, in story seconds."""
        idle = self.idle_timeout
        return {"timeout client": idle, "timeout http-keep-alive": idle, "timeout server": idle,
                "pool-purge-delay": idle / 3}


def _ms(seconds: float, ctx: RenderContext) -> str:
    """HAProxy takes milliseconds; whole seconds are written as such, so the fix export reads "60s"."""
    ms = max(1, round(ctx.scale.lab_s(seconds) * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


# Default formats, for diagnose: `option httplog`, with or without a syslog prefix
# ("%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc …", doc/configuration.txt 8.2.3) ----------

_HTTPLOG = re.compile(
    r"(?:^|\s)\S+:\d+ \[[^\]]+\] \S+ (?P<backend>[^/\s]+)/(?P<server>\S+) "
    r"-?\d+/-?\d+/(?P<Tc>-?\d+)/(?P<Tr>-?\d+)/\+?(?P<Ta>-?\d+) (?P<status>\d{3}) \+?\d+ \S+ \S+ "
    r"(?P<tsc>[A-Za-z-]{4}) \d+/\d+/\d+/\d+/\+?(?P<retries>\d+) \d+/\d+ (?:\{[^}]*\} )*"
    r'"(?P<method>[A-Z]+) (?P<uri>\S+)')
_OWN = re.compile(r"^\[(?:NOTICE|WARNING|ALERT)\] +\(\d+\) : |haproxy\[\d+\]: ")
NOTABLE = re.compile(r"^\[(?:WARNING|ALERT)\]")


def recognise_log(text: str) -> ParsedLine | None:
    line = _HTTPLOG.search(text)
    if line:
        status = int(line["status"])
        canonical = compact_json({"status": status, "termination_state": line["tsc"], "server": line["server"],
                                  "method": line["method"], "uri": line["uri"], "Tc": int(line["Tc"]),
                                  "Tr": int(line["Tr"]), "Ta": int(line["Ta"]), "retries": int(line["retries"])})
        return ParsedLine(text, "haproxy httplog", frozenset({"haproxy"}), "access", (status,), canonical)
    if _OWN.search(text):
        return ParsedLine(text, "haproxy log", frozenset({"haproxy"}), "error")
    return None


# An AWS Application (or Classic) Load Balancer's access-log entry, which the hop stands in for. Fields
# (docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html): type, time,
# elb, client:port, target:port, request/target/response processing times (-1: the load balancer could not
# dispatch the request, e.g. the target closed the connection), elb_status_code, target_status_code ("-":
# no answer from the target), received and sent bytes, "request". Read from the times on: a pasted entry
# often masks the addresses with words ("<<node.js EC2 local ip>>:80").
_AWS_LB = re.compile(r'^(?:(?:https?|h2|grpcs|wss?) )?\d{4}-\d\d-\d\dT[\d:.]+Z \S+ .*? '
                     r'-?\d+(?:\.\d+)? -?\d+(?:\.\d+)? -?\d+(?:\.\d+)? (?P<status>\d{3}|-) (?:\d{3}|-) \d+ \d+ "')


def recognise_aws_lb(text: str) -> ParsedLine | None:
    line = _AWS_LB.match(text)
    if not line:
        return None
    statuses = (int(line["status"]),) if line["status"] != "-" else ()
    return ParsedLine(text, "AWS load balancer access", frozenset({"haproxy"}), "access", statuses)


recognise_lab_json = lab_json_recogniser("termination_state", frozenset({"haproxy"}))


class HaproxyHop(NamesNoUpstream):
    name = "haproxy"
    family = "haproxy"
    runs_app = False
    reload_signal = None
    fix_format = "haproxy"
    knobs = HaproxyKnobs
    notable = NOTABLE
    recognisers = (recognise_lab_json, recognise_log, recognise_aws_lb)

    @staticmethod
    def message(text: str) -> str:
        return text.strip()

    @staticmethod
    def parse_access(text: str) -> AccessFields | None:
        fields = json_fields(text)
        if fields is None or "termination_state" not in fields:
            return None
        try:
            return AccessFields(str(fields["request_id"]), int(fields["status"]), fields.get("server") != NO_SERVER)
        except (KeyError, TypeError, ValueError):
            return None

    def backend(self, knobs: HaproxyKnobs, ctx: RenderContext) -> dict[str, str]:
        """The backend's directives (name → value) the lab sets, for the config and the fix export."""
        server = f"{ctx.upstream or 'app:8000'} pool-purge-delay {_ms(knobs.directives()['pool-purge-delay'], ctx)}"
        if knobs.maxconn is not None:
            server += f" maxconn {knobs.maxconn}"
        return {"http-reuse": knobs.http_reuse, "retries": str(knobs.retries), "retry-on": knobs.retry_on,
                "server": f"app1 {server}"}

    def timeouts(self, knobs: HaproxyKnobs, ctx: RenderContext) -> dict[str, str]:
        timeouts = {name: _ms(story, ctx) for name, story in knobs.directives().items() if name.startswith("timeout")}
        return {"timeout connect": _ms(knobs.timeout_connect, ctx), **timeouts}

    def render(self, knobs: HaproxyKnobs, ctx: RenderContext) -> dict[str, str]:
        defaults = "\n".join(f"    {name} {value}" for name, value in self.timeouts(knobs, ctx).items())
        backend = "\n".join(f"    {name} {value}" for name, value in self.backend(knobs, ctx).items())
        config = f"""# Rendered by faultlab for hop {ctx.hop!r}: HAProxy as a load balancer that does not retry.
# Time scale {ctx.scale}: every timeout is story × scale; idle timeout {format_duration(knobs.idle_timeout)} (story).
global
    log stdout format raw local0
    nbthread 1  # one pool of idle server connections, purged as one
    pidfile /tmp/haproxy.pid

defaults
    mode http
    log global
    option dontlognull
    no option redispatch
{defaults}

frontend health
    bind :{HEALTH_PORT}
    no log
    http-request return status 200

frontend lb
    bind :{ctx.listen_port}
    http-request capture req.hdr(x-request-id) len 64
    log-format '{LOG_FORMAT}'
    default_backend app

backend app
{backend}
"""
        return {"haproxy.cfg": config}

    def settings(self, knobs: HaproxyKnobs, ctx: RenderContext) -> list[Setting]:
        explicit = knobs.model_fields_set
        idle = "idle_timeout" in explicit
        settings = [Setting(name, format_duration(story), _ms(story, ctx), idle)
                    for name, story in knobs.directives().items()]
        settings += [Setting("http-reuse", knobs.http_reuse, knobs.http_reuse, "http_reuse" in explicit),
                     Setting("retries", str(knobs.retries), str(knobs.retries), "retries" in explicit),
                     Setting("retry-on", knobs.retry_on, knobs.retry_on, "retry_on" in explicit)]
        if knobs.maxconn is not None:
            settings.append(Setting("maxconn", str(knobs.maxconn), str(knobs.maxconn), True))
        return settings

    def export(self, ctx: RenderContext, before: HaproxyKnobs, after: HaproxyKnobs) -> list[Snippet]:
        story = ctx.at_story_time()
        sections = []
        for section, parts in (("defaults", self.timeouts), ("backend app", self.backend)):
            old, new = parts(before, story), parts(after, story)
            changed = [f"    {name} {value}" for name, value in new.items() if old.get(name) != value]
            if changed:
                sections.append("\n".join([section, *changed]))
        if not sections:
            return []
        note = ""
        if before.idle_timeout != after.idle_timeout:
            note = (f"# On an AWS ALB this is one attribute: idle_timeout.timeout_seconds = "
                    f"{round(after.idle_timeout)}\n")
        return [Snippet("haproxy", ctx.hop, "haproxy.cfg", note + "\n\n".join(sections) + "\n")]
