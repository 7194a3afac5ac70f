"""A step's actions (a deploy's drain, TERM, start, rejoin), done on a thread at their scaled times
while the step's traffic runs, each recorded with when it happened and how long it took."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from docker.errors import DockerException

from faultlab.errors import EnvironmentError_
from faultlab.infra.stack import Stack
from faultlab.model.scenario import Action
from faultlab.run.events import ActionRecord
from faultlab.units import TimeScale


class DuringTraffic:
    """`start()` as the traffic starts, `finish()` once it ended: the records, after the last action."""

    def __init__(self, actions: Sequence[Action], stack: Stack, scale: TimeScale) -> None:
        self.actions = sorted(actions, key=lambda action: action.at)
        self.stack = stack
        self.scale = scale
        self.records: list[ActionRecord] = []
        self._thread = threading.Thread(target=self._run, name="faultlab-actions", daemon=True)
        self._began = 0.0

    def start(self) -> None:
        self._began = time.monotonic()
        if self.actions:
            self._thread.start()

    def finish(self) -> list[ActionRecord]:
        if self.actions:
            self._thread.join()
        failed = [record for record in self.records if record.error]
        if failed:
            first = failed[0]
            raise EnvironmentError_(f"the action {first.action.describe()!r} at {first.at_s:.2f} s failed: "
                                    f"{first.error}",
                                    tip="`docker ps -a` shows the stack's containers; `{prog} clean` removes them")
        return self.records

    def _run(self) -> None:
        for action in self.actions:
            delay = self._began + self.scale.lab_s(action.at) - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            began, at = time.monotonic(), time.time()
            detail, error = "", None
            try:
                detail = self._do(action)
            except (DockerException, EnvironmentError_) as exc:
                error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.records.append(ActionRecord(action, began - self._began, at, time.monotonic() - began, detail, error))
            if error:
                return

    def _do(self, action: Action) -> str:
        match action.do:
            case "signal":
                self.stack.signal(action.hop, action.replica, action.sent_signal)
            case "start":
                self.stack.start(action.hop, action.replica)
            case "restart":
                self.stack.restart(action.hop, action.replica)
            case "replace":
                old, new = self.stack.replace(action.hop, action.replica)
                return f"address {old} → {new}; {old} now belongs to another container"
            case "drain" | "rejoin":
                reloaded = self.stack.set_drained(action.hop, action.replica, drained=action.do == "drain")
                return f"reloaded {', '.join(reloaded)}" if reloaded else ""
        return ""
