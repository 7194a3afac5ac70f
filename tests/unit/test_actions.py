"""A step's actions without an engine: done in the order of their scaled times, recorded, and a failed
one stops the rest and is reported as an environment error naming the action."""

from __future__ import annotations

import time

import pytest
from docker.errors import APIError

from faultlab.errors import EnvironmentError_
from faultlab.model.scenario import Action
from faultlab.run.actions import DuringTraffic
from faultlab.units import TimeScale


class FakeStack:
    def __init__(self, fail_on: str | None = None) -> None:
        self.done: list[tuple[float, str]] = []
        self.fail_on = fail_on
        self.began = time.monotonic()

    def _note(self, what: str) -> None:
        if what == self.fail_on:
            raise APIError("container is not running")
        self.done.append((time.monotonic() - self.began, what))

    def signal(self, hop: str, number: int, name: str) -> None:
        self._note(f"SIG{name} {hop}#{number}")

    def start(self, hop: str, number: int) -> None:
        self._note(f"start {hop}#{number}")

    def restart(self, hop: str, number: int) -> None:
        self._note(f"restart {hop}#{number}")

    def set_drained(self, hop: str, number: int, drained: bool) -> list[str]:
        self._note(f"{'drain' if drained else 'rejoin'} {hop}#{number}")
        return ["ingress"]


def _actions(*specs: tuple[str, str]) -> list[Action]:
    return [Action.model_validate({"at": at, "do": do, "hop": "app"}) for at, do in specs]


def test_actions_run_in_the_order_of_their_scaled_times_and_are_recorded():
    stack = FakeStack()
    acting = DuringTraffic(_actions(("3s", "start"), ("1s", "drain"), ("2s", "signal")), stack,  # type: ignore[arg-type]
                           TimeScale.parse("1/10"))
    acting.start()
    records = acting.finish()
    assert [what for _, what in stack.done] == ["drain app#1", "SIGTERM app#1", "start app#1"]
    assert [round(at, 1) for at, _ in stack.done] == [0.1, 0.2, 0.3]  # story seconds × 1/10
    assert [record.detail for record in records] == ["reloaded ingress", "", ""]
    assert all(record.error is None for record in records)


def test_a_failed_action_stops_the_others_and_names_itself():
    stack = FakeStack(fail_on="SIGTERM app#1")
    acting = DuringTraffic(_actions(("0s", "drain"), ("0s", "signal"), ("0s", "start")), stack,  # type: ignore[arg-type]
                           TimeScale.parse("1"))
    acting.start()
    with pytest.raises(EnvironmentError_, match=r"the action 'SIGTERM to app #1' at 0\.\d\d s failed: .*not running"):
        acting.finish()
    assert [what for _, what in stack.done] == ["drain app#1"]


def test_a_step_without_actions_starts_no_thread():
    acting = DuringTraffic([], FakeStack(), TimeScale.parse("1"))  # type: ignore[arg-type]
    acting.start()
    assert acting.finish() == [] and not acting._thread.is_alive()
