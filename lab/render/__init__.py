"""Hop kinds: each turns a scenario's knobs into one server's real configuration."""

from __future__ import annotations

from lab.render.base import HopKind, Knobs, RenderContext, Setting
from lab.render.gunicorn import GunicornHop
from lab.render.ingress import IngressHop
from lab.render.nginx import NginxHop

HOP_KINDS: dict[str, HopKind] = {hop.name: hop for hop in (NginxHop(), IngressHop(), GunicornHop())}

__all__ = ["HOP_KINDS", "HopKind", "Knobs", "RenderContext", "Setting"]
