"""traefik v3: knobs under traefik's own option names, rendered as static and dynamic YAML.

Names map to traefik v3's paths: maxIdleConnsPerHost, dialTimeout, responseHeaderTimeout and
idleConnTimeout live under `serversTransport` (forwardingTimeouts); readTimeout, writeTimeout and
idleTimeout under the entry point's `transport.respondingTimeouts`; retryAttempts adds the retry
middleware. traefik 1.7's flags in the write-up (--maxidleconnsperhost, --retry.attempts,
--respondingtimeouts.*, --forwardingtimeouts.*) are the same settings under older names.
"""

from __future__ import annotations

from pydantic import Field

from faultlab.hops.base import AccessFields, Knobs, RenderContext, Setting, json_access
from faultlab.model.units import Duration, format_duration

HEALTH_PORT = 9901
# Go durations; traefik v3's documented defaults.
FORWARDING = ("dialTimeout", "responseHeaderTimeout", "idleConnTimeout")
RESPONDING = ("readTimeout", "writeTimeout", "idleTimeout")


class TraefikKnobs(Knobs):
    maxIdleConnsPerHost: int = 200  # noqa: N815 - traefik's own name; negative: no idle reuse at all
    dialTimeout: Duration = 30.0  # noqa: N815
    responseHeaderTimeout: Duration = 0.0  # noqa: N815 - 0: wait for ever
    idleConnTimeout: Duration = 90.0  # noqa: N815
    readTimeout: Duration = 60.0  # noqa: N815
    writeTimeout: Duration = 0.0  # noqa: N815
    idleTimeout: Duration = 180.0  # noqa: N815
    retryAttempts: int = Field(0, ge=0, le=50)  # noqa: N815 - 0: no retry middleware

    def longest_wait_s(self) -> float:
        return max(self.responseHeaderTimeout, self.readTimeout, self.dialTimeout)


def _go(seconds: float, ctx: RenderContext) -> str:
    # 0 means "no limit" to traefik, and must stay 0 whatever the scale.
    return "0s" if seconds == 0 else f"{max(1, round(ctx.scale.lab_s(seconds) * 1000))}ms"


class TraefikHop:
    name = "traefik"
    knobs = TraefikKnobs

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
log:
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
        middlewares = "      middlewares: [retry]\n" if knobs.retryAttempts else ""
        retry = (f"  middlewares:\n    retry:\n      retry:\n        attempts: {knobs.retryAttempts}\n"
                 f"        initialInterval: {_go(0.1, ctx)}\n") if knobs.retryAttempts else ""
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
        return settings
