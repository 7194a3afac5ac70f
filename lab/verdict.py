"""A step's verdict: each expectation of the scenario file against what the servers really did."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from lab.evidence import Evidence
from lab.scenario import Expect
from lab.traffic import RequestRecord
from lab.units import format_size


@dataclass(frozen=True)
class Check:
    what: str
    expected: str
    observed: str
    ok: bool


def judge(expect: Expect, records: list[RequestRecord], evidence: Evidence) -> list[Check]:
    checks = [_status(expect, records)]
    if expect.answered_by:
        checks.append(_answered_by(expect.answered_by, records, evidence))
    for signature in expect.logs:
        found = evidence.matching(signature.hop, signature.match, signature.stream)
        stream = "" if signature.stream == "any" else f" {signature.stream} log"
        if found:
            observed = _shorten(found[0].text)
        else:
            seen = evidence.matching(signature.hop, "", signature.stream)
            observed = (f"no matching line among {len(seen)}" +
                        (f"; the last one: {_shorten(seen[-1].text)}" if seen else ""))
        checks.append(Check(f"log at {signature.hop}{stream}", f"/{signature.match}/", observed, bool(found)))
    if expect.response_matches_upload:
        checks.append(_upload_echo(records))
    return checks


def _status(expect: Expect, records: list[RequestRecord]) -> Check:
    seen = Counter(record.outcome for record in records)
    observed = ", ".join(f"{outcome} ×{count}" for outcome, count in seen.most_common())
    ok = all(record.status == expect.status for record in records)
    return Check("status at the client", f"{expect.status} ×{len(records)}", observed, ok)


def _answered_by(hop: str, records: list[RequestRecord], evidence: Evidence) -> Check:
    origins = Counter(str(evidence.answered_by(r.request_id, r.status)) for r in records)
    observed = ", ".join(f"{origin} ×{count}" if len(records) > 1 else origin for origin, count in origins.items())
    return Check("answered by", hop, observed, set(origins) == {hop})


def _upload_echo(records: list[RequestRecord]) -> Check:
    bad = [r for r in records
           if r.response.get("bytes") != r.bytes_sent or r.response.get("sha256") != r.sha256_sent]
    first = records[0]
    observed = (f"app got {format_size(first.response.get('bytes', 0))}, sha256 "
                f"{'matches' if not bad else 'differs'}" if first.response else "no JSON answer from the app")
    return Check("upload arrived whole", f"{format_size(first.bytes_sent)}, same sha256", observed, not bad)


def _shorten(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
