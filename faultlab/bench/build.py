"""A cold image build, offline: every lab image rebuilt from its recipe without the layer cache.

The images go to throwaway tags (removed afterwards), so the lab's own images stay as they are. The
Debian base is reused when present (building it with debootstrap is timed by `make test` on a
fresh machine, about 30 s here).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from faultlab.bench.figures import Figure
from faultlab.infra import engine, images

Say = Callable[[str], None]


def measure(say: Say) -> list[Figure]:
    client = engine.connect()
    say("cold build: every image again, without the layer cache")
    started = time.monotonic()
    seconds = images.rebuild_uncached(client, say)
    total = time.monotonic() - started
    parts = ", ".join(f"{name} {value:.0f} s" for name, value in seconds.items())
    return [Figure("cold offline image build", "all images, no layer cache", total, 240, "lower", "s",
                   detail=f"{parts}; Debian base and downloaded wheels reused (debootstrap adds ~30 s cold)")]
