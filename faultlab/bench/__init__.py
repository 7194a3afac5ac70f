"""`make bench`: speed and memory as measured figures, each against its target, PASS or SHORT.

Benchmarks, not timed tests: this machine is noisy, so each comparison with another tool runs
side by side in the same run (A/B interleaved) and the figure is a ratio.
"""

from __future__ import annotations

from collections.abc import Callable

from faultlab.bench.figures import Figure

Say = Callable[[str], None]
SECTIONS = ("load", "upload", "fidelity", "scenarios", "build")


def run(sections: list[str], say: Say) -> list[Figure]:
    from faultlab.bench import build, fidelity, scenario_time, upload, versus_ab

    measure: dict[str, Callable[[Say], list[Figure]]] = {
        "load": versus_ab.measure, "upload": upload.measure, "fidelity": fidelity.measure,
        "scenarios": scenario_time.measure, "build": build.measure,
    }
    figures: list[Figure] = []
    for section in sections:
        figures += measure[section](say)
    return figures
