"""A bench figure's verdict from its samples: a median on one side of the target is not a PASS or a SHORT
when the per-pair ratios behind it fall on both sides (issue 20)."""

from __future__ import annotations

from faultlab.bench.figures import Figure
from faultlab.bench.table import summary


def load(value: float, *samples: float) -> Figure:
    return Figure("load engine ÷ ab", "GET 200", value, 0.9, "higher", samples=samples)


def test_samples_all_on_one_side_keep_a_plain_verdict():
    assert load(1.1, 1.0, 1.1, 1.2).verdict == "PASS"
    assert load(0.8, 0.7, 0.8, 0.85).verdict == "SHORT"
    assert load(0.95).verdict == "PASS"  # one sample: nothing to spread


def test_samples_on_both_sides_are_not_distinguishable_from_the_target():
    figure = load(0.84, 0.71, 0.84, 1.02, 0.80, 0.95)
    assert figure.straddles and figure.verdict == "UNSURE" and not figure.passed
    assert figure.spread_text == "0.71×–1.02× over 5"
    lower = Figure("scenario wall", "÷ floor", 1.9, 2.0, "lower", samples=(1.8, 1.9, 2.2))
    assert lower.verdict == "UNSURE"


def test_the_summary_counts_the_unsure_apart():
    text = summary([load(1.1, 1.0, 1.2), load(0.84, 0.71, 1.02), load(0.5, 0.4, 0.6)])
    assert text.startswith("1/3 figures meet their target, 1 not distinguishable from it on this machine")
    assert summary([load(1.1, 1.0, 1.2)]) == "1/1 figures meet their target"
