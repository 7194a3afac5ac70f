"""pytest plugin: a running scenario stack as a fixture, for your own assertions against real servers.

    pytest --faultlab-scenario ./my-scenario.yaml [--faultlab-step broken] test_mine.py

or, per test module, `pytestmark = pytest.mark.faultlab_scenario("413-body-size", step="broken")`. The
`faultlab_stack` fixture starts the scenario's containers with that step's knobs (the same path as
`faultlab run`: images built if missing, 127.0.0.1 ports, torn down after the module) and gives URLs,
logs and `apply(step)` to move to another step. Tests that use it are skipped, with the reason,
when no scenario is named. Installed with faultlab (entry point `pytest11`); inert otherwise.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from faultlab.model.plan import Plan, StepPlan

if TYPE_CHECKING:
    from faultlab.infra.stack import Stack


LOG_POLL_S = 0.1


class FaultlabStack:
    """The running stack of one scenario, at one step."""

    def __init__(self, plan: Plan, stack: Stack, step: StepPlan) -> None:
        self.plan = plan
        self.step = step
        self._stack = stack
        self.started_at = time.time()

    @property
    def project(self) -> str:
        return self._stack.project

    @property
    def hops(self) -> list[str]:
        return self.plan.topology.hop_names

    def url(self, hop: str | None = None) -> str:
        """`http://127.0.0.1:<port>` of a hop (default: the one clients talk to)."""
        return self._stack.url(hop)

    def logs(self, hop: str, since: float | None = None) -> list[str]:
        """The hop's log lines (stdout and stderr) since `since` (epoch seconds; default: this step's start)."""
        return [text for _, text in self._stack.logs(hop, self.started_at if since is None else since)]

    def wait_for_log(self, hop: str, pattern: str, timeout_s: float = 5.0, since: float | None = None) -> str:
        """The first of the hop's lines since `since` (default: this step's start) that the regex `pattern`
        matches, waiting up to `timeout_s` for it: the engine hands a container's lines on a moment after the
        server wrote them (measured under `make test`'s load: an nginx error line not there yet when its 413
        had reached the client). AssertionError with the hop's last lines when none matched in time."""
        deadline = time.monotonic() + timeout_s
        while True:
            lines = self.logs(hop, since)
            found = next((line for line in lines if re.search(pattern, line)), None)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                last = "\n".join(lines[-5:]) or "(none)"
                raise AssertionError(f"no line of {hop} matched {pattern!r} within {timeout_s:g} s; its last lines:\n"
                                     f"{last}")
            time.sleep(LOG_POLL_S)

    def apply(self, step: str) -> None:
        """Move to another step of the scenario: its knobs, restarting what changed (and what is in front)."""
        self.step = self.plan.step_named(step)
        self._stack.apply(self.step.knobs, also_restart=[])
        self.started_at = time.time()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("faultlab")
    group.addoption("--faultlab-scenario", metavar="ID_OR_FILE",
                    help="the scenario whose stack `faultlab_stack` starts")
    group.addoption("--faultlab-step", metavar="NAME", help="the step whose knobs apply (default: the first)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers",
                            "faultlab_scenario(id_or_file, step=None): the scenario (and step) of faultlab_stack")


@pytest.fixture(scope="module")
def faultlab_stack(request: pytest.FixtureRequest) -> Iterator[FaultlabStack]:
    from faultlab.errors import LabError
    from faultlab.model import scenario
    from faultlab.run.session import open_stack

    marker = request.node.get_closest_marker("faultlab_scenario")
    name = marker.args[0] if marker else request.config.getoption("--faultlab-scenario")
    step_name = (marker.kwargs.get("step") if marker else None) or request.config.getoption("--faultlab-step")
    if not name:
        pytest.skip("faultlab_stack needs a scenario: pass --faultlab-scenario ID_OR_FILE or mark the module with "
                    "pytest.mark.faultlab_scenario(...)")
    try:
        plan = scenario.load(name)
        step = plan.step_named(step_name) if step_name else plan.steps[0]
    except LabError as exc:
        raise pytest.UsageError(f"faultlab: {exc.message}") from None
    with open_stack(plan, step.knobs, scale=step.scale) as stack:
        yield FaultlabStack(plan, stack, step)
