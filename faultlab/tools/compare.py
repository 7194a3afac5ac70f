"""`compare-ingress`: a user's own Ingress through ingress-nginx and through traefik's ingress-nginx provider.

Only the Ingress's annotations are taken: the lab gives them to its ingress-nginx hop and, as the
scenario's twin, to the real traefik (hops/traefik_ingress.py), in front of the lab's app, and sends
the same probes through both. Its hosts, paths, TLS and backends are not the lab's to copy: the probes
reach the lab's app on `/`. The probes are sized from the annotations (an upload just above the body
limit, work just longer than the read timeout), and nothing is expected of them: the comparison table
at the end of the run is the answer. What neither side can show is listed before the run (`inventory`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faultlab import yamlfile
from faultlab.hops.ingress import ANNOTATIONS, CONTROLLER_ANNOTATIONS, PREFIX, annotation_names, read_ingress
from faultlab.model import scenario
from faultlab.model.plan import Plan
from faultlab.units import exact_size, parse_size

TRAEFIK_ANNOTATIONS = annotation_names("traefik-annotations.txt")
TIME_SCALE = "1/20"  # story seconds are the annotations'; a 60 s read timeout waits 3 s
DEFAULT_BODY = 1 << 20  # ingress-nginx's proxy-body-size default, 1m
MAX_UPLOAD = 64 << 20  # above a larger limit the upload probe stays below it (and says so)
DEFAULT_READ_S = 60
BURST = 30  # back-to-back GETs: more than limit-rps 1's burst (5) on both sides
# What each probe tells, by the annotations it concerns.
PROBES = {
    "upload": ("proxy-body-size", "proxy-request-buffering", "client-body-buffer-size"),
    "slow-upstream": ("proxy-read-timeout",),
    "burst": ("limit-rps", "limit-rpm", "limit-connections", "limit-burst-multiplier"),
    "big-response-header": ("proxy-buffer-size", "proxy-buffers-number", "proxy-buffering"),
    "slow-post": ("proxy-next-upstream", "proxy-next-upstream-tries", "proxy-next-upstream-timeout"),
    "keepalive-race": ("upstream-keepalive-timeout",),
}
RATE_LIMITS = PROBES["burst"][:3]
# The race of 502-upstream-keepalive in story time at TIME_SCALE: gunicorn gthread keeps an idle connection
# 40 s (2 s in the lab), the proxies 60 s (3 s), bursts of 40 POSTs 38-44 s apart.
RACE_BURSTS = 10


@dataclass(frozen=True)
class Ingress:
    name: str
    annotations: dict[str, str]  # only the nginx.ingress.kubernetes.io/ ones

    @property
    def snippets(self) -> list[str]:
        """Its *-snippet annotations, without the prefix: traefik skips an Ingress that has one."""
        return sorted(key.removeprefix(PREFIX) for key in self.annotations if key.endswith("-snippet"))


@dataclass(frozen=True)
class Row:
    """One annotation: who reads it, and which probe shows its effect."""

    name: str
    value: str
    traefik_reads: bool
    ingress_nginx_reads: bool
    lab_models: bool  # the lab's ingress-nginx hop renders it (else it has no effect on that side here)
    probe: str | None


def read(path: Path) -> Ingress:
    """The Ingress manifest a user would `kubectl apply` (one document, networking.k8s.io/v1)."""
    name, annotations = read_ingress(yamlfile.read(path, "Ingress manifest"), str(path))
    return Ingress(name or path.stem, {key: value for key, value in annotations.items() if key.startswith(PREFIX)})


def inventory(ingress: Ingress) -> list[Row]:
    probe_of = {name: probe for probe, names in PROBES.items() for name in names}
    names = {key: key.removeprefix(PREFIX) for key in ingress.annotations}
    return [Row(names[key], value, names[key] in TRAEFIK_ANNOTATIONS, names[key] in CONTROLLER_ANNOTATIONS,
                names[key] in ANNOTATIONS, probe_of.get(names[key]))
            for key, value in ingress.annotations.items()]


# Whole-second annotations: traefik reads them with strconv.Atoi and drops what does not parse, without a
# log line (parseIngressConfig, annotations.go; measured in tests/scenarios/test_kubeapi.py).
WHOLE_SECONDS = ("proxy-connect-timeout", "proxy-read-timeout", "proxy-send-timeout")


def notes(ingress: Ingress) -> list[str]:
    """What the source says of these annotations where the probes cannot show it."""
    said = []
    if ingress.snippets:
        said.append(f"{', '.join(ingress.snippets)}: traefik skips the whole Ingress (\"snippet annotations are "
                    "not allowed when allowSnippetAnnotations is disabled\", "
                    "pkg/provider/kubernetes/ingress-nginx/build.go, v3.7.9) and answers 404; ingress-nginx also "
                    "refuses it by default (allow-snippet-annotations false, "
                    "internal/ingress/controller/config/config.go; \"contains risky annotation\", annotations.go, "
                    "controller-v1.15.1), which the lab's ingress-nginx hop does not model.")
    for name in WHOLE_SECONDS:
        value = ingress.annotations.get(PREFIX + name)
        if value is not None and not value.isdigit():
            said.append(f"{name}: {value!r} is not a whole number of seconds: traefik drops it without a log line "
                        "and keeps its provider's default; ingress-nginx logs a validation warning and keeps its "
                        "ConfigMap's value.")
    return said


def _body_limit(annotations: dict[str, str]) -> int:
    raw = annotations.get(PREFIX + "proxy-body-size", "")
    try:
        return parse_size(raw) if raw else DEFAULT_BODY
    except ValueError:
        return DEFAULT_BODY  # a value ingress-nginx refuses leaves its 1m default


def _read_s(annotations: dict[str, str]) -> int:
    raw = annotations.get(PREFIX + "proxy-read-timeout", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_READ_S


# Shown beside a probe whose two sides differ: what makes traefik behave like ingress-nginx there, or why
# nothing does (ingress-migration measures each; see its .md).
TWIN_FIXES = {
    "upload": 'add proxy-request-buffering: "on" next to proxy-body-size',
    "slow-upstream": "none in the provider: traefik resends no request it has written after a timeout",
    "big-response-header": "none needed: traefik has no response-header buffer to outgrow",
    "slow-post": "none in the provider: traefik resends no request it has written after a timeout",
    "keepalive-race": "provider option upstreamKeepaliveTimeout below the app's keep-alive",
    "burst": "none: traefik's rate limit answers 429; let clients and alerts accept it",
}
_RACE: dict[str, Any] = {
    "kind": "load", "method": "POST", "path": "/account/users/login/",
    "body": '{"username": "ada", "password": "lovelace"}', "content_type": "application/json",
    "concurrency": 40, "requests": 40, "batches": RACE_BURSTS, "pause": {"min": "38s", "max": "44s"},
}


def plan(ingress: Ingress, path: Path) -> Plan:
    """The comparison as a scenario with a twin: one step per probe, each only observed."""
    limit = _body_limit(ingress.annotations)
    upload = min(limit + (1 << 20), MAX_UPLOAD) if limit else 2 << 20  # 0 turns the check off
    read_s = _read_s(ingress.annotations)
    seen: dict[str, Any] = {"failures": {"min": 0}}  # nothing expected: the table is the answer

    def step(name: str, says: str, traffic: dict[str, Any] | None = None, role: str = "variant") -> dict[str, Any]:
        fix = ("first drop the *-snippet annotations: traefik skips the whole Ingress" if ingress.snippets
               else TWIN_FIXES[name])
        return {"name": name, "role": role, "says": says, "traffic": traffic or {}, "expect": seen, "twin": seen,
                "twin_fix": fix}

    document = {
        "id": "compare-ingress",
        "title": f"Ingress {ingress.name}: ingress-nginx and traefik's kubernetesIngressNGINX provider",
        "source": {"seed": str(path), "section": "the annotations of a user's Ingress"},
        "topology": "ingress-replicas",
        "twin": {"topology": "traefik-ingress", "label": "traefik 3.7 kubernetesIngressNGINX",
                 "label_first": "ingress-nginx"},
        "time_scale": TIME_SCALE,
        "summary": "The Ingress's annotations on both controllers, the same probes through both.",
        "knobs": {"app": {"workers": 2, "timeout": "600s"}, "ingress": {"annotations": ingress.annotations}},
        "traffic": {"kind": "upload", "path": "/upload", "size": exact_size(upload), "transfer": "content-length"},
        "steps": [
            step("upload", f"An upload of {exact_size(upload)}, just above the body limit "
                           f"({exact_size(limit) if limit else 'off'}){' (capped)' if upload == MAX_UPLOAD else ''}.",
                 role="broken"),
            step("slow-upstream", f"A GET the app works on for {read_s + 30} s, past the read timeout ({read_s} s).",
                 {"kind": "load", "method": "GET", "path": "/slow", "app_work": f"{read_s + 30}s",
                  "concurrency": 1, "requests": 1}),
            step("big-response-header", "An answer with 16 KiB of Set-Cookie headers.",
                 {"kind": "load", "method": "GET", "path": "/session?cookies=4&cookie_bytes=4096",
                  "concurrency": 1, "requests": 3}),
            step("slow-post", f"A POST /orders the app works on for {read_s + 30} s: is it sent again "
                              "(proxy-next-upstream with non_idempotent), is the order placed twice?",
                 {"kind": "load", "method": "POST", "path": "/orders", "body": '{"item": "book"}',
                  "content_type": "application/json", "app_work": f"{read_s + 30}s", "concurrency": 1,
                  "requests": 1}),
            {**step("keepalive-race", f"gunicorn gthread (keep-alive 40 s) and {RACE_BURSTS} bursts of 40 POSTs "
                                      "38-44 s apart: does the proxy reuse a connection the app is closing (502)? "
                                      "The rate limits are off for this probe.", _RACE),
             "change": {"app": {"worker_class": "gthread", "threads": 40, "keepalive": "40s"},
                        "ingress": {"annotations": {PREFIX + name: None for name in RATE_LIMITS}}}},
            {**step("burst", f"{BURST} GETs back to back (a rate limit shows here).",
                    {"kind": "load", "method": "GET", "path": "/healthz", "concurrency": 1, "requests": BURST}),
             "change": {"ingress": {"annotations": {PREFIX + name: ingress.annotations.get(PREFIX + name)
                                                    for name in RATE_LIMITS}}}},
        ],
    }
    return scenario.from_document(document, path)
