"""The stacks the benchmarks measure, as scenario files: the same validation and rendering as every run."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from faultlab.hops import Knobs
from faultlab.infra import compose, engine, images
from faultlab.infra.stack import Stack
from faultlab.model import scenario
from faultlab.model.scenario import Plan

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Target:
    plan: Plan
    knobs: dict[str, Knobs]


def target(name_or_id: str, step: str | None = None) -> Target:
    """A bench stack (`lab/bench/<name>.yaml`) or a shipped scenario at one of its steps."""
    own = HERE / f"{name_or_id}.yaml"
    plan = scenario.load(str(own) if own.is_file() else name_or_id)
    chosen = plan.step_named(step) if step else plan.steps[0]
    return Target(plan, chosen.knobs)


@contextlib.contextmanager
def running(chosen: Target, say) -> Iterator[Stack]:  # noqa: ANN001 - Say
    client = engine.connect()
    tags = images.ensure(client, say)
    with Stack(chosen.plan.topology, chosen.plan.scale, tags, client, compose.find(),
               f"bench-{chosen.plan.scenario.id}") as stack:
        stack.up(chosen.knobs)
        yield stack
