"""A benchmark figure: what was measured, against which target, PASS or SHORT."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Figure:
    section: str
    name: str
    value: float
    target: float
    better: Literal["higher", "lower"]
    unit: str = "×"  # how value and target print: "×" ratio, "MiB", "s"
    detail: str = ""  # what else a reader needs: the raw rates, percentiles, runs
    samples: tuple[float, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return self.value >= self.target if self.better == "higher" else self.value <= self.target

    def shown(self, number: float) -> str:
        if self.unit == "×":
            return f"{number:.2f}×"
        if self.unit == "%":
            return f"{number:.0f} %"
        return f"{number:.1f} {self.unit}"

    @property
    def target_text(self) -> str:
        return ("≥ " if self.better == "higher" else "≤ ") + self.shown(self.target)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
