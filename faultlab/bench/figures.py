"""A benchmark figure: what was measured, against which target, PASS or SHORT, or, where its samples
fall on both sides of the target, not distinguishable from it on this machine."""

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
        return self._meets(self.value)

    def _meets(self, number: float) -> bool:
        return number >= self.target if self.better == "higher" else number <= self.target

    @property
    def straddles(self) -> bool:
        """Some samples meet the target and some do not: a median of per-pair ratios that lands on one
        side says little (the two rates' own medians may even point the other way)."""
        return len(self.samples) >= 2 and len({self._meets(sample) for sample in self.samples}) == 2

    @property
    def verdict(self) -> Literal["PASS", "SHORT", "UNSURE"]:
        if self.straddles:
            return "UNSURE"
        return "PASS" if self.passed else "SHORT"

    @property
    def spread_text(self) -> str:
        """The samples' range, where there are several: "0.71×–1.02× over 5"."""
        if len(self.samples) < 2:
            return ""
        return f"{self.shown(min(self.samples))}–{self.shown(max(self.samples))} over {len(self.samples)}"

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
