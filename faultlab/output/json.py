"""`lab run --json`: the run's result as one JSON document, for tools."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TextIO

from faultlab.run.events import Event, ScenarioFinished, ScenarioResult, StackUp


class JsonReport:
    def __init__(self) -> None:
        self.result: ScenarioResult | None = None
        self.stack_up_s: float | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, StackUp):
            self.stack_up_s = event.seconds
        if isinstance(event, ScenarioFinished):
            self.result = event.result

    def document(self) -> dict[str, Any]:
        assert self.result is not None, "the run emitted no ScenarioFinished"
        result = self.result
        return {
            "scenario": result.plan.scenario.id,
            "time_scale": str(result.plan.scale.ratio),
            "ok": result.ok,
            "wall_s": round(result.wall_s, 3),
            "stack_up_s": round(self.stack_up_s, 3) if self.stack_up_s is not None else None,
            "steps": [
                {
                    "name": step.plan.step.name,
                    "ok": step.ok,
                    "wall_s": round(step.wall_s, 3),
                    "checks": [vars(check) for check in step.checks],
                    "load": dataclasses.asdict(step.load) if step.load else None,
                    "requests": [
                        {
                            "request_id": r.record.request_id,
                            "status": r.record.status,
                            "error": r.record.error,
                            "started_at": round(r.record.started_at, 6),
                            "elapsed_s": round(r.record.elapsed_s, 3),
                            "answered_by": r.answered_by,
                            "trace": [{"hop": t.hop, "status": t.status, "log": t.log} for t in r.trace],
                        }
                        for r in step.requests
                    ],
                }
                for step in result.steps
            ],
        }

    def dump(self, stream: TextIO) -> None:
        json.dump(self.document(), stream, indent=2)
        stream.write("\n")
