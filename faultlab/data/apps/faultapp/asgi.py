"""The same Flask app as an ASGI app, for uvicorn: `uvicorn faultapp.asgi:app`.

a2wsgi runs the WSGI app in a thread pool (what uvicorn's own `--interface wsgi` does when a2wsgi is
installed: uvicorn/middleware/wsgi.py, 0.54.0). uvicorn's access line carries no request header
(uvicorn/logging.py AccessFormatter: client address, request line, status), so this wrapper writes
the lab's JSON access line with the X-Request-ID; uvicorn's own lines stay as they are.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from a2wsgi import WSGIMiddleware

from faultapp import app as wsgi_app

# Threads that run the Flask handlers (a2wsgi's default is 10): enough for the lab's bursts of 40.
THREADS = int(os.environ.get("FAULTAPP_THREADS", "40"))
_inner = WSGIMiddleware(wsgi_app, workers=THREADS)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        await _inner(scope, receive, send)
        return
    headers = dict(scope.get("headers") or [])
    request_id = headers.get(b"x-request-id", b"-").decode("latin-1")
    started = time.perf_counter()
    status = 0

    async def send_and_note(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        await send(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            sys.stderr.write(json.dumps({
                "request_id": request_id, "status": status, "method": scope["method"], "uri": scope["path"],
                "asgi_time_us": int((time.perf_counter() - started) * 1e6)}, separators=(",", ":")) + "\n")

    await _inner(scope, receive, send_and_note)
