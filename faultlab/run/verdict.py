"""A step's verdict: each expectation of the scenario file against what the servers really did."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from faultlab.model.scenario import Expect
from faultlab.run.evidence import Evidence
from faultlab.run.traffic import RequestRecord
from faultlab.units import format_size


@dataclass(frozen=True)
class Check:
    what: str
    expected: str
    observed: str
    ok: bool


def is_failure(record: RequestRecord) -> bool:
    """What ab counts as failed or non-2xx: anything but a 2xx answer."""
    return record.status is None or not 200 <= record.status < 300


def judge(expect: Expect, records: list[RequestRecord], evidence: Evidence) -> list[Check]:
    checks = [_outcomes(expect, records)]
    judged = [r for r in records if is_failure(r)] if expect.failures is not None else records
    if expect.failure_statuses:
        odd = Counter(r.outcome for r in judged if r.status not in expect.failure_statuses)
        checks.append(Check("failures are", " or ".join(map(str, expect.failure_statuses)),
                            _counts(odd) if odd else "all of them", not odd))
    if expect.answered_by:
        checks.append(_answered_by(expect, judged, evidence))
    for signature in expect.logs:
        found = evidence.matching(signature.hop, signature.match, signature.stream)
        stream = "" if signature.stream == "any" else f" {signature.stream} log"
        if found:
            observed = _shorten(found[0].text) + (f"  (+{len(found) - 1} more)" if len(found) > 1 else "")
        else:
            seen = evidence.matching(signature.hop, "", signature.stream)
            observed = (f"no matching line among {len(seen)}" +
                        (f"; the last one: {_shorten(seen[-1].text)}" if seen else ""))
        checks.append(Check(f"log at {signature.hop}{stream}", f"/{signature.match}/", observed, bool(found)))
    if expect.response_matches_upload:
        checks.append(_upload_echo(records))
    return checks


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{outcome} ×{count}" for outcome, count in counter.most_common())


def _outcomes(expect: Expect, records: list[RequestRecord]) -> Check:
    seen = _counts(Counter(record.outcome for record in records))
    if expect.failures is not None:
        failed = sum(map(is_failure, records))
        return Check("requests without a 2xx", f"{expect.failures} of {len(records)}",
                     f"{failed} ({seen})", expect.failures.admits(failed))
    if expect.no_response:
        return Check("status at the client", f"no response ×{len(records)}", seen,
                     all(record.status is None for record in records))
    ok = all(record.status == expect.status for record in records)
    return Check("status at the client", f"{expect.status} ×{len(records)}", seen, ok)


def _answered_by(expect: Expect, judged: list[RequestRecord], evidence: Evidence) -> Check:
    if not judged:
        return Check("answered by", str(expect.answered_by), "no such requests to trace", True)
    origins = Counter(str(evidence.answered_by(r.request_id, r.status)) for r in judged)
    observed = ", ".join(f"{origin} ×{count}" if len(judged) > 1 else origin for origin, count in origins.items())
    return Check("answered by", str(expect.answered_by), observed, set(origins) == {expect.answered_by})


def _upload_echo(records: list[RequestRecord]) -> Check:
    bad = [r for r in records
           if r.response.get("bytes") != r.bytes_sent or r.response.get("sha256") != r.sha256_sent]
    first = records[0]
    observed = (f"app got {format_size(first.response.get('bytes', 0))}, sha256 "
                f"{'matches' if not bad else 'differs'}" if first.response else "no JSON answer from the app")
    return Check("upload arrived whole", f"{format_size(first.bytes_sent)}, same sha256", observed, not bad)


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
