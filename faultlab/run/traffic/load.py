"""ab-style HTTP/1.1 load: `requests` requests, at most `concurrency` in flight, one `RequestRecord` each.

It replays timing-sensitive races, so it must never be the bottleneck (httpx and aiohttp reach 3-15 % of
ab's rate). Hence one thread running its own edge-triggered epoll loop over non-blocking sockets, with no
futures or callbacks; requests are pre-encoded around their ids, the response parser is minimal, and
results stay in flat lists until the end. Measured on 2 cores against nginx behind docker-proxy: about
ab's rate without keep-alive, 70-90 % of it with. asyncio Protocols on uvloop measured no faster. One
process on purpose: there the server saturates the cores, and extra workers would only take CPU from it.
"""

from __future__ import annotations

import errno
import math
import os
import select
import socket
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from faultlab.run.traffic.record import RequestRecord

LOCAL_HOSTS = ("127.0.0.1", "localhost")
PROGRESS_EVERY_S = 0.2
PERCENTILES = (50, 66, 75, 80, 90, 95, 98, 99, 100)  # ab's latency table
_RECV_BYTES = 1 << 16
_MAX_HEAD_BYTES = 1 << 16
_MANAGED_HEADERS = {"x-request-id", "content-length", "transfer-encoding", "connection"}
_IN, _OUT = select.POLLIN, select.POLLOUT  # the same values as EPOLLIN and EPOLLOUT
_READ_EVENTS = _IN | select.POLLERR | select.POLLHUP
_SOCK_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)  # Linux: saves a syscall per connection

_CONNECTION, _CONTENT_LENGTH, _TRANSFER_ENCODING = b"\r\nconnection:", b"\r\ncontent-length:", b"\r\ntransfer-encoding:"

# Response body framing, decided once the head is parsed.
_HEAD, _LENGTH, _CHUNKED, _UNTIL_CLOSE = 0, 1, 2, 3


@dataclass(frozen=True)
class LoadSpec:
    method: str
    path: str  # may include a query string
    body: bytes = b""  # sent with Content-Length, never chunked
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    concurrency: int = 1  # ab -c
    requests: int = 1  # ab -n
    keepalive: bool = False  # ab -k; otherwise one connection per request, like ab
    idempotency_key: bool = False  # an Idempotency-Key header with the request's id
    timeout_s: float = 60.0  # connect + send + full response
    give_up_after_s: float | None = None  # an impatient client (curl -m N) that hangs up

    def __post_init__(self) -> None:
        if not self.method.isalpha() or not self.path.startswith("/") or " " in self.path:
            raise ValueError(f"not a valid request line: {self.method} {self.path}")
        if self.concurrency < 1 or self.requests < 0:
            raise ValueError("concurrency must be at least 1 and requests at least 0")
        if self.timeout_s <= 0 or (self.give_up_after_s is not None and self.give_up_after_s <= 0):
            raise ValueError("timeouts must be positive")


@dataclass(frozen=True)
class LoadProgress:
    done: int
    total: int
    elapsed_s: float
    by_status: dict[int, int]
    failed: int  # no HTTP response


@dataclass(frozen=True)
class LoadSummary:
    total: int
    completed: int  # got an HTTP response
    failed: int  # no HTTP response
    non_2xx: int
    by_status: dict[int, int]
    by_error: dict[str, int]
    wall_s: float
    req_per_s: float
    # ab's latency table in seconds, over the requests that got a response; None when none did.
    p50: float | None
    p66: float | None
    p75: float | None
    p80: float | None
    p90: float | None
    p95: float | None
    p98: float | None
    p99: float | None
    p100: float | None


class _BadResponse(Exception):
    pass


class _Conn:
    """One concurrency slot: a socket (kept between requests with keep-alive) and the request in flight."""

    __slots__ = ("sock", "fd", "writing", "i", "t0", "out", "buf", "status", "mode", "left", "reusable")

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.fd = -1
        self.writing = False  # registered for writability: only while a send is stuck on a full buffer
        self.i = -1  # index of the request in flight, -1 when idle
        self.t0 = 0.0
        self.out: bytes | memoryview = b""
        self.buf = b""
        self.status = 0
        self.mode = _HEAD
        self.left = 0
        self.reusable = False


class _Poller:
    """epoll, edge-triggered, where there is one (Linux): closing a socket then also deregisters it.
    Elsewhere select.poll, level-triggered, which works too because sockets only ask for writability when stuck."""

    def __init__(self) -> None:
        self._edge = hasattr(select, "epoll")
        self._impl = select.epoll() if self._edge else select.poll()
        self._flags = _IN | (select.EPOLLET if self._edge else 0)

    def add(self, fd: int, write: bool) -> None:
        self._impl.register(fd, self._flags | (_OUT if write else 0))

    def modify(self, fd: int, write: bool) -> None:
        self._impl.modify(fd, self._flags | (_OUT if write else 0))

    def remove(self, fd: int) -> None:
        if not self._edge:
            self._impl.unregister(fd)

    def wait(self, timeout_s: float) -> list[tuple[int, int]]:
        return self._impl.poll(timeout_s if self._edge else int(timeout_s * 1000) + 1)

    def close(self) -> None:
        if self._edge:  # only epoll holds a descriptor (and only it has close())
            self._impl.close()  # type: ignore[union-attr]


def _error_name(code: int | None) -> str:
    if code is None:
        return "socket error"
    if code == errno.ECONNREFUSED:
        return "connection refused"
    if code in (errno.ECONNRESET, errno.EPIPE):
        return "connection reset"
    return os.strerror(code).lower()


def _request_ids(count: int) -> str:
    """`count` uuid4 hex ids, concatenated: one urandom call instead of one per request."""
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = bytes(raw[6::16]).translate(_UUID_VERSION)
    raw[8::16] = bytes(raw[8::16]).translate(_UUID_VARIANT)
    return raw.hex()


_UUID_VERSION = bytes(b & 0x0F | 0x40 for b in range(256))
_UUID_VARIANT = bytes(b & 0x3F | 0x80 for b in range(256))


def _header_value(head: bytes, name: bytes) -> bytes:
    """`head` is the lower-cased response head, each line ending in CRLF; `name` is like b"\\r\\nconnection:"."""
    start = head.find(name)
    if start < 0:
        return b""
    start += len(name)
    return head[start : head.find(b"\r\n", start)]


class _Engine:
    """Runs `count` requests on `concurrency` slots in the calling thread; results stay in flat lists until the end."""

    def __init__(self, address: tuple[str, int], host: str, spec: LoadSpec,
                 on_progress: Callable[[LoadProgress], None] | None) -> None:
        self.address = address
        self.count = count = spec.requests
        self.concurrency = spec.concurrency
        self.keepalive = spec.keepalive
        self.no_body = spec.method.upper() == "HEAD"
        self.head, self.tail = _request_parts(spec, host)
        self.key = b"\r\nIdempotency-Key: " if spec.idempotency_key else b""
        if spec.give_up_after_s is not None and spec.give_up_after_s <= spec.timeout_s:
            self.limit_s, self.limit_error = spec.give_up_after_s, f"gave up after {spec.give_up_after_s:g} s"
        else:
            self.limit_s, self.limit_error = spec.timeout_s, "timeout"
        self.on_progress = on_progress
        self.started = 0
        self.done = 0
        self.ids = _request_ids(count)
        self.ids_ascii = self.ids.encode()
        self.started_at = [0.0] * count
        self.elapsed = [0.0] * count
        self.status: list[int | None] = [None] * count
        self.error: list[str | None] = [None] * count
        self.by_status: dict[int, int] = {}
        self.failed = 0
        self.conns: dict[int, _Conn] = {}
        self.idle: list[_Conn] = []
        self.deadlines: deque[tuple[float, _Conn, int]] = deque()  # in start order, so also in deadline order
        self.poller = _Poller()

    def run(self) -> None:
        t_start = time.monotonic()
        next_progress = t_start + PROGRESS_EVERY_S
        self.idle = [_Conn() for _ in range(min(self.concurrency, self.count))]
        try:
            while True:
                # New sockets are only opened here, so no fd of the batch below can belong to a newer socket.
                self._start_idle()
                if self.done == self.count:
                    break
                self._handle(self.poller.wait(self._poll_timeout(next_progress)))
                now = time.monotonic()
                self._expire(now)
                if self.on_progress is not None and now >= next_progress:
                    next_progress = now + PROGRESS_EVERY_S
                    self.on_progress(self.progress(now - t_start))
        finally:
            for conn in [*self.conns.values()]:
                self._close(conn)
            self.poller.close()
        if self.on_progress is not None:
            self.on_progress(self.progress(time.monotonic() - t_start))

    def progress(self, elapsed_s: float) -> LoadProgress:
        return LoadProgress(self.done, self.count, elapsed_s, dict(self.by_status), self.failed)

    def records(self, bytes_sent: int) -> list[RequestRecord]:
        ids = self.ids
        rows = zip(self.started_at, self.elapsed, self.status, self.error, strict=True)
        return [RequestRecord(request_id=ids[32 * i : 32 * i + 32], started_at=at, elapsed_s=el, status=st, error=er,
                              bytes_sent=bytes_sent)
                for i, (at, el, st, er) in enumerate(rows)]

    def _start_idle(self) -> None:
        # Starting a request can fail at once (connection refused) and put its slot back here: loop, don't recurse.
        idle = self.idle
        while idle and self.started < self.count:
            self._start(idle.pop())

    def _poll_timeout(self, next_progress: float) -> float:
        now = time.monotonic()
        wake = self.deadlines[0][0] if self.deadlines else now + PROGRESS_EVERY_S
        if self.on_progress is not None:
            wake = min(wake, next_progress)
        return max(0.0, wake - now)

    def _handle(self, events: list[tuple[int, int]]) -> None:
        conns = self.conns
        for fd, ev in events:
            conn = conns.get(fd)
            if conn is None:  # closed earlier in this batch
                continue
            if conn.out:
                self._flush(conn)
            if ev & _READ_EVENTS and conn.i >= 0:
                self._read(conn)

    def _expire(self, now: float) -> None:
        # Also drops the entries of finished requests, which keeps the deque about `concurrency` long.
        deadlines = self.deadlines
        while deadlines:
            deadline, conn, i = deadlines[0]
            if conn.i == i and deadline > now:
                return
            deadlines.popleft()
            if conn.i == i:
                self._fail(conn, self.limit_error)

    def _start(self, conn: _Conn) -> None:
        i = self.started
        self.started = i + 1
        self.started_at[i] = time.time()
        conn.i = i
        conn.t0 = t0 = time.monotonic()
        request_id = self.ids_ascii[32 * i : 32 * i + 32]
        conn.out = self.head + request_id + (self.key + request_id if self.key else b"") + self.tail
        conn.buf = b""
        conn.status = 0
        conn.mode = _HEAD
        self.deadlines.append((t0 + self.limit_s, conn, i))
        if conn.sock is None:
            self._connect(conn)
        else:
            self._flush(conn)

    def _connect(self, conn: _Conn) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM | _SOCK_NONBLOCK)
        if not _SOCK_NONBLOCK:
            sock.setblocking(False)
        code: int | None = sock.connect_ex(self.address)
        sent = 0
        if code in (0, errno.EINPROGRESS):
            # On loopback the handshake is usually done by now: send at once rather than wait for writability.
            try:
                sent, code = sock.send(conn.out), 0
            except OSError as exc:
                code = 0 if exc.errno in (errno.EAGAIN, errno.ENOTCONN) else exc.errno
        if code:
            sock.close()
            self._fail(conn, _error_name(code))
            return
        conn.out = conn.out[sent:] if sent < len(conn.out) else b""
        conn.sock, conn.fd, conn.writing = sock, sock.fileno(), bool(conn.out)
        self.conns[conn.fd] = conn
        self.poller.add(conn.fd, conn.writing)

    def _flush(self, conn: _Conn) -> None:
        assert conn.sock is not None  # registered connections have a socket
        try:
            sent = conn.sock.send(conn.out)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._fail(conn, _error_name(exc.errno))
            return
        conn.out = memoryview(conn.out)[sent:] if sent < len(conn.out) else b""
        if conn.writing != bool(conn.out):
            conn.writing = not conn.writing
            self.poller.modify(conn.fd, conn.writing)

    def _read(self, conn: _Conn) -> None:
        # Edge-triggered: read until the response is whole or the socket is drained.
        assert conn.sock is not None  # registered connections have a socket
        recv = conn.sock.recv
        while True:
            try:
                data = recv(_RECV_BYTES)
            except BlockingIOError:
                return
            except OSError as exc:
                self._fail(conn, _error_name(exc.errno))
                return
            if not data:
                if conn.status and conn.mode == _UNTIL_CLOSE:
                    conn.reusable = False
                    self._complete(conn)
                else:
                    self._fail(conn, "closed before response")
                return
            try:
                whole = self._parse_head(conn, data) if conn.mode == _HEAD else _feed_body(conn, data)
            except (_BadResponse, ValueError):
                self._fail(conn, "bad response")
                return
            if whole:
                self._complete(conn)
                return

    def _parse_head(self, conn: _Conn, data: bytes) -> bool:
        """Parses the response head once it is whole, then the body bytes that came with it; True once all is read."""
        buf = conn.buf + data if conn.buf else data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_HEAD_BYTES:
                    raise _BadResponse
                conn.buf = buf
                return False
            if not buf.startswith(b"HTTP/1."):
                raise _BadResponse
            status = int(buf[9:12])
            if status >= 200 or status == 101:
                break
            buf = buf[end + 4 :]  # an interim 1xx answer: the real one follows
        head = buf[: end + 2].lower()  # every header line then ends with CRLF
        conn.status = status
        conn.buf = b""
        conn.reusable = buf[7:8] == b"1" and not (b"close" in head and b"close" in _header_value(head, _CONNECTION))
        conn.left = 0
        if self.no_body or status in (204, 304) or status < 200:
            conn.mode = _LENGTH
            conn.reusable = conn.reusable and status != 101
        elif _TRANSFER_ENCODING in head and b"chunked" in _header_value(head, _TRANSFER_ENCODING):
            conn.mode = _CHUNKED
        elif _CONTENT_LENGTH in head:
            conn.mode = _LENGTH
            conn.left = int(_header_value(head, _CONTENT_LENGTH))
        else:
            conn.mode = _UNTIL_CLOSE
        return _feed_body(conn, buf[end + 4 :])

    def _complete(self, conn: _Conn) -> None:
        i = conn.i
        self.elapsed[i] = time.monotonic() - conn.t0
        self.status[i] = status = conn.status
        self.by_status[status] = self.by_status.get(status, 0) + 1
        self.done += 1
        conn.i = -1
        if not (self.keepalive and conn.reusable and not conn.out and self.started < self.count):
            self._close(conn)
        self.idle.append(conn)

    def _fail(self, conn: _Conn, error: str) -> None:
        i = conn.i
        self.elapsed[i] = time.monotonic() - conn.t0
        self.error[i] = error
        self.failed += 1
        self.done += 1
        conn.i = -1
        self._close(conn)
        self.idle.append(conn)

    def _close(self, conn: _Conn) -> None:
        if conn.sock is None:
            return
        del self.conns[conn.fd]
        self.poller.remove(conn.fd)
        conn.sock.close()
        conn.sock = None
        conn.out = b""


def _feed_body(conn: _Conn, data: bytes) -> bool:
    """Takes the next bytes of the body; True once it is whole."""
    if conn.mode == _LENGTH:
        conn.left -= len(data)
        if conn.left < 0:
            conn.reusable = False  # bytes beyond the response: never reuse a connection out of sync
        return conn.left <= 0
    if conn.mode == _CHUNKED:
        return _feed_chunked(conn, data)
    return False  # _UNTIL_CLOSE: the end of the body is the end of the connection


def _feed_chunked(conn: _Conn, data: bytes) -> bool:
    """`conn.left` counts the bytes (data and CRLF) left in the current chunk; 0 means a size line comes next."""
    buf = conn.buf + data if conn.buf else data
    pos = 0
    while True:
        if conn.left:
            take = min(conn.left, len(buf) - pos)
            pos += take
            conn.left -= take
            if conn.left:
                break
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            break
        size = int(buf[pos:eol].split(b";", 1)[0], 16)
        if size == 0:
            if buf.find(b"\r\n\r\n", eol) >= 0:  # the last chunk, then optional trailers, then an empty line
                return True
            break
        conn.left = size + 2
        pos = eol + 2
    conn.buf = buf[pos:]
    return False


def _request_parts(spec: LoadSpec, host: str) -> tuple[bytes, bytes]:
    """The request, pre-encoded around its X-Request-ID value."""
    headers = {"host": ("Host", host), "user-agent": ("User-Agent", "faultlab-load"), "accept": ("Accept", "*/*")}
    for name, value in spec.headers:
        if name.lower() in _MANAGED_HEADERS or (spec.idempotency_key and name.lower() == "idempotency-key"):
            raise ValueError(f"{name} is set by the load engine")
        headers[name.lower()] = (name, value)
    if spec.content_type is not None:
        headers["content-type"] = ("Content-Type", spec.content_type)
    if spec.body or spec.method.upper() in ("POST", "PUT", "PATCH"):
        headers["content-length"] = ("Content-Length", str(len(spec.body)))
    if not spec.keepalive:
        headers["connection"] = ("Connection", "close")
    lines = [f"{spec.method} {spec.path} HTTP/1.1", *(f"{name}: {value}" for name, value in headers.values())]
    if any("\r" in line or "\n" in line for line in lines):
        raise ValueError("CR or LF inside the request line or a header")
    # X-Request-ID right after Host: a server that refuses a later header line (a big Cookie) has read the
    # id by then and logs it, so the lab can still tell which hop answered.
    head, rest = lines[:2], lines[2:]
    return ("\r\n".join([*head, "X-Request-ID: "]).encode("latin-1"),
            ("".join(f"\r\n{line}" for line in rest) + "\r\n\r\n").encode("latin-1") + spec.body)


def _target(base_url: str) -> tuple[tuple[str, int], str]:
    parts = urlsplit(base_url)
    if parts.scheme != "http" or parts.hostname not in LOCAL_HOSTS or parts.path not in ("", "/"):
        raise ValueError(f"the load engine only talks plain http to 127.0.0.1 or localhost, not {base_url!r}")
    port = parts.port or 80
    return ("127.0.0.1", port), f"{parts.hostname}:{port}"  # localhost too: never resolved, so never elsewhere


def run_load(base_url: str, spec: LoadSpec,
             on_progress: Callable[[LoadProgress], None] | None = None) -> list[RequestRecord]:
    """Sends `spec.requests` requests to `base_url`; one record each, in the order they were started.

    A request without an HTTP response has `status` None and an `error`: "connection refused", "connection reset",
    "closed before response" (EOF before the whole head and body), "bad response", "timeout",
    "gave up after N s", or the OS's own words for anything else.
    """
    address, host = _target(base_url)
    engine = _Engine(address, host, spec, on_progress)
    engine.run()
    return engine.records(len(spec.body))



def summarize(records: list[RequestRecord], wall_s: float) -> LoadSummary:
    latencies = sorted(r.elapsed_s for r in records if r.status is not None)
    by_status = Counter(r.status for r in records if r.status is not None)
    by_error = Counter(r.error or "no response" for r in records if r.status is None)
    return LoadSummary(
        total=len(records), completed=len(latencies), failed=len(records) - len(latencies),
        non_2xx=sum(n for status, n in by_status.items() if not 200 <= status < 300),
        by_status=dict(sorted(by_status.items())), by_error=dict(by_error.most_common()),
        wall_s=wall_s, req_per_s=len(records) / wall_s if wall_s > 0 else 0.0,
        **{f"p{p}": _nearest_rank(latencies, p) for p in PERCENTILES},
    )


def _nearest_rank(ordered: list[float], percent: int) -> float | None:
    if not ordered:
        return None
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def format_summary(summary: LoadSummary) -> str:
    statuses = ", ".join(f"{status}: {n}" for status, n in summary.by_status.items()) or "-"
    errors = ", ".join(f"{error}: {n}" for error, n in summary.by_error.items())
    lines = [
        f"Requests:        {summary.total} in {summary.wall_s:.3f} s ({summary.req_per_s:.1f} req/s)",
        f"Responses:       {summary.completed} ({statuses}; non-2xx: {summary.non_2xx})",
        f"Failed:          {summary.failed}" + (f" ({errors})" if errors else ""),
    ]
    if summary.completed:
        lines.append("Latency (ms):    " + "".join(f"{f'{p}%':>8}" for p in PERCENTILES))
        lines.append(" " * 17 + "".join(f"{getattr(summary, f'p{p}') * 1000:8.1f}" for p in PERCENTILES))
    return "\n".join(lines)
