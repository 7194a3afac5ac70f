"""What every hop kind provides: a knob model, and a renderer from knobs to the server's own config."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from faultlab.model.units import TimeScale


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


@dataclass(frozen=True)
class AccessFields:
    """What the lab needs from one access-log line: whose request, what status, passed on or not."""

    request_id: str
    status: int
    forwarded: bool  # the hop passed the request to the next hop (False: it answered by itself)


def json_access(text: str, *, request_id: str, status: str, forwarded: str | None = None) -> AccessFields | None:
    """Parse a JSON access line with the given key names; None for any other line (error logs etc.)."""
    if not text.startswith("{"):
        return None
    try:
        fields = json.loads(text)
        passed_on = forwarded is not None and str(fields.get(forwarded, "")) not in ("", "-", "0")
        return AccessFields(str(fields[request_id]), int(fields[status]), passed_on)
    except (ValueError, KeyError, TypeError):
        return None


class HopKind(Protocol):
    name: str
    knobs: type[Knobs]

    def parse_access(self, text: str) -> AccessFields | None:
        """The hop's access-log line as the lab configures it; None for every other line."""
        ...

    def render(self, knobs: Knobs, ctx: RenderContext) -> dict[str, str]:
        """File name -> content, written into the hop's config directory."""
        ...

    def settings(self, knobs: Knobs, ctx: RenderContext) -> list[Setting]: ...
