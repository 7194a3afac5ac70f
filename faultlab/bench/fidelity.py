"""The write-up's `ab -c 200 -n 10000` against the fixed keep-alive stack, with the engine's own CPU share.

The engine must not be what limits the run: its CPU time (this process) over the wall time is set
against the CPU time of the hops (each container's cgroup usage over the same window).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from faultlab.bench.figures import Figure
from faultlab.bench.targets import running, target
from faultlab.model.scenario import LoadTraffic
from faultlab.run.traffic.load import LoadSpec, run_load, summarize

Say = Callable[[str], None]
REQUESTS, CONCURRENCY = 10_000, 200


def _cpu_ns(stack, hop: str) -> int:  # noqa: ANN001 - Stack
    stats = stack.container(hop).stats(stream=False)
    return int(stats["cpu_stats"]["cpu_usage"]["total_usage"])


def measure(say: Say) -> list[Figure]:
    chosen = target("keepalive-fixed", "keepalive-listen-1024")
    traffic = chosen.plan.step_named("keepalive-listen-1024").traffic
    assert isinstance(traffic, LoadTraffic)
    say(f"fidelity: -c {CONCURRENCY} -n {REQUESTS} POST through the fixed keep-alive stack")
    with running(chosen, say) as stack:
        url = stack.url(traffic.target)
        spec = LoadSpec(method="POST", path=f"{traffic.path}?work_s={traffic.app_work:.3f}",
                        body=traffic.body.encode(), content_type=traffic.content_type,
                        concurrency=CONCURRENCY, requests=REQUESTS, timeout_s=120)
        hops = stack.topology.hop_names
        before = {hop: _cpu_ns(stack, hop) for hop in hops}
        cpu0, wall0 = time.process_time(), time.monotonic()
        records = run_load(url, spec)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        used = {hop: (_cpu_ns(stack, hop) - before[hop]) / 1e9 for hop in hops}
    summary = summarize(records, wall)
    engine_share = 100 * cpu / wall
    hop_shares = ", ".join(f"{hop} {100 * seconds / wall:.0f} %" for hop, seconds in used.items())
    detail = (f"{summary.req_per_s:.0f} req/s, p50 {summary.p50 or 0:.3f} s, p99 {summary.p99 or 0:.3f} s, "
              f"{summary.non_2xx + summary.failed} failed of {summary.total}; CPU of one core: engine "
              f"{engine_share:.1f} %, {hop_shares} (the app works {traffic.app_work * 1000:.0f} ms per request)")
    say(f"  {detail}")
    return [
        Figure("fidelity at -c 200 -n 10000", "engine CPU share of one core", engine_share, 25, "lower", "%",
               detail=detail),
        Figure("fidelity at -c 200 -n 10000", "requests without a 2xx", summary.non_2xx + summary.failed, 0,
               "lower", "", detail="the fixed stack answers every request"),
    ]
