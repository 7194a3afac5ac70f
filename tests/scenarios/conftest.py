"""Real-engine tests: they need a Docker engine and the lab's images, and fail loudly without them
(`make test` provides both; skipping would let a broken setup pass as green)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import docker
import pytest

from faultlab.infra import engine, images
from faultlab.model import scenario
from faultlab.run import runner
from faultlab.run.events import Event, Recorder, ScenarioResult


@pytest.fixture(scope="session")
def client() -> docker.DockerClient:
    return engine.connect()


@pytest.fixture(scope="session")
def image_tags(client: docker.DockerClient) -> dict[str, str]:
    return images.ensure(client, print)


def leftovers(client: docker.DockerClient, project: str) -> list[str]:
    label = {"label": f"com.docker.compose.project={project}"}
    return ([c.name for c in client.containers.list(all=True, filters=label)]
            + [n.name for n in client.networks.list(filters=label)]
            + [v.name for v in client.volumes.list(filters=label)])


@dataclass(frozen=True)
class RealRun:
    result: ScenarioResult
    events: list[Event]


def by_scenario(scenario_id: str, value: object, test_id: str | None = None) -> object:
    """A test parameter that reads `real_run(scenario_id)`: under pytest-xdist (`make test` runs two
    processes, --dist loadgroup) every test of one scenario goes to the same process, so each scenario
    still runs once per test session."""
    return pytest.param(value, id=test_id or scenario_id, marks=pytest.mark.xdist_group(scenario_id))


@pytest.fixture(autouse=True)
def _grouped(request: pytest.FixtureRequest) -> None:
    """A test of a scenario's group must run in that group's process, or the scenario runs once per process
    that needs it, silently (pytest 9.2 broke xdist's grouping so: pytest-dev/pytest-xdist#1386)."""
    groups = [mark.args[0] for mark in request.node.iter_markers("xdist_group") if mark.args]
    if groups and getattr(request.config.option, "loadgroup", False):
        assert request.node.nodeid.endswith(f"@{groups[0]}"), (
            f"pytest-xdist did not group {request.node.nodeid} with {groups[0]!r}: its scenario would run again")


@pytest.fixture(scope="session")
def real_run(image_tags: dict[str, str]) -> Callable[[str], RealRun]:
    """Each scenario's whole run, once per test session: the scenario tests judge it, the diagnose proof
    reads its steps' lines. A step's evidence in the whole run is the same step's (lines since it began)."""
    runs: dict[str, RealRun] = {}

    def run(scenario_id: str) -> RealRun:
        if scenario_id not in runs:
            recorder = Recorder()
            result = runner.run(scenario.load(scenario_id), [recorder])
            runs[scenario_id] = RealRun(result, list(recorder.events))
        return runs[scenario_id]

    return run
