"""The one Flask app behind every scenario.

Each endpoint takes its timing from query parameters that the lab fills from the scenario's
(time-scaled) durations, so a new scenario never needs a copy of the app.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import random
import socket
import sys
import tempfile
import time

from flask import Flask, jsonify, request

app = Flask(__name__)

CHUNK_BYTES = 1 << 20
# The marker of the line the app writes as each request arrives (the lab counts them per X-Request-ID:
# a request a proxy replayed arrives twice). Written before any work, so a worker killed in the middle
# of a request has still recorded it; stderr is line-buffered, so the line is out at once.
ARRIVAL_KEY = "faultapp_arrival"
# The marker of the line written when an order is really placed: once per arrival, except for a request
# whose Idempotency-Key an earlier arrival already used (on any replica).
EFFECT_KEY = "faultapp_effect"
# Where the keys live: a directory every replica of the hop mounts (the lab's stand-in for the shared
# database a real service keeps them in); without one, this container's own temporary directory.
KEYS_DIR = os.path.join(os.environ.get("FAULTAPP_SHARED_DIR", tempfile.gettempdir()), "idempotency-keys")
# Where the slow share is kept: which request ids have arrived, and how many first arrivals so far.
DRAWS_DIR = os.path.join(os.environ.get("FAULTAPP_SHARED_DIR", tempfile.gettempdir()), "slow-draws")


@app.before_request
def record_arrival() -> None:
    request_id = request.headers.get("X-Request-ID")
    if request_id:
        sys.stderr.write(json.dumps({ARRIVAL_KEY: request_id, "method": request.method, "path": request.path,
                                     "host": socket.gethostname(), "pid": os.getpid()}) + "\n")


def _seconds(name: str, default: float = 0.0) -> float:
    return float(request.args.get(name, default))


def _work(default: float = 0.0) -> float:
    """The handler's work: `work_s`, or `slow_s` for a `slow_share` of the requests (a dependency that
    is slow now and then)."""
    share = _seconds("slow_share")
    if share > 0 and _slow(share):
        return _seconds("slow_s")
    return _seconds("work_s", default)


def _slow(share: float) -> bool:
    """First arrivals are slow on an exact share of any run of them (every third for 1/3, from a random
    start), so a step of 16 requests has 5 or 6 slow ones whatever the luck: a random draw gave none
    with probability (2/3)^16, and one CI run of 504-retry-duplicates met it. A replay (the same
    X-Request-ID again, on any replica sharing the directory) is drawn at random, so a retry is quick
    with probability 1 - share, as in production."""
    request_id = request.headers.get("X-Request-ID")
    if not request_id or not _first_arrival(request_id):
        return random.random() < share
    before, start = _count_first_arrival()
    return math.floor((before + 1) * share + start) > math.floor(before * share + start)


def _first_arrival(request_id: str) -> bool:
    os.makedirs(DRAWS_DIR, exist_ok=True)
    try:  # hashed: the header is the client's, never a path
        os.close(os.open(os.path.join(DRAWS_DIR, hashlib.sha256(request_id.encode()).hexdigest()),
                         os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return False
    return True


def _count_first_arrival() -> tuple[int, float]:
    """The first arrivals before this one, and the random start of the pattern, under a lock every
    worker and replica takes (flock works across containers on one host's file system)."""
    fd = os.open(os.path.join(DRAWS_DIR, "first-arrivals"), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        saved = os.pread(fd, 64, 0).split()
        before, start = (int(saved[0]), float(saved[1])) if len(saved) == 2 else (0, random.random())
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{before + 1} {start!r}".encode(), 0)
    finally:
        os.close(fd)  # releases the lock
    return before, start


@app.get("/healthz")
def healthz() -> tuple[str, int]:
    return "ok\n", 200


@app.post("/upload")
def upload():  # noqa: ANN201 - Flask response
    """Stream the body to disk while hashing it, then "process" it for `work_s` seconds.

    The body is never held in memory, whatever its size: the same shape as the incident's app,
    which answered only after working on the file.
    """
    digest = hashlib.sha256()
    received = 0
    with tempfile.TemporaryFile(dir=os.environ.get("FAULTAPP_SPOOL_DIR", "/tmp")) as spool:
        while chunk := request.stream.read(CHUNK_BYTES):
            digest.update(chunk)
            spool.write(chunk)
            received += len(chunk)
    work_s = _seconds("work_s")
    time.sleep(work_s)
    return jsonify(bytes=received, sha256=digest.hexdigest(), worked_s=work_s)


@app.post("/account/users/login/")
def login():  # noqa: ANN201
    """The write-up's login POST: a small JSON body and a short piece of work."""
    body = request.get_json(silent=True) or {}
    time.sleep(_work(0.1))
    return jsonify(user=body.get("username", "anonymous"), ok=True)


@app.post("/orders")
def place_order():  # noqa: ANN201
    """A request with a side effect: the order is placed as it arrives (the effect line), whatever happens
    to the answer; then the work, e.g. a call to a payment provider.

    With an Idempotency-Key, an order is placed once per key: a request whose key is still being worked
    on gets 409, one whose key is done gets the
    stored answer again (draft-ietf-httpapi-idempotency-key-header-07, "Idempotency Enforcement Scenarios"),
    and neither places it a second time."""
    key = request.headers.get("Idempotency-Key")
    record = _claim(key) if key else None
    if key and record is None:
        done = _stored(key)
        if done is None:
            return jsonify(error="a request with this Idempotency-Key is being processed"), 409
        return app.response_class(done, status=201, mimetype="application/json")
    sys.stderr.write(json.dumps({EFFECT_KEY: request.headers.get("X-Request-ID"), "host": socket.gethostname()})
                     + "\n")
    time.sleep(_work(0.1))
    answer = json.dumps({"order": request.headers.get("X-Request-ID"), "placed": True})
    if record is not None:
        partial = f"{record}.{os.getpid()}"
        with open(partial, "w") as out:
            out.write(answer)
        os.replace(partial, record)  # readers see an empty record (in progress) or the whole answer
    return app.response_class(answer, status=201, mimetype="application/json")


def _record(key: str) -> str:
    return os.path.join(KEYS_DIR, hashlib.sha256(key.encode()).hexdigest())


def _claim(key: str) -> str | None:
    """The key's record, created empty by this request; None when an earlier request has it."""
    os.makedirs(KEYS_DIR, exist_ok=True)
    path = _record(key)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return None
    return path


def _stored(key: str) -> str | None:
    """The answer given for the key, None while its request is still being worked on."""
    with open(_record(key)) as stored:
        return stored.read() or None


@app.get("/slow")
def slow():  # noqa: ANN201
    seconds = _work(1.0)
    time.sleep(seconds)
    return jsonify(slept_s=seconds)


@app.get("/session")
def session():  # noqa: ANN201
    """A sign-in answer with big response headers: `cookies` Set-Cookie headers of `cookie_bytes` bytes of
    value each (a session split over several cookies, a JWT), the answer's body small."""
    count = min(int(request.args.get("cookies", 1)), 16)
    size = min(int(request.args.get("cookie_bytes", 64)), 1 << 16)
    response = jsonify(cookies=count, cookie_bytes=size)
    for index in range(count):
        response.headers.add("Set-Cookie", f"session.{index}={'x' * size}; Path=/; HttpOnly")
    return response


@app.get("/export")
def export():  # noqa: ANN201
    """A report built from `mb` MiB of rows. Held in memory all at once (the whole result set loaded, then
    rendered), or with `chunk_mb`, that much at a time (the rows streamed): memory bounded by the chunk.
    Every byte is written, so the memory is really the process's, as the kernel counts it."""
    total = int(request.args.get("mb", 1))
    chunk = int(request.args.get("chunk_mb", total)) or total
    digest = hashlib.sha256()
    held = []
    for offset in range(0, total, chunk):
        block = b"r" * (min(chunk, total - offset) << 20)
        digest.update(block[:4096])
        if chunk < total:
            continue  # streamed: this chunk is done with before the next one is read
        held.append(block)
    return jsonify(mb=total, chunk_mb=chunk, sha256=digest.hexdigest())


@app.get("/error")
def error():  # noqa: ANN201
    # The upstream's own bug: Flask turns this into a 500 that every proxy passes through.
    raise RuntimeError("faultapp: deliberate application error")
