"""A step's verdict: each expectation of the scenario file against what the servers really did.

Checks carry data (what was expected, what was seen), one dataclass per kind; how a check reads is
the views' business (output/words.py), so renaming a label can never break a report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from faultlab.model.scenario import CountRange, Expect
from faultlab.run.evidence import Evidence
from faultlab.run.traffic import RequestRecord


class CheckKind(Enum):
    OUTCOME = "outcome"  # the statuses (or failure count) at the client: always the step's first check
    FAILURE_STATUSES = "failure_statuses"
    ANSWERED_BY = "answered_by"
    LOG = "log"
    UPLOAD = "upload"
    DUPLICATES = "duplicates"
    REPEATED_EFFECTS = "repeated_effects"


Counts = tuple[tuple[str, int], ...]  # (outcome or hop, count), most common first


@dataclass(frozen=True)
class OutcomeCheck:
    kind: ClassVar[CheckKind] = CheckKind.OUTCOME
    ok: bool
    total: int
    outcomes: Counts  # "200", "502", "no response (ReadTimeout)"
    failed: int  # requests without a 2xx answer
    status: int | None = None  # expected: every request answered with this status
    failures: CountRange | None = None  # expected: this many requests without a 2xx
    no_response: bool = False  # expected: no request got an answer


@dataclass(frozen=True)
class FailureStatusesCheck:
    kind: ClassVar[CheckKind] = CheckKind.FAILURE_STATUSES
    ok: bool
    allowed: tuple[int, ...]
    others: Counts  # the judged requests whose outcome is not allowed


@dataclass(frozen=True)
class AnsweredByCheck:
    kind: ClassVar[CheckKind] = CheckKind.ANSWERED_BY
    ok: bool
    expected: str
    judged: int  # requests traced
    origins: Counts  # hop that answered ("None": no hop's line explains the status)


@dataclass(frozen=True)
class LogCheck:
    kind: ClassVar[CheckKind] = CheckKind.LOG
    ok: bool
    hop: str
    stream: str  # access | error | any
    pattern: str
    found: int  # lines that match
    first: str | None  # the first match
    first_message: str | None  # the same without its server's prefix (time, pid, caller)
    seen: int  # lines the hop logged on that stream
    last_seen: str | None  # its last line, when nothing matched


@dataclass(frozen=True)
class UploadCheck:
    kind: ClassVar[CheckKind] = CheckKind.UPLOAD
    ok: bool
    bytes_sent: int
    bytes_received: int | None  # what the app counted (None: no JSON answer)
    sha256_matches: bool


@dataclass(frozen=True)
class DuplicatesCheck:
    kind: ClassVar[CheckKind] = CheckKind.DUPLICATES
    ok: bool
    expected: CountRange
    duplicated: int  # the step's requests that the app received more than once
    handled: int  # the step's requests that the app received at all
    total: int  # the step's requests
    most: int  # the most times one request arrived


@dataclass(frozen=True)
class RepeatedEffectsCheck:
    kind: ClassVar[CheckKind] = CheckKind.REPEATED_EFFECTS
    ok: bool
    expected: CountRange
    repeated: int  # the step's requests whose side effect the app performed more than once
    performed: int  # the step's requests whose side effect it performed at all
    total: int


Check = (OutcomeCheck | FailureStatusesCheck | AnsweredByCheck | LogCheck | UploadCheck | DuplicatesCheck
         | RepeatedEffectsCheck)


def is_failure(record: RequestRecord) -> bool:
    """What ab counts as failed or non-2xx: anything but a 2xx answer."""
    return record.status is None or not 200 <= record.status < 300


def judge(expect: Expect, records: list[RequestRecord], evidence: Evidence) -> list[Check]:
    checks: list[Check] = [_outcome(expect, records)]
    judged = [r for r in records if is_failure(r)] if expect.failures is not None else records
    if expect.failure_statuses:
        odd = Counter(r.outcome for r in judged if r.status not in expect.failure_statuses)
        checks.append(FailureStatusesCheck(not odd, tuple(expect.failure_statuses), _counts(odd)))
    if expect.answered_by:
        origins = Counter(str(evidence.answered_by(r.request_id, r.status)) for r in judged)
        ok = not judged or set(origins) == {expect.answered_by}
        checks.append(AnsweredByCheck(ok, expect.answered_by, len(judged), _counts(origins)))
    for signature in expect.logs:
        found = evidence.matching(signature.hop, signature.match, signature.stream)
        seen = evidence.matching(signature.hop, "", signature.stream)
        checks.append(LogCheck(bool(found), signature.hop, signature.stream, signature.match, len(found),
                               found[0].text if found else None, evidence.message(found[0]) if found else None,
                               len(seen),
                               seen[-1].text if seen and not found else None))
    if expect.response_matches_upload:
        checks.append(_upload_echo(records))
    if expect.duplicates is not None:
        checks.append(_duplicates(expect.duplicates, records, evidence))
    if expect.repeated_effects is not None:
        repeated, performed, _ = _more_than_once(evidence.effects, records)
        checks.append(RepeatedEffectsCheck(expect.repeated_effects.admits(repeated), expect.repeated_effects,
                                           repeated, performed, len(records)))
    return checks


def _duplicates(expected: CountRange, records: list[RequestRecord], evidence: Evidence) -> DuplicatesCheck:
    duplicated, handled, most = _more_than_once(evidence.arrivals, records)
    return DuplicatesCheck(expected.admits(duplicated), expected, duplicated, handled, len(records), most)


def _more_than_once(counted: Counter[str], records: list[RequestRecord]) -> tuple[int, int, int]:
    """Of the step's requests: how many `counted` saw more than once, how many at all, and the most times one."""
    counts = [counted.get(record.request_id, 0) for record in records]
    return sum(count > 1 for count in counts), sum(count > 0 for count in counts), max(counts, default=0)


def _counts(counter: Counter[str]) -> Counts:
    return tuple(counter.most_common())


def _outcome(expect: Expect, records: list[RequestRecord]) -> OutcomeCheck:
    outcomes = _counts(Counter(record.outcome for record in records))
    failed = sum(map(is_failure, records))
    if expect.failures is not None:
        ok = expect.failures.admits(failed)
    elif expect.no_response:
        ok = all(record.status is None for record in records)
    else:
        ok = all(record.status == expect.status for record in records)
    return OutcomeCheck(ok, len(records), outcomes, failed, expect.status, expect.failures, expect.no_response)


def _upload_echo(records: list[RequestRecord]) -> UploadCheck:
    bad = [r for r in records
           if r.response.get("bytes") != r.bytes_sent or r.response.get("sha256") != r.sha256_sent]
    first = records[0]
    received = first.response.get("bytes") if first.response else None
    return UploadCheck(not bad, first.bytes_sent, received, not bad)
