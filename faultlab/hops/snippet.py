"""What every target exporter produces: a snippet of one server's config, in that server's own syntax."""

from __future__ import annotations

import re
from dataclasses import dataclass

from faultlab.hops import HOP_KINDS, Knobs, RenderContext
from faultlab.model.topology import Hop
from faultlab.model.units import TimeScale

# `lab fix` shows the write-up's real durations, so every config is rendered at time scale 1.
STORY = TimeScale.parse("1")


@dataclass(frozen=True)
class Snippet:
    format: str  # nginx | ingress | gunicorn | uwsgi | traefik
    hop: str
    title: str  # which file or form, e.g. "gunicorn.conf.py" or "gunicorn command line"
    text: str


def render(hop: Hop, knobs: Knobs, *, upstream: str | None = None) -> dict[str, str]:
    """The hop's files at story time, through the lab's own renderer (the one mapping of knobs to config)."""
    ctx = RenderContext(hop.name, hop.port, upstream or hop.upstream, STORY)
    return HOP_KINDS[hop.kind].render(knobs, ctx)


_MS = re.compile(r"^(\d+)ms$")


def story_duration(text: str) -> str:
    """The renderers write milliseconds (they must survive any time scale); at scale 1 seconds read better."""
    match = _MS.match(text)
    if match and int(match.group(1)) % 1000 == 0:
        return f"{int(match.group(1)) // 1000}s"
    return text
