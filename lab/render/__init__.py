"""Hop kinds: each turns a scenario's knobs into one server's real configuration."""

from __future__ import annotations

from lab.render.base import AccessFields, HopKind, Knobs, RenderContext, Setting
from lab.render.gunicorn import GunicornHop
from lab.render.ingress import IngressHop
from lab.render.nginx import NginxHop
from lab.render.traefik import TraefikHop
from lab.render.uwsgi import UwsgiHop

HOP_KINDS: dict[str, HopKind] = {
    hop.name: hop for hop in (NginxHop(), IngressHop(), GunicornHop(), UwsgiHop(), TraefikHop())
}

__all__ = ["HOP_KINDS", "AccessFields", "HopKind", "Knobs", "RenderContext", "Setting"]
