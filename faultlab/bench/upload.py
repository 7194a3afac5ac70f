"""A 2 GiB streamed upload: the lab's client against curl on the same path.

curl 7.88's `--data-binary @file` reads the body into memory and refuses 2 GiB ("option
--data-binary: out of memory"), so the reference is `curl -X POST -T file`, which streams the file.

Each client runs as its own process so its peak RSS is its own (from wait4, the kernel's accounting);
the app's peak is the high-water mark of its worker processes (VmHWM), read inside the container.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from faultlab.bench.figures import Figure, median
from faultlab.bench.targets import running, target
from faultlab.errors import EnvironmentError_
from faultlab.units import parse_size

Say = Callable[[str], None]
SIZE = parse_size("2GiB")


@dataclass(frozen=True)
class Upload:
    seconds: float
    peak_rss_mib: float
    status: int | None

    @property
    def mib_per_s(self) -> float:
        return SIZE / (1 << 20) / self.seconds


def _peak_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)


def _measured(argv: list[str]) -> tuple[str, float, float]:
    """stdout, wall seconds and peak RSS (MiB) of one child process.

    The peak is the child's VmHWM, polled while it runs: wait4's ru_maxrss would also count the
    forked copy of this Python process that existed before the exec."""
    started = time.monotonic()
    peak = 0
    with tempfile.TemporaryFile() as out:
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL)
        while child.poll() is None:
            peak = max(peak, _peak_kib(child.pid))
            time.sleep(0.05)
        wall = time.monotonic() - started
        out.seek(0)
        text = out.read().decode(errors="replace")
    if child.returncode != 0:
        raise EnvironmentError_(f"{argv[0]} exited with {child.returncode}: {text[-200:]}")
    return text, wall, peak / 1024


def lab_upload(url: str) -> Upload:
    text, wall, rss = _measured([sys.executable, "-m", "faultlab.bench.upload_client", url, str(SIZE)])
    result = json.loads(text)
    return Upload(result["elapsed_s"], rss, result["status"])


def curl_upload(url: str, body: Path) -> Upload:
    text, wall, rss = _measured(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
                                 "-H", "Content-Type: application/octet-stream", "-H", "Expect:",
                                 "-X", "POST", "-T", str(body), f"{url}/upload"])
    code, seconds = text.split()
    return Upload(float(seconds), rss, int(code))


def app_peak_rss_mib(stack) -> float:  # noqa: ANN001 - Stack
    """The largest VmHWM among the app container's processes: a buffered body would show here."""
    container = stack.container("app")
    done = container.exec_run(["sh", "-c", "grep -h VmHWM /proc/[0-9]*/status"])
    kib = [int(line.split()[1]) for line in done.output.decode().splitlines() if line.startswith("VmHWM")]
    return max(kib, default=0) / 1024


def measure(say: Say, pairs: int = 2) -> list[Figure]:
    with tempfile.TemporaryDirectory(dir=os.environ.get("FAULTLAB_BENCH_TMP")) as tmp:
        body = Path(tmp) / "body.bin"
        block = os.urandom(1 << 20)
        with body.open("wb") as out:
            for _ in range(SIZE >> 20):
                out.write(block)
            out.flush()
            os.fsync(out.fileno())  # else the kernel writes it back during the first upload it times
        say("uploads: starting an nginx → gunicorn stack")
        with running(target("upload-2g"), say) as stack:
            url = stack.url("ingress")
            labs: list[Upload] = []
            curls: list[Upload] = []
            for pair in range(pairs):
                for who in (("lab", "curl") if pair % 2 == 0 else ("curl", "lab")):
                    got = lab_upload(url) if who == "lab" else curl_upload(url, body)
                    if got.status != 200:
                        raise EnvironmentError_(f"the 2 GiB upload by {who} got {got.status}, not 200")
                    (labs if who == "lab" else curls).append(got)
                    say(f"  {who}: 2 GiB in {got.seconds:.1f} s ({got.mib_per_s:.0f} MiB/s), "
                        f"peak RSS {got.peak_rss_mib:.1f} MiB")
            app_rss = app_peak_rss_mib(stack)
    ratios = [lab.mib_per_s / curl.mib_per_s for lab, curl in zip(labs, curls, strict=True)]
    lab_rate, curl_rate = median([u.mib_per_s for u in labs]), median([u.mib_per_s for u in curls])
    return [
        Figure("2 GiB upload", "lab client peak RSS", max(u.peak_rss_mib for u in labs), 64, "lower", "MiB",
               detail=f"curl's own: {max(u.peak_rss_mib for u in curls):.1f} MiB"),
        Figure("2 GiB upload", "lab ÷ curl throughput", median(ratios), 0.5, "higher",
               detail=f"lab {lab_rate:.0f} MiB/s vs curl -T {curl_rate:.0f} MiB/s, {pairs} pairs",
               samples=tuple(ratios)),
        Figure("2 GiB upload", "app worker peak RSS", app_rss, 64, "lower", "MiB",
               detail="largest VmHWM in the app container: the body is streamed to disk, not held"),
    ]
