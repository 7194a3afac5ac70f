"""`open_stack`: the one way to bring a scenario's stack up — the runner, the pytest plugin and the
bench all use it — and to be sure it goes down again."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from faultlab.hops import Knobs
from faultlab.infra import compose, engine, images
from faultlab.infra.stack import Kept, Stack
from faultlab.model.plan import Plan
from faultlab.units import TimeScale


def _quiet(text: str) -> None:
    return None


@contextmanager
def open_stack(plan: Plan, knobs: dict[str, Knobs] | None = None, *, name: str | None = None,
               scale: TimeScale | None = None,
               on_progress: Callable[[str], None] = _quiet,
               on_starting: Callable[[Stack], None] | None = None, kept: Kept | None = None) -> Iterator[Stack]:
    """The scenario's containers up with `knobs` (default: its first step's), healthy, on 127.0.0.1 ports;
    torn down when the block ends, however it ends; configs at `scale` (default: the scenario's).
    Images are built first if they are missing. A `kept` stack is found again if it runs, brought up if
    not, and left running; found again, every hop restarts with `knobs` (a check after a check must not
    meet the last one's requests still at work behind a proxy that gave up on them)."""
    client = engine.connect()
    compose_cli = compose.find()
    tags = images.ensure(client, on_progress)
    wanted = knobs if knobs is not None else plan.steps[0].knobs
    with Stack(plan.topology, scale or plan.scale, tags, client, compose_cli, name or plan.scenario.id,
               kept) as stack:
        if on_starting is not None:
            on_starting(stack)
        if kept is not None and stack.running():
            stack.apply(wanted, also_restart=plan.topology.hop_names)
        else:
            stack.up(wanted)
        yield stack


def remove_kept(plan: Plan, kept: Kept) -> None:
    """Tear a kept stack down (nothing happens if it is not there). It looks only at its own project: listing
    every project races with other stacks going away (the SDK fetches each network it lists)."""
    client = engine.connect()
    with Stack(plan.topology, plan.scale, {}, client, compose.find(), plan.scenario.id, kept) as stack:
        stack.down()
