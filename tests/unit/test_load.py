"""The load engine against a tiny asyncio HTTP server on 127.0.0.1, run in a thread of the test process."""

from __future__ import annotations

import asyncio
import os
import select
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest

from faultlab.run.traffic.load import LoadProgress, LoadSpec, format_summary, run_load, summarize
from faultlab.run.traffic.record import RequestRecord


@dataclass
class Seen:
    """What the server saw."""

    request_ids: list[str] = field(default_factory=list)
    status_sent: dict[str, int] = field(default_factory=dict)  # by X-Request-ID
    bodies: list[bytes] = field(default_factory=list)
    content_types: list[str | None] = field(default_factory=list)
    idempotency_keys: list[str | None] = field(default_factory=list)
    connections: int = 0
    in_flight: int = 0
    max_in_flight: int = 0


@dataclass
class Request:
    path: str
    query: dict[str, list[str]]
    request_id: str
    keep: bool


RAW_ANSWERS = {  # /raw?case=: sent as is, then the connection is closed
    "early-hints": b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "no-content": b"HTTP/1.1 204 No Content\r\n\r\n",
    "truncated": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok",
    "garbage": b"hello\r\n\r\n",
}


class Server:
    """Answers by path: /ok?delay_s=&cycle= (200, 404, 503 in turn), /chunked, /close-delimited, /raw, /hangup,
    /stall; counts connections and requests in flight."""

    def __init__(self) -> None:
        self.seen = Seen()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self.port = 0

    def __enter__(self) -> Server:
        self.thread.start()
        self.ready.wait(5)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self) -> None:
        # asyncio.run then cancels the connections still open, inside the loop, before closing it.
        self.loop, self.stopping = asyncio.get_running_loop(), asyncio.Event()
        server = await asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=512)
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        await self.stopping.wait()
        server.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.seen.connections += 1
        try:
            while await self._exchange(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """One request and its answer; True to keep the connection."""
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        target = urlsplit(lines[0].split(" ")[1])
        headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", 0)))
        self.seen.request_ids.append(headers["x-request-id"])
        self.seen.bodies.append(body)
        self.seen.content_types.append(headers.get("content-type"))
        self.seen.idempotency_keys.append(headers.get("idempotency-key"))
        request = Request(target.path, parse_qs(target.query), headers["x-request-id"],
                          keep=headers.get("connection") != "close")
        self.seen.in_flight += 1
        self.seen.max_in_flight = max(self.seen.max_in_flight, self.seen.in_flight)
        try:
            return await self._answer(request, reader, writer)
        finally:
            self.seen.in_flight -= 1

    async def _answer(self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        path, query, keep = request.path, request.query, request.keep
        if path == "/hangup":
            return False
        if path == "/stall":
            await reader.read()  # until the client hangs up
            return False
        if path == "/raw":
            writer.write(RAW_ANSWERS[query["case"][0]])
            await writer.drain()
            await asyncio.sleep(0.05)  # the client must not need the close to see a whole response
            return False
        if path == "/close-delimited":
            for part in (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nfirst ", b"second"):
                writer.write(part)
                await writer.drain()
                await asyncio.sleep(0.01)
            return False
        connection = b"" if keep else b"Connection: close\r\n"
        if path == "/chunked":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + connection + b"\r\n5\r\nhel")
            for part in (b"lo\r\n", b"6;ext=1\r\n world\r\n", b"0\r\n", b"Trailer: x\r\n\r\n"):
                await writer.drain()
                await asyncio.sleep(0.01)
                writer.write(part)
            await writer.drain()
            return keep
        await asyncio.sleep(float(query.get("delay_s", ["0"])[0]))
        status = 200 if "cycle" not in query else (200, 404, 503)[len(self.seen.status_sent) % 3]
        self.seen.status_sent[request.request_id] = status
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 3\r\n".encode() + connection + b"\r\nok\n")
        await writer.drain()
        return keep


@pytest.fixture(params=["epoll", "poll"])
def server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """Every test runs on Linux's edge-triggered epoll and on the level-triggered select.poll used elsewhere."""
    if request.param == "poll":
        monkeypatch.delattr(select, "epoll", raising=False)
    elif not hasattr(select, "epoll"):
        pytest.skip("no epoll here")
    with Server() as running:
        yield running


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


def load(server: Server, path: str, **spec: object) -> list[RequestRecord]:
    """Runs the engine, which must leave nothing behind: no thread, no socket once the server closed its own."""
    fds, threads = open_fds(), threading.active_count()
    started = time.monotonic()
    records = run_load(server.url, LoadSpec(spec.pop("method", "GET"), path, **spec))  # type: ignore[arg-type]
    assert time.monotonic() - started < 5
    assert threading.active_count() == threads
    deadline = time.monotonic() + 2
    while open_fds() > fds and time.monotonic() < deadline:
        time.sleep(0.01)
    assert open_fds() <= fds
    return records


def test_every_request_gets_a_record_with_the_id_the_server_saw(server: Server) -> None:
    records = load(server, "/ok?cycle=1", concurrency=4, requests=40)
    assert [r.status for r in records] == [server.seen.status_sent[r.request_id] for r in records]
    assert {r.status for r in records} == {200, 404, 503}
    assert all(r.error is None and r.elapsed_s > 0 and r.response == {} for r in records)
    ids = [r.request_id for r in records]
    assert len(set(ids)) == 40 and sorted(ids) == sorted(server.seen.request_ids)
    assert all(uuid.UUID(rid).version == 4 and uuid.UUID(rid).hex == rid for rid in ids)
    assert [r.started_at for r in records] == sorted(r.started_at for r in records)
    assert abs(records[0].started_at - time.time()) < 5


def test_a_post_sends_its_body_with_content_length(server: Server) -> None:
    body = b'{"user": "alice"}'
    records = load(server, "/ok", method="POST", body=body, content_type="application/json", requests=3)
    assert [r.status for r in records] == [200] * 3 and {r.bytes_sent for r in records} == {len(body)}
    assert server.seen.bodies == [body] * 3 and server.seen.content_types == ["application/json"] * 3


@pytest.mark.parametrize("keepalive", [False, True])
def test_an_idempotency_key_is_each_requests_own_id_and_only_when_asked(server: Server, keepalive: bool) -> None:
    records = load(server, "/ok", method="POST", body=b"{}", requests=6, concurrency=3, keepalive=keepalive,
                   idempotency_key=True)
    assert server.seen.idempotency_keys == server.seen.request_ids and len(set(server.seen.request_ids)) == 6
    assert sorted(server.seen.request_ids) == sorted(r.request_id for r in records)
    load(server, "/ok", requests=2)
    assert server.seen.idempotency_keys[-2:] == [None, None]
    with pytest.raises(ValueError):
        run_load(server.url, LoadSpec("GET", "/", headers=(("Idempotency-Key", "k"),), idempotency_key=True))


def test_the_request_id_is_sent_right_after_host_so_a_refused_later_header_still_has_it() -> None:
    from faultlab.run.traffic.load import _request_parts

    head, tail = _request_parts(LoadSpec("POST", "/", body=b"{}", headers=(("Cookie", "x" * 20),),
                                         idempotency_key=True), "127.0.0.1:80")
    lines = (head + b"r1" + b"\r\nIdempotency-Key: r1" + tail).decode().split("\r\n")
    assert lines[:3] == ["POST / HTTP/1.1", "Host: 127.0.0.1:80", "X-Request-ID: r1"]
    assert "Cookie: " + "x" * 20 in lines and lines[-2:] == ["", "{}"]


@pytest.mark.parametrize("keepalive", [False, True])
def test_a_body_too_big_for_one_send_is_sent_whole(server: Server, keepalive: bool) -> None:
    body = bytes(range(256)) * 16384  # 4 MiB: the socket buffer fills, so the engine waits for writability
    records = load(server, "/ok", method="POST", body=body, requests=3, concurrency=2, keepalive=keepalive)
    assert [r.status for r in records] == [200] * 3
    assert server.seen.bodies == [body] * 3


def test_concurrency_is_a_hard_cap(server: Server) -> None:
    records = load(server, "/ok?delay_s=0.02", concurrency=5, requests=30)
    assert [r.status for r in records] == [200] * 30
    assert server.seen.max_in_flight == 5


def test_keepalive_reuses_connections_and_the_default_does_not(server: Server) -> None:
    load(server, "/ok", concurrency=3, requests=30, keepalive=True)
    assert server.seen.connections == 3
    server.seen.connections = 0
    load(server, "/ok", concurrency=3, requests=30)
    assert server.seen.connections == 30


@pytest.mark.parametrize("keepalive", [False, True])
def test_chunked_and_close_delimited_bodies_are_read_to_their_end(server: Server, keepalive: bool) -> None:
    records = load(server, "/chunked", requests=4, concurrency=2, keepalive=keepalive)
    records += load(server, "/close-delimited", requests=4, concurrency=2, keepalive=keepalive)
    assert [(r.status, r.error) for r in records] == [(200, None)] * 8
    if keepalive:
        assert server.seen.connections == 2 + 4  # chunked answers keep the connection, close-delimited ones cannot


@pytest.mark.parametrize(("case", "outcome"), [("early-hints", (200, None)), ("no-content", (204, None)),
                                               ("truncated", (None, "closed before response")),
                                               ("garbage", (None, "bad response"))])
def test_unusual_answers(server: Server, case: str, outcome: tuple[int | None, str | None]) -> None:
    records = load(server, f"/raw?case={case}", requests=2)
    assert [(r.status, r.error) for r in records] == [outcome] * 2
    if outcome[0] is not None:
        assert all(r.elapsed_s < 0.05 for r in records)


def test_a_server_that_hangs_up_without_answering(server: Server) -> None:
    records = load(server, "/hangup", concurrency=2, requests=4)
    assert [(r.status, r.error) for r in records] == [(None, "closed before response")] * 4


def test_timeouts_are_recorded_and_do_not_hang(server: Server) -> None:
    records = load(server, "/stall", concurrency=2, requests=3, timeout_s=0.2)
    assert [(r.status, r.error) for r in records] == [(None, "timeout")] * 3
    assert all(0.2 <= r.elapsed_s < 0.6 for r in records)


def test_an_impatient_client_gives_up(server: Server) -> None:
    records = load(server, "/stall", concurrency=3, requests=3, give_up_after_s=0.3)
    assert [(r.status, r.error) for r in records] == [(None, "gave up after 0.3 s")] * 3


def test_refused_connections_are_recorded(server: Server) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    records = run_load(f"http://localhost:{port}", LoadSpec("GET", "/", concurrency=2, requests=3))
    assert [(r.status, r.error) for r in records] == [(None, "connection refused")] * 3


def test_progress_is_reported_from_the_calling_thread(server: Server) -> None:
    reports: list[tuple[LoadProgress, threading.Thread]] = []
    run_load(server.url, LoadSpec("GET", "/ok?delay_s=0.1", concurrency=2, requests=10),
             on_progress=lambda p: reports.append((p, threading.current_thread())))
    assert 2 <= len(reports) <= 6
    assert all(thread is threading.main_thread() for _, thread in reports)
    last = reports[-1][0]
    assert (last.done, last.total, last.by_status, last.failed) == (10, 10, {200: 10}, 0)


@pytest.mark.parametrize("url", ["http://10.0.0.1:80", "http://example.com", "https://127.0.0.1:1", "http://[::1]:80"])
def test_only_local_plain_http_is_allowed(url: str) -> None:
    with pytest.raises(ValueError):
        run_load(url, LoadSpec("GET", "/"))


@pytest.mark.parametrize("headers", [(("X-A", "1\r\nX-B: 2"),), (("Content-Length", "5"),), (("X-Request-ID", "x"),)])
def test_requests_cannot_smuggle_headers(headers: tuple[tuple[str, str], ...]) -> None:
    with pytest.raises(ValueError):
        run_load("http://127.0.0.1:1", LoadSpec("GET", "/", headers=headers))


@pytest.mark.parametrize("spec", [dict(path="no-slash"), dict(path="/a b"), dict(method="GET /x"), dict(concurrency=0),
                                  dict(timeout_s=0), dict(give_up_after_s=-1)])
def test_bad_specs_are_refused(spec: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        LoadSpec(**{"method": "GET", "path": "/", **spec})  # type: ignore[arg-type]


def test_summary_percentiles_match_abs_table() -> None:
    records = [RequestRecord(f"{i}", 0.0, elapsed_s=i / 1000, status=200 if i % 10 else 502) for i in range(1, 101)]
    records += [RequestRecord("t", 0.0, elapsed_s=9.0, error="timeout")]
    summary = summarize(records, wall_s=2.0)
    assert (summary.total, summary.completed, summary.failed, summary.non_2xx) == (101, 100, 1, 10)
    assert summary.by_status == {200: 90, 502: 10} and summary.by_error == {"timeout": 1}
    assert summary.req_per_s == 50.5
    assert (summary.p50, summary.p66, summary.p90, summary.p99, summary.p100) == (0.05, 0.066, 0.09, 0.099, 0.1)
    text = format_summary(summary)
    assert "timeout: 1" in text and "502: 10" in text and "99.0" in text


def test_summary_of_a_run_without_any_response() -> None:
    summary = summarize([RequestRecord("x", 0.0, error="connection refused")], wall_s=0.0)
    assert (summary.completed, summary.failed, summary.p50, summary.req_per_s) == (0, 1, None, 0.0)
    assert "connection refused: 1" in format_summary(summary)
