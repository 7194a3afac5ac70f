"""Each scenario's wall time against its floor, and the whole catalogue's wall time.

The floor of a run is what no harness could skip: bringing the stack up, and each step's traffic
from its first request to its last answer (the timeouts it waits out and the app's work, at the
scenario's time scale). What remains is the lab's own overhead: restarts between steps, reading
logs, teardown. Scenarios run as `faultlab run <id> --json` processes, `jobs` at a time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from faultlab.bench.figures import Figure, median
from faultlab.model import scenario

Say = Callable[[str], None]
CATALOGUE_OVER_FLOORS = 1.3  # the whole catalogue, `jobs` at a time: at most this × its floors ÷ jobs


@dataclass(frozen=True)
class Timed:
    scenario_id: str
    ok: bool
    wall_s: float
    floor_s: float
    unmatched: tuple[str, ...] = ()  # the steps whose verdict failed (a race under the other run's load)

    @property
    def mismatch(self) -> str:
        return f"step {', '.join(self.unmatched)} did not match" if self.unmatched else "the run did not match"


def floor_s(document: dict[str, Any]) -> float:
    total = document.get("stack_up_s") or 0.0
    for step in document["steps"]:
        spans = [(r["started_at"], r["started_at"] + r["elapsed_s"]) for r in step["requests"]]
        if spans:
            total += max(end for _, end in spans) - min(start for start, _ in spans)
    return total


def run_one(scenario_id: str) -> Timed:
    done = subprocess.run([sys.executable, "-m", "faultlab", "run", scenario_id, "--json"],
                          capture_output=True, text=True, timeout=900)
    try:
        document = json.loads(done.stdout)
    except json.JSONDecodeError:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"faultlab run {scenario_id} printed no JSON: {tail[0]}") from None
    return Timed(scenario_id, document["ok"], document["wall_s"], floor_s(document), unmatched(document))


def unmatched(document: dict[str, Any]) -> tuple[str, ...]:
    """The names of a `run --json` document's steps whose expectations failed."""
    return tuple(step["name"] for step in document["steps"] if not step.get("ok", True))


def measure(say: Say, jobs: int = 2) -> list[Figure]:
    ids = sorted(scenario.available(), key=_longest_first)
    say(f"scenario time: the catalogue's {len(ids)} scenarios, {jobs} at a time")
    started = time.monotonic()
    with ThreadPoolExecutor(jobs) as pool:
        timed = []
        for result in pool.map(run_one, ids):
            say(f"  {result.scenario_id}: {result.wall_s:.1f} s, floor {result.floor_s:.1f} s"
                f"{'' if result.ok else f' ({result.mismatch.upper()})'}")
            timed.append(result)
    catalogue_s = time.monotonic() - started
    figures = [Figure("scenario time ÷ floor", t.scenario_id, t.wall_s / t.floor_s, 2.0, "lower",
                      detail=f"{t.wall_s:.1f} s, floor {t.floor_s:.1f} s (stack up + traffic)"
                      + ("" if t.ok else f"; {t.mismatch} its expectations"))
               for t in sorted(timed, key=lambda t: t.scenario_id)]
    ratios = [t.wall_s / t.floor_s for t in timed]
    figures.append(Figure("scenario time ÷ floor", "median of the scenarios", median(ratios), 1.5, "lower",
                          detail=f"{len(ratios)} scenarios, {min(ratios):.2f}×–{max(ratios):.2f}×"))
    # Two at a time, the catalogue can at best take half its floors; issue 20 allows 30 % over that.
    floors = sum(t.floor_s for t in timed)
    matched = sum(t.ok for t in timed)
    figures.append(Figure("scenario time ÷ floor", f"whole catalogue, {jobs} at a time", catalogue_s,
                          round(CATALOGUE_OVER_FLOORS * floors / jobs, 1), "lower", "s",
                          detail=f"{matched}/{len(timed)} matched; floors {floors:.0f} s in all, one at a time "
                          f"the runs add up to {sum(t.wall_s for t in timed):.0f} s"))
    return figures


def _longest_first(scenario_id: str) -> int:
    # Long scenarios first, so the pool does not end on one long run with an idle slot beside it.
    return -len(scenario.load(scenario_id).steps)
