"""The stacks the benchmarks measure, as scenario files of the bench's own (faultlab/bench/*.yaml): the same
validation and rendering as every run, and no shipped scenario whose change would move a figure."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from faultlab.hops import Knobs
from faultlab.infra.stack import Stack
from faultlab.model import scenario
from faultlab.model.plan import Plan
from faultlab.run.session import open_stack

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Target:
    plan: Plan
    knobs: dict[str, Knobs]


def target(name: str, step: str | None = None) -> Target:
    """A bench stack (`faultlab/bench/<name>.yaml`) at one of its steps (default: the first)."""
    plan = scenario.load(str(HERE / f"{name}.yaml"))
    chosen = plan.step_named(step) if step else plan.steps[0]
    return Target(plan, chosen.knobs)


@contextlib.contextmanager
def running(chosen: Target, say: Callable[[str], None]) -> Iterator[Stack]:
    with open_stack(chosen.plan, chosen.knobs, name=f"bench-{chosen.plan.scenario.id}", on_progress=say) as stack:
        yield stack
