"""`run --json`: the run's result as one JSON document, for tools — also for a run that failed or was
interrupted (`ok` false and `ended` says why)."""

from __future__ import annotations

import dataclasses
import json
import sys
from enum import Enum
from typing import Any, TextIO

from faultlab.run.events import Event, Interrupted, RunFailed, ScenarioFinished, ScenarioResult, StackUp
from faultlab.run.verdict import Check


class JsonReport:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.result: ScenarioResult | None = None
        self.stack_up_s: float | None = None
        self.ended = "finished"
        self.error: str | None = None

    def start(self) -> None:
        self.result, self.stack_up_s, self.ended, self.error = None, None, "finished", None

    def handle(self, event: Event) -> None:
        match event:
            case StackUp(seconds=seconds):
                self.stack_up_s = seconds
            case ScenarioFinished(result=result):
                self.result = result
            case RunFailed(result=result, error=error):
                self.result, self.ended, self.error = result, "failed", error
            case Interrupted(result=result):
                self.result, self.ended = result, "interrupted"

    def close(self) -> None:
        if self.result is not None:
            self.dump(self.stream or sys.stdout)

    def document(self) -> dict[str, Any]:
        assert self.result is not None, "the run has not ended"
        result = self.result
        return {
            "scenario": result.plan.scenario.id,
            "time_scale": str(result.plan.scale.ratio),
            "ok": result.ok and self.ended == "finished",
            "ended": self.ended,
            "error": self.error,
            "wall_s": round(result.wall_s, 3),
            "stack_up_s": round(self.stack_up_s, 3) if self.stack_up_s is not None else None,
            "steps": _steps(result),
            # The same steps on the scenario's twin topology (e.g. the Ingress through traefik), when it has one.
            "twin": None if result.twin is None else {
                "topology": result.twin.plan.topology.name, "ok": result.twin.ok,
                "wall_s": round(result.twin.wall_s, 3), "steps": _steps(result.twin)},
        }

    def dump(self, stream: TextIO) -> None:
        json.dump(self.document(), stream, indent=2, default=_plain)
        stream.write("\n")


def _steps(result: ScenarioResult) -> list[dict[str, Any]]:
    return [
        {
            "name": step.plan.step.name,
            "ok": step.ok,
            "wall_s": round(step.wall_s, 3),
            "checks": [check_data(check) for check in step.checks],
            "load": dataclasses.asdict(step.load) if step.load else None,
            "actions": [
                {"do": a.action.do, "hop": a.action.hop, "replica": a.action.replica,
                 "signal": a.action.sent_signal if a.action.do == "signal" else None,
                 "at_story_s": a.action.at, "at_s": round(a.at_s, 3), "time": round(a.time, 6),
                 "took_s": round(a.took_s, 3), "detail": a.detail}
                for a in step.actions
            ],
            "requests": [
                {
                    "request_id": r.record.request_id,
                    "status": r.record.status,
                    "error": r.record.error,
                    "started_at": round(r.record.started_at, 6),
                    "elapsed_s": round(r.record.elapsed_s, 3),
                    "answered_by": r.answered_by,
                    "trace": [{"hop": t.hop, "replicas": list(t.replicas), "status": t.status, "log": t.log,
                               "line": t.line}
                              for t in r.trace],
                }
                for r in step.requests
            ],
        }
        for step in result.steps
        ]


def check_data(check: Check) -> dict[str, Any]:
    """A check as data: its kind and fields (counts as {name: count})."""
    data = {"kind": check.kind.value, **dataclasses.asdict(check)}
    for name in ("outcomes", "others", "origins"):
        if name in data:
            data[name] = dict(data[name])
    return data


def _plain(value: object) -> object:
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "model_dump"):
        return value.model_dump()
    raise TypeError(f"{type(value).__name__} is not JSON")
