"""What the scenario-time bench reads from a `run --json` document: its floor and the steps that failed."""

from __future__ import annotations

from faultlab.bench.scenario_time import Timed, floor_s, unmatched


def document(*steps: tuple[str, bool]) -> dict:
    return {"ok": all(ok for _, ok in steps), "wall_s": 9.0, "stack_up_s": 2.0,
            "steps": [{"name": name, "ok": ok, "requests": [{"started_at": 10.0, "elapsed_s": 1.5},
                                                            {"started_at": 10.5, "elapsed_s": 2.0}]}
                      for name, ok in steps]}


def test_the_floor_is_the_stack_and_each_steps_traffic():
    assert floor_s(document(("broken", True), ("fix", True))) == 2.0 + 2.5 + 2.5


def test_a_run_that_did_not_match_names_its_failed_steps():
    failed = document(("broken", True), ("drain-then-term", False))
    assert unmatched(failed) == ("drain-then-term",)
    timed = Timed("502-deploy-drain", False, 9.0, 7.0, unmatched(failed))
    assert timed.mismatch == "step drain-then-term did not match"
    assert Timed("x", False, 1.0, 1.0).mismatch == "the run did not match"
