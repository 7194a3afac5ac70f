"""Hop kinds: one module per server, each behind the `HopKind` protocol (see hops/base.py).

Adding a server kind means adding its module here (and its image and tests): the topology loader,
evidence, diagnose, fix and the CLI's format choices all read this registry.
"""

from __future__ import annotations

from faultlab.hops.base import AccessFields, HopKind, Knobs, ParsedLine, RenderContext, Setting, Snippet
from faultlab.hops.gunicorn import GunicornHop
from faultlab.hops.haproxy import HaproxyHop
from faultlab.hops.ingress import IngressHop
from faultlab.hops.nginx import NginxHop
from faultlab.hops.traefik import TraefikHop
from faultlab.hops.traefik_ingress import TraefikIngressHop
from faultlab.hops.uvicorn import UvicornHop
from faultlab.hops.uwsgi import UwsgiHop

_KINDS: tuple[HopKind, ...] = (HaproxyHop(), NginxHop(), IngressHop(), GunicornHop(), UwsgiHop(), UvicornHop(),
                               TraefikHop(), TraefikIngressHop())
HOP_KINDS: dict[str, HopKind] = {hop.name: hop for hop in _KINDS}
# `fix --format` choices, in the order a request meets the servers.
FIX_FORMATS: tuple[str, ...] = tuple(dict.fromkeys(hop.fix_format for hop in _KINDS))
APP_SERVERS = frozenset(hop.name for hop in _KINDS if hop.runs_app)


def same_family(kind: str, kinds: frozenset[str]) -> bool:
    """Whether a line written by one of `kinds` may come from a hop of `kind`: kinds of one family (nginx
    and the ingress hop, which is nginx with other defaults) write the same lines."""
    if kind in kinds:
        return True
    family = HOP_KINDS[kind].family if kind in HOP_KINDS else None
    return any(HOP_KINDS[other].family == family for other in kinds if other in HOP_KINDS)


__all__ = ["APP_SERVERS", "FIX_FORMATS", "HOP_KINDS", "AccessFields", "HopKind", "Knobs", "ParsedLine",
           "RenderContext", "Setting", "Snippet", "same_family"]
