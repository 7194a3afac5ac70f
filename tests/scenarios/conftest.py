"""Real-engine tests: they need a Docker engine and the lab's images, and fail loudly without them
(`make test` provides both; skipping would let a broken setup pass as green)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from faultlab.infra import engine, images
from faultlab.model import scenario
from faultlab.output.json import JsonReport
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


def xdist_group(node: pytest.Item) -> str | None:
    """The test's xdist_group (its scenario, from `by_scenario`), None for an ungrouped test."""
    marks = [mark.args[0] for mark in node.iter_markers("xdist_group") if mark.args]
    return marks[0] if marks else None


@pytest.fixture(autouse=True)
def _grouped(request: pytest.FixtureRequest) -> None:
    """A test of a scenario's group must run in that group's process, or the scenario runs once per process
    that needs it, silently (pytest 9.2 broke xdist's grouping so: pytest-dev/pytest-xdist#1386)."""
    group = xdist_group(request.node)
    if group is not None and getattr(request.config.option, "loadgroup", False):
        assert request.node.nodeid.endswith(f"@{group}"), (
            f"pytest-xdist did not group {request.node.nodeid} with {group!r}: its scenario would run again")


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
            if os.environ.get("FAULTLAB_RUNS"):  # each run as `run --json` writes it: failure counts under load
                report = JsonReport()
                for event in recorder.events:
                    report.handle(event)
                with open(Path(os.environ["FAULTLAB_RUNS"]) / f"{scenario_id}.json", "w") as out:
                    report.dump(out)
        return runs[scenario_id]

    return run


# Longest first ---------------------------------------------------------------------------------------------
# pytest-xdist hands each process the next group (one scenario's tests, or one ungrouped test) when it gets
# free, in collection order (with --no-loadscope-reorder). Sorting the groups longest first keeps one long
# scenario from starting last beside idle processes. The seconds are measured: a `make test` run with
# FAULTLAB_DURATIONS=path writes them there (tests/scenarios/durations.json: the mean of two such runs).

DURATIONS = Path(__file__).with_name("durations.json")
UNKNOWN_S = 30.0  # a group the file does not know yet (a new scenario): about a short scenario's tests


def group_of(nodeid: str) -> str:
    """xdist's scope for a test: its xdist_group (the `@group` suffix loadgroup adds), else the test itself."""
    return nodeid.rsplit("@", 1)[-1] if "@" in nodeid else nodeid


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    known: dict[str, float] = json.loads(DURATIONS.read_text()) if DURATIONS.is_file() else {}
    # Stable: a group's tests keep their order.
    items.sort(key=lambda item: -known.get(xdist_group(item) or item.nodeid, UNKNOWN_S))


_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _seconds[group_of(report.nodeid)] = _seconds.get(group_of(report.nodeid), 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("FAULTLAB_DURATIONS")
    if path and not hasattr(session.config, "workerinput"):  # the controller sees every process's reports
        Path(path).write_text(json.dumps({k: round(v, 1) for k, v in sorted(_seconds.items())}, indent=1) + "\n")
