"""The ingress hop: nginx configured from ingress-nginx annotations, the way ingress-nginx does it.

Users paste the annotations of their Ingress; this module maps each to the nginx directive that
ingress-nginx writes, starting from ingress-nginx's defaults (which differ from plain nginx's:
a 5 s connect timeout, response buffering off, HTTP/1.1 upstream). Annotations under another
prefix (e.g. `nginx.org/…`, the *other* nginx controller) are kept and shown as ignored, because
that is exactly what ingress-nginx does with them, and a classic cause of a 1m limit that "won't go".
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from pydantic import field_validator, model_validator

from faultlab import yamlfile
from faultlab.errors import InputError
from faultlab.hops import nginx
from faultlab.hops.base import (
    ANNOUNCE_FILE,
    ANNOUNCE_TIME,
    Knobs,
    ParsedLine,
    RenderContext,
    Setting,
    Snippet,
    WorkspaceError,
    changes,
    combined,
    validated,
)
from faultlab.hops.nginx import NginxKnobs, directive_settings, parse_access, render_conf
from faultlab.units import parse_duration

PREFIX = "nginx.ingress.kubernetes.io/"


def annotation_names(file: str) -> frozenset[str]:
    """A list of annotation names in faultlab/data/ingress/ (one per line, `#` comments), without the prefix.
    Facts about the real servers, so always the package's own copy (never FAULTLAB_DATA's)."""
    lines = (files("faultlab") / "data" / "ingress" / file).read_text().splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


# What ingress-nginx itself reads (its annotations page, controller-v1.15.1): a name outside it has no effect
# there; a name in it that the lab does not map is real, but not modelled by this hop.
CONTROLLER_ANNOTATIONS = annotation_names("ingress-nginx-annotations.txt")


def _whole_seconds(value: str) -> float:
    if not value.strip().isdigit():
        raise ValueError(f"{value!r}: ingress-nginx takes whole seconds without a unit, e.g. \"600\"")
    return float(value)


def _on_off(value: str) -> bool:
    if value not in ("on", "off"):
        raise ValueError(f"{value!r}: write \"on\" or \"off\"")
    return value == "on"


def _http_version(value: str) -> str:
    if value not in ("1.0", "1.1"):
        raise ValueError(f"{value!r}: write \"1.0\" or \"1.1\"")
    return value


def _count(value: str) -> int:
    if not value.strip().isdigit():
        raise ValueError(f"{value!r}: ingress-nginx takes a whole number here")
    return int(value)


_NEXT_UPSTREAM = {"error", "timeout", "invalid_header", "http_500", "http_502", "http_503", "http_504", "http_403",
                  "http_404", "http_429", "non_idempotent", "off"}


def _next_upstream(value: str) -> str:
    words = value.split()
    unknown = [word for word in words if word not in _NEXT_UPSTREAM]
    if not words or unknown:
        raise ValueError(f"{value!r}: ingress-nginx takes words of {', '.join(sorted(_NEXT_UPSTREAM))}")
    return " ".join(words)


def _true_false(value: str) -> bool:
    if value not in ("true", "false"):
        raise ValueError(f"{value!r}: write \"true\" or \"false\"")
    return value == "true"


def _nginx_size(value: str) -> str:
    return NginxKnobs(client_max_body_size=value).client_max_body_size


@dataclass(frozen=True)
class Annotation:
    directive: str
    parse: Callable[[str], object]


ANNOTATIONS: dict[str, Annotation] = {
    "proxy-body-size": Annotation("client_max_body_size", lambda v: NginxKnobs(client_max_body_size=v)
                                  .client_max_body_size),
    "proxy-connect-timeout": Annotation("proxy_connect_timeout", _whole_seconds),
    "proxy-send-timeout": Annotation("proxy_send_timeout", _whole_seconds),
    "proxy-read-timeout": Annotation("proxy_read_timeout", _whole_seconds),
    "proxy-request-buffering": Annotation("proxy_request_buffering", _on_off),
    "proxy-buffering": Annotation("proxy_buffering", _on_off),
    "proxy-http-version": Annotation("proxy_http_version", _http_version),
    "proxy-next-upstream": Annotation("proxy_next_upstream", _next_upstream),
    "proxy-next-upstream-tries": Annotation("proxy_next_upstream_tries", _count),
    "proxy-next-upstream-timeout": Annotation("proxy_next_upstream_timeout", _whole_seconds),
    # proxy_buffers is written as <proxy-buffers-number> <proxy-buffer-size> (nginx.tmpl), so the buffers
    # grow with the header buffer and nginx's busy-buffers check holds.
    "proxy-buffer-size": Annotation("proxy_buffer_size", _nginx_size),
    "proxy-buffers-number": Annotation("proxy_buffers_number", _count),
    "proxy-busy-buffers-size": Annotation("proxy_busy_buffers_size", _nginx_size),
    # limit_req_zone … rate=<n>r/s and `limit_req zone=… burst=<n × limit-burst-multiplier> nodelay`
    # (buildRateLimitZones / buildRateLimit, internal/ingress/controller/template/template.go; the
    # multiplier's default 5 in internal/ingress/annotations/ratelimit/main.go). The zone is keyed by the
    # client address there and by the server port in the lab: one client, the same bucket.
    "limit-rps": Annotation("limit_req_rate", _count),
    "limit-burst-multiplier": Annotation("limit_burst_multiplier", _count),
}
DEFAULT_BURST_MULTIPLIER = 5

# ConfigMap keys (controller-wide): the per-Ingress annotations of the same names override them (the
# rate limits are annotations only).
# (internal/ingress/controller/config/config.go; upstream keep-alive goes into the `upstream_balancer` block.)
CONFIGMAP: dict[str, Annotation] = {
    **{name: annotation for name, annotation in ANNOTATIONS.items() if not name.startswith("limit-")},
    "upstream-keepalive-connections": Annotation("upstream_keepalive", _count),
    "upstream-keepalive-timeout": Annotation("upstream_keepalive_timeout", _whole_seconds),
    "upstream-keepalive-requests": Annotation("upstream_keepalive_requests", _count),
    "upstream-keepalive-time": Annotation("upstream_keepalive_time", parse_duration),  # a time, e.g. "1h"
    "retry-non-idempotent": Annotation("retry_non_idempotent", _true_false),
    # How long the controller keeps an idle client connection (nginx.tmpl: keepalive_timeout {{ $cfg.KeepAlive }}s).
    "keep-alive": Annotation("keepalive_timeout", _whole_seconds),
    # Request header lines (nginx.tmpl: large_client_header_buffers {{ $cfg.LargeClientHeaderBuffers }}).
    "large-client-header-buffers": Annotation("large_client_header_buffers",
                                              lambda v: NginxKnobs(large_client_header_buffers=v)
                                              .large_client_header_buffers),
}

# ingress-nginx's defaults (ConfigMap defaults in internal/ingress/controller/config/config.go and what
# rootfs/etc/nginx/template/nginx.tmpl writes, read at controller-v1.15.1; see docs/fidelity.md).
INGRESS_DEFAULTS = NginxKnobs(
    client_max_body_size="1m",
    proxy_connect_timeout=5,
    proxy_send_timeout=60,
    proxy_read_timeout=60,
    proxy_request_buffering=True,
    proxy_buffering=False,
    proxy_http_version="1.1",
    upstream_keepalive=320,
    upstream_keepalive_timeout=60,
    upstream_keepalive_requests=10000,
    upstream_keepalive_time=3600,
    proxy_next_upstream="error timeout",
    proxy_next_upstream_tries=3,
    proxy_next_upstream_timeout=0,
    proxy_buffer_size="4k",
    proxy_buffers="4 4k",
    large_client_header_buffers="4 8k",
    error_log_level="notice",
    client_header_timeout=60,
    client_body_timeout=60,
    keepalive_timeout=75,
    reset_timedout_connection=True,
)


class IngressKnobs(Knobs):
    annotations: dict[str, str] = {}  # the Ingress's own (per-Ingress) settings
    configmap: dict[str, str] = {}  # the controller's ConfigMap (controller-wide settings)

    @field_validator("configmap", mode="before")
    @classmethod
    def _check_configmap(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        for key, raw in value.items():
            if str(key) not in CONFIGMAP:
                close = difflib.get_close_matches(str(key), CONFIGMAP, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ValueError(f"unknown ConfigMap key {key!r}{hint}; faultlab maps: {', '.join(sorted(CONFIGMAP))}")
            try:
                CONFIGMAP[str(key)].parse(str(raw))
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return {str(k): str(v) for k, v in value.items()}

    @field_validator("annotations", mode="before")
    @classmethod
    def _check(cls, value: object) -> object:
        # Like the controller, accept every annotation: an unknown name has no effect, and a value its
        # validator rejects is logged and replaced by the ConfigMap's (see `rejected`).
        if not isinstance(value, dict):
            return value
        return {str(k): str(v) for k, v in value.items()}

    @model_validator(mode="after")
    def _buffers_fit(self) -> IngressKnobs:
        # The controller's nginx -t would refuse the rendered location; the lab says so before it starts.
        problem = nginx.buffers_problem(self.effective()[0])
        if problem:
            raise ValueError(f"the controller's nginx -t would refuse the location ingress-nginx renders: {problem}")
        return self

    def _parsed(self) -> tuple[dict[str, object], list[tuple[str, str]]]:
        """The directives the annotations set, and the (name, value) pairs ingress-nginx rejects."""
        updates: dict[str, object] = {}
        rejected: list[tuple[str, str]] = []
        for key, raw in self.annotations.items():
            name = key.removeprefix(PREFIX)
            if not key.startswith(PREFIX) or name not in ANNOTATIONS:
                continue
            try:
                updates[ANNOTATIONS[name].directive] = ANNOTATIONS[name].parse(raw)
            except ValueError:
                rejected.append((name, raw))
        return updates, rejected

    def effective(self) -> tuple[NginxKnobs, set[str]]:
        """The nginx directives ingress-nginx would write, and which of them the ConfigMap or an annotation set."""
        updates: dict[str, object] = {}
        for key, raw in self.configmap.items():
            updates[CONFIGMAP[key].directive] = CONFIGMAP[key].parse(raw)
        updates.update(self._parsed()[0])
        # retry-non-idempotent appends non_idempotent to proxy_next_upstream (the template's buildNextUpstream).
        if updates.pop("retry_non_idempotent", False):
            words = str(updates.get("proxy_next_upstream", INGRESS_DEFAULTS.proxy_next_upstream)).split()
            updates["proxy_next_upstream"] = " ".join([w for w in words if w != "non_idempotent"] + ["non_idempotent"])
        multiplier = updates.pop("limit_burst_multiplier", DEFAULT_BURST_MULTIPLIER)
        if "limit_req_rate" in updates:
            rate = int(updates["limit_req_rate"])  # type: ignore[call-overload]
            updates |= {"limit_req_rate": f"{rate}r/s", "limit_req_burst": rate * int(multiplier)}  # type: ignore[call-overload]
        explicit = set(updates)
        number = updates.pop("proxy_buffers_number", None)
        if number is not None or "proxy_buffer_size" in updates:
            # A consequence of the two annotations, not a setting of its own.
            size = updates.get("proxy_buffer_size", INGRESS_DEFAULTS.proxy_buffer_size)
            updates["proxy_buffers"] = f"{number or str(INGRESS_DEFAULTS.proxy_buffers).split()[0]} {size}"
        return INGRESS_DEFAULTS.model_copy(update=updates), explicit

    def rejected(self) -> list[tuple[str, str]]:
        """Annotation values ingress-nginx's validators refuse (e.g. proxy-read-timeout "600s", proxy-body-size
        "100mb"): the controller logs a warning and the location keeps the ConfigMap's value
        (internal/ingress/annotations/parser/main.go and proxy/main.go, controller-v1.15.1)."""
        return self._parsed()[1]

    def unknown(self) -> list[str]:
        """nginx.ingress.kubernetes.io/ names the lab's hop does not map (ANNOTATIONS): no effect in the lab, and
        none on ingress-nginx either unless CONTROLLER_ANNOTATIONS has them."""
        return [key for key in self.annotations
                if key.startswith(PREFIX) and key.removeprefix(PREFIX) not in ANNOTATIONS]

    def longest_wait_s(self) -> float:
        return self.effective()[0].longest_wait_s()

    def ignored(self) -> dict[str, str]:
        return {k: v for k, v in self.annotations.items() if not k.startswith(PREFIX)}


def controller_warnings(knobs: IngressKnobs, ingress: str) -> str:
    """What the controller logs about the Ingress when it syncs it: a klog warning per rejected value, with
    the format string of internal/ingress/annotations/parser/main.go (controller-v1.15.1)."""
    return "".join(f"W{ANNOUNCE_TIME}       7 main.go:218] validation error on ingress {ingress}: annotation {name} "
                   f"contains invalid value {value}\n" for name, value in knobs.rejected())


# ingress-nginx's default access format (`upstreaminfo`): combined, then request length and time,
# [proxy_upstream_name], [proxy_alternative_upstream_name], upstream addr, length, time, status, req_id.
_UPSTREAMINFO_TAIL = re.compile(r"^ (?P<length>\d+) (?P<time>[\d.]+) \[(?P<upstream>[^\]]*)\](?: \[[^\]]*\])? "
                                r"(?P<tail>.+)$")


def recognise_upstreaminfo(text: str) -> ParsedLine | None:
    line = combined(text)
    tail = _UPSTREAMINFO_TAIL.match(line.rest) if line else None
    if line is None or tail is None:
        return None
    # upstream_addr, upstream_response_length, upstream_response_time, upstream_status[, req_id]; a list
    # of upstreams is written "a, b", so fields are split on spaces that do not follow a comma.
    fields = re.split(r"(?<!,) ", tail["tail"].strip())
    upstream_status = fields[3] if len(fields) >= 4 else "-"
    return ParsedLine(text, "ingress-nginx access (upstreaminfo)", frozenset({"ingress-nginx"}), "access",
                      (line.status,), nginx.lab_json(line.status, upstream_status, line.method, line.uri))


# The controller's own log (klog): "W1201 11:29:58.309888       7 main.go:218] validation error on ingress …".
_KLOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ [\w./-]+:\d+\] ")


def recognise_controller(text: str) -> ParsedLine | None:
    if not _KLOG.match(text):
        return None
    return ParsedLine(text, "ingress-nginx controller log", frozenset({"ingress-nginx"}), "error")


def manifest(upstream: str | None, annotations: dict[str, str]) -> dict[str, Any]:
    """A networking.k8s.io/v1 Ingress for the hop's upstream, carrying `annotations`."""
    service, _, port = (upstream or "app:80").partition(":")
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": service, "annotations": dict(annotations)},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [{"http": {"paths": [{
                "path": "/",
                "pathType": "Prefix",
                "backend": {"service": {"name": service, "port": {"number": int(port or 80)}}},
            }]}}],
        },
    }


INGRESS_TITLE = "Ingress (ingress-nginx annotations)"
CONFIGMAP_TITLE = "ConfigMap (ingress-nginx controller)"
# The controller's ConfigMap in ingress-nginx's own deploy manifests (deploy/static/provider/*/deploy.yaml,
# read by the controller's --configmap=$(POD_NAMESPACE)/ingress-nginx-controller); a Helm release names it
# <release>-ingress-nginx-controller.
CONFIGMAP_NAME, CONFIGMAP_NAMESPACE = "ingress-nginx-controller", "ingress-nginx"


def configmap_manifest(data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": CONFIGMAP_NAME, "namespace": CONFIGMAP_NAMESPACE}, "data": dict(data)}


def read_ingress(document: object, shown: str) -> tuple[str, dict[str, str]]:
    """(name, annotations) of an Ingress as `kubectl apply` would take it, or an InputError that says what the
    API server would refuse."""
    if not isinstance(document, dict) or document.get("kind") != "Ingress":
        kind = str(document.get("kind") or "none given") if isinstance(document, dict) else type(document).__name__
        raise InputError(f"{shown}: not an Ingress (kind: {kind})",
                         tip="give one networking.k8s.io/v1 Ingress per file, as `kubectl get ingress NAME -o yaml` "
                             "prints it")
    if document.get("apiVersion") != "networking.k8s.io/v1":
        raise InputError(f"{shown}: apiVersion {document.get('apiVersion')!r}: the Ingress API is networking.k8s.io/v1 "
                         "(extensions/v1beta1 and networking.k8s.io/v1beta1 were removed in Kubernetes 1.22)")
    metadata = document.get("metadata") or {}
    annotations = metadata.get("annotations") or {} if isinstance(metadata, dict) else None
    if not isinstance(annotations, dict):
        raise InputError(f"{shown}: metadata.annotations is not a mapping of names to values")
    for key, value in annotations.items():
        if not isinstance(value, str):  # the API server refuses it ("cannot unmarshal number into … string")
            raise InputError(f"{shown}: metadata.annotations.{key}: {value!r} is not a string",
                             tip=f'quote it, e.g. {key}: "{value}"')
    return str(metadata.get("name") or ""), {str(key): value for key, value in annotations.items()}


INGRESS_FILE, CONFIGMAP_FILE = "ingress.yaml", "configmap.yaml"
_PRACTICE_HEADERS = {
    INGRESS_FILE: "# The Ingress in front of the app, as `kubectl get ingress app -o yaml` prints it. Practice\n"
                  "# mode applies its metadata.annotations (the nginx.ingress.kubernetes.io/ ones, in real time\n"
                  "# units); the rules stay as they are: the lab's chain has one backend.\n",
    CONFIGMAP_FILE: "# The ingress-nginx controller's ConfigMap: controller-wide settings, for every Ingress.\n"
                    "# Practice mode applies its data keys.\n",
}


def _without_annotations(document: dict[str, Any]) -> dict[str, Any]:
    metadata = {key: value for key, value in (document.get("metadata") or {}).items() if key != "annotations"}
    return {**document, "metadata": metadata}


def _read_yaml(path: Path, shown: str, what: str) -> object:
    if not path.is_file():
        raise WorkspaceError(f"{shown} is missing", tip="`{prog} practice reset` writes the files again")
    try:
        return yamlfile.read(path, what)
    except InputError as exc:
        raise WorkspaceError(exc.message.replace(str(path), shown), tip=exc.tip) from None


def read_practice(directory: Path, upstream: str | None, hop: str) -> IngressKnobs:
    """The annotations and ConfigMap keys of a learner's ingress.yaml and configmap.yaml."""
    shown = f"{hop}/{INGRESS_FILE}"
    document = _read_yaml(directory / INGRESS_FILE, shown, "Ingress manifest")
    try:
        _, annotations = read_ingress(document, shown)
    except InputError as exc:
        raise WorkspaceError(exc.message, tip=exc.tip) from None
    assert isinstance(document, dict)
    if _without_annotations(document) != _without_annotations(manifest(upstream, {})):
        raise WorkspaceError(f"{shown}: only metadata.annotations may change; the rest is the lab's one backend",
                             tip="undo the other change (`{prog} practice diff` shows your changes)")
    configmap: dict[str, str] = {}
    shown_map = f"{hop}/{CONFIGMAP_FILE}"
    mapping = _read_yaml(directory / CONFIGMAP_FILE, shown_map, "ConfigMap")
    expected = configmap_manifest({})
    if not isinstance(mapping, dict) or {key: mapping.get(key) for key in ("apiVersion", "kind", "metadata")} != {
            key: expected[key] for key in ("apiVersion", "kind", "metadata")}:
        raise WorkspaceError(f"{shown_map}: not the controller's ConfigMap (apiVersion v1, kind ConfigMap, "
                             f"metadata {expected['metadata']})", tip="`{prog} practice diff` shows your changes")
    data = mapping.get("data") or {}
    if not isinstance(data, dict) or set(mapping) - {"apiVersion", "kind", "metadata", "data"}:
        raise WorkspaceError(f"{shown_map}: a ConfigMap has apiVersion, kind, metadata and data (a mapping)")
    for key, value in data.items():
        if not isinstance(value, str):  # the API server refuses a ConfigMap value that is not a string
            raise WorkspaceError(f"{shown_map}: data.{key}: {value!r} is not a string",
                                 tip=f'quote it: {key}: "{value}"')
        configmap[str(key)] = value
    return validated(IngressKnobs, {"annotations": annotations, "configmap": configmap}, hop)


class IngressHop:
    name = "ingress-nginx"
    family = "nginx"
    runs_app = False
    reload_signal = "HUP"  # as nginx: its upstream list is read again
    fix_format = "ingress"
    knobs = IngressKnobs
    notable = nginx.NOTABLE
    recognisers = (recognise_upstreaminfo, recognise_controller)
    parse_access = staticmethod(parse_access)
    message = staticmethod(nginx.message)

    def render(self, knobs: IngressKnobs, ctx: RenderContext) -> dict[str, str]:
        effective, _ = knobs.effective()
        files = {"nginx.conf": render_conf(effective, ctx, flavour="nginx configured from ingress-nginx annotations")}
        if knobs.rejected():
            # The stack writes it into the hop's log at the start of each step (see Stack.announce).
            files[ANNOUNCE_FILE] = controller_warnings(knobs, f"default/{(ctx.upstream or 'app').split(':')[0]}")
        return files

    def settings(self, knobs: IngressKnobs, ctx: RenderContext) -> list[Setting]:
        effective, explicit = knobs.effective()
        settings = directive_settings(effective, ctx, explicit)
        settings += [Setting(key, value, "ignored by ingress-nginx", True) for key, value in knobs.ignored().items()]
        settings += [Setting(PREFIX + name, value, "invalid: ingress-nginx logs a warning and keeps its default", True)
                     for name, value in knobs.rejected()]
        for key in knobs.unknown():
            if key.removeprefix(PREFIX) in CONTROLLER_ANNOTATIONS:
                settings.append(Setting(key, knobs.annotations[key],
                                        "read by ingress-nginx, not modelled by the lab's hop: no effect here", True))
                continue
            close = difflib.get_close_matches(key.removeprefix(PREFIX), CONTROLLER_ANNOTATIONS, n=1)
            hint = f" (did you mean {PREFIX}{close[0]}?)" if close else ""
            settings.append(Setting(key, knobs.annotations[key], f"unknown to ingress-nginx: no effect{hint}", True))
        return settings

    @staticmethod
    def upstream_scheme(knobs: IngressKnobs) -> str:
        return "http"  # ingress-nginx proxies HTTP to its pods (the backend-protocol annotation is not mapped)

    def export(self, ctx: RenderContext, before: IngressKnobs, after: IngressKnobs) -> list[Snippet]:
        """The annotations and ConfigMap keys are the lab's own knobs for this hop, so the manifests say
        exactly what the lab ran."""
        snippets = []
        for title, noun, build, was, now in (
                (INGRESS_TITLE, "annotation", lambda data: manifest(ctx.upstream, data),
                 before.annotations, after.annotations),
                (CONFIGMAP_TITLE, "key", configmap_manifest, before.configmap, after.configmap)):
            changed, dropped = changes(was, now)
            if changed or dropped:
                text = yaml.safe_dump(build(changed), sort_keys=False, default_flow_style=False)
                text = "".join(f"# remove the {noun} {key}\n" for key in sorted(dropped)) + text
                snippets.append(Snippet("ingress", ctx.hop, title, text))
        return snippets

    readable = frozenset({"annotations", "configmap"})
    tool_check = None

    def workspace(self, knobs: IngressKnobs, ctx: RenderContext) -> dict[str, str]:
        documents = {INGRESS_FILE: manifest(ctx.upstream, knobs.annotations),
                     CONFIGMAP_FILE: configmap_manifest(knobs.configmap)}
        return {name: _PRACTICE_HEADERS[name] + yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
                for name, document in documents.items()}

    def read_workspace(self, directory: Path, base: IngressKnobs, ctx: RenderContext) -> IngressKnobs:
        return read_practice(directory, ctx.upstream, ctx.hop)
