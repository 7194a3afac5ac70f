"""What every hop kind provides: a knob model, and a renderer from knobs to the server's own config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from lab.units import TimeScale


class Knobs(BaseModel):
    """Base of every hop's knob model: unknown names are errors, not silently ignored settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def longest_wait_s(self) -> float:
        """Story seconds this hop may wait before giving up (sizes the client's own timeout)."""
        raise NotImplementedError


@dataclass(frozen=True)
class RenderContext:
    hop: str
    listen_port: int
    upstream: str | None  # "service:port" of the next hop, None for the last one
    scale: TimeScale


@dataclass(frozen=True)
class Setting:
    """One effective setting as the server sees it, for the terminal and the reports."""

    name: str  # in the server's own vocabulary (directive, flag or annotation)
    story: str  # the value in the write-up's units
    lab: str  # what the rendered config really says after the time scale
    explicit: bool  # set by the scenario (False: the server's or ingress-nginx's default)


class HopKind(Protocol):
    name: str
    knobs: type[Knobs]

    def render(self, knobs: Knobs, ctx: RenderContext) -> dict[str, str]:
        """File name -> content, written into the hop's config directory."""
        ...

    def settings(self, knobs: Knobs, ctx: RenderContext) -> list[Setting]: ...
