"""`python -m faultlab.bench.upload_client URL SIZE`: one streamed upload by the lab's client, as its own process."""

from __future__ import annotations

import json
import sys

from faultlab.run.traffic.upload import send_uploads


def main() -> None:
    url, size = sys.argv[1], int(sys.argv[2])
    [record] = send_uploads(url, "/upload", size=size, chunked=False, params={}, headers={}, count=1, timeout_s=600)
    print(json.dumps({"elapsed_s": record.elapsed_s, "status": record.status, "error": record.error}))


if __name__ == "__main__":
    main()
