"""Hop kinds: each turns a scenario's knobs into one server's real configuration."""

from __future__ import annotations

from faultlab.hops.base import AccessFields, HopKind, Knobs, RenderContext, Setting
from faultlab.hops.gunicorn import GunicornHop
from faultlab.hops.ingress import IngressHop
from faultlab.hops.nginx import NginxHop
from faultlab.hops.traefik import TraefikHop
from faultlab.hops.uwsgi import UwsgiHop

HOP_KINDS: dict[str, HopKind] = {
    hop.name: hop for hop in (NginxHop(), IngressHop(), GunicornHop(), UwsgiHop(), TraefikHop())
}

__all__ = ["HOP_KINDS", "AccessFields", "HopKind", "Knobs", "RenderContext", "Setting"]
