"""Expectations against request records and evidence."""

import pytest
from pydantic import ValidationError

from faultlab.model.scenario import Expect
from faultlab.output import words
from faultlab.run.evidence import AccessEvent, Evidence
from faultlab.run.traffic import RequestRecord
from faultlab.run.verdict import DuplicatesCheck, FailureStatusesCheck, OutcomeCheck, RepeatedEffectsCheck, judge


def records(*statuses):
    return [RequestRecord(f"r{i}", 0.0, status=s, error=None if s else "timeout") for i, s in enumerate(statuses)]


def evidence(rs):
    access = [AccessEvent("traefik", r.request_id, r.status, True, 0.0) for r in rs if r.status]
    return Evidence(["traefik", "app"], [], access)


def test_a_race_is_judged_on_a_count_of_failures_and_their_kind():
    rs = records(200, 200, 500, 502)
    checks = judge(Expect(failures={"min": 1}, failure_statuses=[500, 502], answered_by="traefik"), rs, evidence(rs))
    assert [c.ok for c in checks] == [True, True, True]
    outcome = checks[0]
    assert isinstance(outcome, OutcomeCheck) and outcome.failed == 2 and outcome.total == 4
    assert dict(outcome.outcomes) == {"200": 2, "500": 1, "502": 1}
    assert words.check(outcome).observed == "2 (200 ×2, 500 ×1, 502 ×1)"


def test_zero_failures_means_zero():
    rs = records(*[200] * 99, 502)
    assert not judge(Expect(failures={"max": 0}), rs, evidence(rs))[0].ok


def test_unexpected_failure_kinds_are_named():
    rs = records(200, 503, None)
    check = judge(Expect(failures={"min": 1}, failure_statuses=[503]), rs, evidence(rs))[1]
    assert isinstance(check, FailureStatusesCheck) and not check.ok
    assert dict(check.others) == {"no response (timeout)": 1}
    assert "no response (timeout) ×1" in words.check(check).observed


def test_exactly_one_way_of_judging_statuses():
    with pytest.raises(ValidationError, match="exactly one of"):
        Expect(status=200, failures={"max": 0})
    with pytest.raises(ValidationError, match="exactly one of"):
        Expect()


def _arrivals(rs, counts):
    seen = evidence(rs)
    seen.arrivals.update({r.request_id: n for r, n in zip(rs, counts, strict=True) if n})
    return seen


def test_a_request_the_app_received_twice_is_a_duplicate():
    rs = records(201, 201, 201, 502)
    seen = _arrivals(rs, [1, 2, 3, 1])
    check = judge(Expect(failures={"max": 4}, duplicates={"min": 1}), rs, seen)[-1]
    assert isinstance(check, DuplicatesCheck) and check.ok
    assert (check.duplicated, check.handled, check.total, check.most) == (2, 4, 4, 3)
    text = words.check(check)
    assert text.expected == "≥ 1 of 4" and text.observed == "2 (one of them 3 times); 4 of 4 reached the app"


def test_no_duplicates_means_none_and_a_request_that_never_arrived_is_not_one():
    rs = records(201, 502, 502)
    assert judge(Expect(failures={"min": 0}, duplicates={"max": 0}), rs, _arrivals(rs, [1, 0, 1]))[-1].ok
    assert not judge(Expect(failures={"min": 0}, duplicates={"max": 0}), rs, _arrivals(rs, [1, 2, 1]))[-1].ok
    assert "1 of 3 reached" not in words.check(judge(Expect(failures={"min": 0}, duplicates={"max": 0}), rs,
                                                     _arrivals(rs, [1, 0, 1]))[-1]).observed


def test_arrivals_of_other_steps_requests_do_not_count():
    rs = records(201)
    seen = _arrivals(rs, [1])
    seen.arrivals["from-another-step"] = 5
    check = judge(Expect(status=201, duplicates={"max": 0}), rs, seen)[-1]
    assert isinstance(check, DuplicatesCheck) and check.ok and check.most == 1


def test_a_replay_the_app_performed_once_is_a_duplicate_arrival_but_no_repeated_effect():
    rs = records(201, 409, 201)
    seen = _arrivals(rs, [2, 2, 1])
    seen.effects.update({rs[0].request_id: 1, rs[1].request_id: 2, rs[2].request_id: 1})
    checks = judge(Expect(failures={"max": 3}, duplicates={"min": 1}, repeated_effects={"max": 0}), rs, seen)
    duplicates, effects = checks[-2], checks[-1]
    assert isinstance(duplicates, DuplicatesCheck) and duplicates.ok and duplicates.duplicated == 2
    assert isinstance(effects, RepeatedEffectsCheck) and not effects.ok
    assert (effects.repeated, effects.performed, effects.total) == (1, 3, 3)
    assert words.check(effects).observed == "1; 3 of 3 performed"
