"""Streamed uploads of any size, generated on the fly and never held in memory.

The body is one random 1 MiB block repeated (cheap to make, and still incompressible to any hop),
hashed as it is sent so the app's sha256 can be checked against what really left the client.
`transfer` picks Content-Length or chunked, because nginx handles the two differently: with a known
length its client_max_body_size check answers before reading the body; chunked, it answers mid-stream.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterator

import httpx

from faultlab.run.traffic.record import RequestRecord

BLOCK_BYTES = 1 << 20
PROGRESS_EVERY_S = 0.2

# (request number, records so far, bytes of this body sent, elapsed seconds of this request)
UploadProgress = Callable[[int, list[RequestRecord], int, float], None]


def _body(size: int, record: RequestRecord, tick: Callable[[], None] | None = None) -> Iterator[bytes]:
    block = os.urandom(BLOCK_BYTES)
    digest = hashlib.sha256()
    remaining = size
    while remaining > 0:
        chunk = block[: min(BLOCK_BYTES, remaining)]
        digest.update(chunk)
        remaining -= len(chunk)
        record.bytes_sent += len(chunk)
        record.sha256_sent = digest.hexdigest() if remaining == 0 else ""
        if tick is not None:
            tick()
        yield chunk


class _Ticker:
    """Reports an upload's progress at most every PROGRESS_EVERY_S, from inside its body generator."""

    def __init__(self, report: UploadProgress, number: int, done: list[RequestRecord], record: RequestRecord,
                 started: float) -> None:
        self.report, self.number, self.done, self.record, self.started = report, number, done, record, started
        self.last = 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            self.report(self.number, self.done, self.record.bytes_sent, now - self.started)


def send_uploads(base_url: str, path: str, *, size: int, chunked: bool, params: dict[str, str],
                 headers: dict[str, str], count: int, timeout_s: float,
                 on_progress: UploadProgress | None = None) -> list[RequestRecord]:
    records: list[RequestRecord] = []
    timeout = httpx.Timeout(timeout_s, connect=10.0)
    with httpx.Client(timeout=timeout) as client:
        for _ in range(count):
            record = RequestRecord(request_id=uuid.uuid4().hex, started_at=time.time())
            # The lab's id first, as the load engine sends it (read before a header a server refuses).
            request_headers = {"X-Request-ID": record.request_id, **headers,
                               "Content-Type": "application/octet-stream"}
            if not chunked:
                request_headers["Content-Length"] = str(size)  # httpx then streams the generator unchunked
            started = time.monotonic()
            tick = _Ticker(on_progress, len(records), records, record, started) if on_progress else None
            try:
                response = client.post(f"{base_url}{path}", params=params, content=_body(size, record, tick),
                                       headers=request_headers)
                record.status = response.status_code
                if response.headers.get("content-type", "").startswith("application/json"):
                    record.response = response.json()
            except httpx.HTTPError as exc:
                record.error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            record.elapsed_s = time.monotonic() - started
            records.append(record)
    return records
