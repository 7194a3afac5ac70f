"""traefik v3's kubernetesIngressNGINX provider: the real traefik reading an Ingress with ingress-nginx annotations.

The knobs are the Ingress's own (`annotations`, as for the ingress-nginx hop), so one scenario can give
the same Ingress object to both. The render is what a cluster would hold: the Ingress, its Service and
EndpointSlice, and an IngressClass `nginx`, in `objects.json` for the lab's Kubernetes API stand-in
(faultlab/data/apps/kubeapi.py, the topology's `kubeapi` service), and traefik's static configuration
pointing the provider at it. traefik itself translates the annotations (read in traefik v3.7,
pkg/provider/kubernetes/ingress-nginx/); the lab never does.

Durations in the timeout annotations are whole seconds (strconv.Atoi in parseIngressConfig,
annotations.go), so the time scale is applied to those that parse and rounded up to a whole second;
a value that does not parse is passed on as written, and traefik drops it without a log line (measured,
tests/scenarios/test_kubeapi.py).
"""

from __future__ import annotations

import json
from typing import Any

from faultlab.hops.base import AccessFields, Knobs, NamesNoUpstream, RenderContext, Setting, Snippet
from faultlab.hops.ingress import PREFIX, IngressHop, IngressKnobs, manifest
from faultlab.hops.traefik import HEALTH_PORT, LOGS, NOTABLE, message
from faultlab.units import TimeScale, format_duration

KUBEAPI = "kubeapi"  # the topology's stand-in service; it reads this hop's objects.json
KUBEAPI_PORT = 8080
NAMESPACE = "default"
# The annotations traefik reads as whole seconds (annotations.go: ProxyConnectTimeout *int; read and send
# timeouts are ints too), and the provider's own connect timeout when none is set (60 s, provider docs).
SECONDS = ("proxy-connect-timeout", "proxy-read-timeout", "proxy-send-timeout")
PROVIDER_CONNECT_S = 60.0
DEFAULT_READ_S = 60.0  # traefik's default when proxy-read-timeout is unset (the provider's proxyReadTimeout)
# The provider's durations and their defaults (SetDefaults, kubernetes.go, v3.7.9), all 60 s: written into
# its configuration scaled, so that an unannotated timeout runs on the scenario's clock like the rest.
PROVIDER_SECONDS = {"proxyConnectTimeout": PROVIDER_CONNECT_S, "proxyReadTimeout": DEFAULT_READ_S,
                    "proxySendTimeout": 60.0, "upstreamKeepaliveTimeout": 60.0}


# The provider reads no ingress-nginx ConfigMap. Its static options are that ConfigMap's keys ("Configuration
# options available within the NGINX Ingress Controller ConfigMap", Provider in kubernetes.go, v3.7.9), so a
# migrated cluster sets them in traefik's configuration instead: the ConfigMap keys below become the
# provider option of the same meaning, whole seconds where the option is "unitless and in seconds".
SECONDS_OPTIONS = {
    "proxy-connect-timeout": "proxyConnectTimeout",
    "proxy-read-timeout": "proxyReadTimeout",
    "proxy-send-timeout": "proxySendTimeout",
    "proxy-next-upstream-timeout": "proxyNextUpstreamTimeout",
    "upstream-keepalive-timeout": "upstreamKeepaliveTimeout",
}
WORD_OPTIONS = {"proxy-next-upstream": "proxyNextUpstream"}
COUNT_OPTIONS = {"proxy-next-upstream-tries": "proxyNextUpstreamTries"}
SWITCH_OPTIONS = {"proxy-request-buffering": "proxyRequestBuffering", "proxy-buffering": "proxyBuffering"}
CONFIGMAP_OPTIONS = {**SECONDS_OPTIONS, **WORD_OPTIONS, **COUNT_OPTIONS, **SWITCH_OPTIONS}


class TraefikIngressKnobs(Knobs):
    annotations: dict[str, str] = {}  # the Ingress's own settings, as for the ingress-nginx hop
    # ingress-nginx's ConfigMap: its keys with a provider option become that option (SECONDS_OPTIONS …);
    # the others have no counterpart and are reported as not read.
    configmap: dict[str, str] = {}

    def seconds(self, name: str) -> float | None:
        raw = self.annotations.get(PREFIX + name, "")
        return float(raw) if raw.isdigit() else None

    def wait_s(self, name: str, default: float) -> float:
        """A timeout as the provider applies it: the annotation, else the ConfigMap's provider option."""
        raw = self.configmap.get(name, "")
        return self.seconds(name) or (float(raw) if raw.isdigit() and int(raw) > 0 else default)

    def longest_wait_s(self) -> float:
        return max(self.wait_s("proxy-connect-timeout", PROVIDER_CONNECT_S),
                   self.wait_s("proxy-read-timeout", DEFAULT_READ_S), self.wait_s("proxy-send-timeout", 0.0))


def _lab_annotations(knobs: TraefikIngressKnobs, scale: TimeScale) -> dict[str, str]:
    annotations = dict(knobs.annotations)
    for name in SECONDS:
        story = knobs.seconds(name)
        if story is not None:
            annotations[PREFIX + name] = str(scale.lab_s_whole(story))
    return annotations


def provider_options(knobs: TraefikIngressKnobs, scale: TimeScale) -> dict[str, int | str | bool]:
    """The provider options that stand for the ConfigMap's keys, in lab time."""
    options: dict[str, int | str | bool] = {}
    for key, raw in knobs.configmap.items():
        if key in SECONDS_OPTIONS and raw.isdigit():
            options[SECONDS_OPTIONS[key]] = scale.lab_s_whole(float(raw)) if int(raw) > 0 else 0
        elif key in COUNT_OPTIONS and raw.isdigit():
            options[COUNT_OPTIONS[key]] = int(raw)
        elif key in WORD_OPTIONS:
            options[WORD_OPTIONS[key]] = raw
        elif key in SWITCH_OPTIONS and raw in ("on", "off"):
            options[SWITCH_OPTIONS[key]] = raw == "on"
    return options


def objects(knobs: TraefikIngressKnobs, ctx: RenderContext) -> list[dict[str, Any]]:
    """The Kubernetes objects the provider lists: what `kubectl apply` of the Ingress would leave in a cluster."""
    if ctx.upstream is None:
        raise ValueError(f"hop {ctx.hop!r}: an Ingress needs a Service behind it (a next hop)")
    service, _, port = ctx.upstream.partition(":")
    ingress = manifest(ctx.upstream, _lab_annotations(knobs, ctx.scale))
    ingress["metadata"]["namespace"] = NAMESPACE
    # The stand-in resolves the compose service's name to its containers' addresses (one endpoint each).
    addresses = list(ctx.servers) or [service]
    return [
        {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "nginx"},
         "spec": {"controller": "k8s.io/ingress-nginx"}},
        ingress,
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": service, "namespace": NAMESPACE},
         "spec": {"ports": [{"name": "http", "port": int(port), "targetPort": int(port), "protocol": "TCP"}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": f"{service}-1", "namespace": NAMESPACE,
                      "labels": {"kubernetes.io/service-name": service}},
         "addressType": "IPv4", "ports": [{"name": "http", "port": int(port), "protocol": "TCP"}],
         "endpoints": [{"addresses": [address.split(":")[0]], "conditions": {"ready": True, "serving": True}}
                       for address in addresses]},
    ]


class TraefikIngressHop(NamesNoUpstream):
    name = "traefik-ingress"
    family = "traefik"  # its lines are traefik's: the traefik kind's recognisers read them
    runs_app = False
    reload_signal = None
    fix_format = "ingress"  # the fix is the same Ingress manifest
    knobs = TraefikIngressKnobs
    notable = NOTABLE
    recognisers: tuple[Any, ...] = ()
    message = staticmethod(message)

    @staticmethod
    def parse_access(text: str) -> AccessFields | None:
        from faultlab.hops.traefik import TraefikHop

        return TraefikHop.parse_access(text)

    def render(self, knobs: TraefikIngressKnobs, ctx: RenderContext) -> dict[str, str]:
        header = (f"# Rendered by faultlab for hop {ctx.hop!r}. Time scale {ctx.scale}: the provider's "
                  "durations are story × scale, in whole seconds.\n")
        # The provider's own durations, scaled, unless the ConfigMap sets them.
        chosen = {**{name: ctx.scale.lab_s_whole(story) for name, story in PROVIDER_SECONDS.items()},
                  **provider_options(knobs, ctx.scale)}
        options = "".join(f"    {name}: {json.dumps(value)}\n" for name, value in chosen.items())
        static = f"""{header}entryPoints:
  web:
    address: ":{ctx.listen_port}"
  # traefik's own API, for the lab's readiness probe only: the hop is up once the Ingress's router is
  # there (a request through `web` would spend an annotation's rate limit).
  traefik:
    address: ":{HEALTH_PORT}"
api:
  insecure: true
providers:
  kubernetesIngressNGINX:
    endpoint: "http://{KUBEAPI}:{KUBEAPI_PORT}"
    httpEntryPoint: web
{options}# DEBUG: traefik names the Go error behind a 500/502 only there, and its retries ("New attempt").
{LOGS}"""
        return {"traefik.yml": static, "objects.json": json.dumps(objects(knobs, ctx), indent=1) + "\n"}

    def settings(self, knobs: TraefikIngressKnobs, ctx: RenderContext) -> list[Setting]:
        lab = _lab_annotations(knobs, ctx.scale)
        settings = [Setting(key, value, lab[key] if lab[key] == value else f"{lab[key]} (whole seconds)", True)
                    for key, value in knobs.annotations.items()]
        for name in SECONDS:
            if knobs.seconds(name) is None and PREFIX + name in knobs.annotations:
                key = PREFIX + name
                settings[list(knobs.annotations).index(key)] = Setting(
                    key, knobs.annotations[key], "not a whole number: traefik drops it without a log line", True)
        settings += [Setting(f"provider {name}", format_duration(story), f"{ctx.scale.lab_s_whole(story)}s", False)
                     for name, story in PROVIDER_SECONDS.items()]
        options = provider_options(knobs, ctx.scale)
        for key, value in knobs.configmap.items():
            option = CONFIGMAP_OPTIONS.get(key)
            said = (f"provider option {option}: {json.dumps(options[option])}" if option in options
                    else "not read by traefik's provider (no provider option)" if option is None
                    else f"not a value provider option {option} takes")
            settings.append(Setting(f"ConfigMap {key}", value, said, True))
        return settings

    def export(self, ctx: RenderContext, before: TraefikIngressKnobs, after: TraefikIngressKnobs) -> list[Snippet]:
        as_ingress = [IngressKnobs.model_construct(annotations=knobs.annotations, configmap={})
                      for knobs in (before, after)]
        return IngressHop().export(ctx, *as_ingress)

