"""The one path: scenario plan → images → stack → traffic → evidence → verdict, as a stream of events.

No output code here: what a user sees is the handlers' business (output/). A run that fails or is
interrupted still ends the stream (RunFailed / Interrupted), and every handler is closed.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from urllib.parse import urlencode

from faultlab.errors import LabError
from faultlab.hops import HOP_KINDS, RenderContext, Setting
from faultlab.infra.stack import Kept, Stack
from faultlab.model.plan import Plan, StepPlan
from faultlab.model.scenario import Expect, LoadTraffic, Traffic
from faultlab.run.actions import DuringTraffic
from faultlab.run.events import (
    BatchDone,
    Event,
    Handler,
    Handlers,
    ImageProgress,
    Interrupted,
    RequestResult,
    RunFailed,
    ScenarioFinished,
    ScenarioResult,
    ScenarioStarted,
    StackStarting,
    StackUp,
    StepFinished,
    StepResult,
    StepStarted,
    TrafficProgress,
)
from faultlab.run.evidence import Evidence, collect
from faultlab.run.session import open_stack
from faultlab.run.traffic import RequestRecord, send_uploads
from faultlab.run.traffic.load import LoadProgress, LoadSpec, run_load, summarize
from faultlab.run.verdict import is_failure, judge

CLIENT_TIMEOUT_MARGIN_S = 60.0
LOG_WAIT_MARGIN_S = 5.0

Emit = Callable[[Event], None]


def run(plan: Plan, handlers: Sequence[Handler] = (), *, only_step: str | None = None,
        until_failure: bool = False, kept: Kept | None = None) -> ScenarioResult:
    """Run the scenario (or one step of it, earlier steps' changes applied) and judge every step; with
    `until_failure`, stop after the first step that does not match (practice's probes: one is enough); on a
    `kept` stack (a practice workspace's), which stays up after."""
    steps = (plan.step_named(only_step),) if only_step else plan.steps
    result = ScenarioResult(plan)
    with Handlers(handlers) as emit:
        try:
            _run(plan, steps, result, emit, until_failure, kept)
            if plan.twin is not None:  # then the same steps on the twin topology, one stack after the other
                result.twin = ScenarioResult(plan.twin)
                _run(plan.twin, tuple(plan.twin.steps[step.index] for step in steps), result.twin, emit)
        except KeyboardInterrupt:
            emit(Interrupted(result))
            raise
        except LabError as exc:
            emit(RunFailed(result, exc.message))
            raise
        except Exception as exc:
            emit(RunFailed(result, f"{type(exc).__name__}: {exc}"))
            raise
        emit(ScenarioFinished(result))
    return result


def _run(plan: Plan, steps: tuple[StepPlan, ...], result: ScenarioResult, emit: Emit,
         until_failure: bool = False, kept: Kept | None = None) -> None:
    emit(ScenarioStarted(plan, steps))
    started = time.monotonic()

    def starting(stack: Stack) -> None:
        nonlocal started
        started = time.monotonic()  # the run's wall time starts with the stack, after the image check
        result.project = stack.project
        result.kept = stack.kept is not None
        emit(StackStarting(stack.project, len(plan.topology.hops)))

    with open_stack(plan, steps[0].knobs, scale=steps[0].scale, on_progress=lambda text: emit(ImageProgress(text)),
                    on_starting=starting, kept=kept) as stack:
        emit(StackUp(stack.project, stack.url(), time.monotonic() - started))
        unsettled: list[str] = []
        for number, step in enumerate(steps, 1):
            step_started = time.monotonic()
            restarted = stack.apply(step.knobs, also_restart=unsettled, scale=step.scale)
            emit(StepStarted(step, number, len(steps), settings(plan, step), restarted))
            since = time.time()
            stack.announce()
            acting = DuringTraffic(step.step.actions, stack, step.scale)
            acting.start()
            records = _send(plan, step, stack, emit)
            actions = acting.finish()
            traffic_s = time.time() - since
            evidence = collect(stack, since, [r.request_id for r in records], start=step.traffic.target,
                               wanted=step.step.expect.logs, patience_s=_log_patience_s(plan, step),
                               replicas=stack.replica_names())
            requests = [RequestResult(r, evidence.answered_by(r.request_id, r.status),
                                      evidence.explained(r.request_id, r.status,
                                                         (r.started_at, r.started_at + r.elapsed_s)))
                        for r in records]
            load = summarize(records, traffic_s) if isinstance(step.traffic, LoadTraffic) else None
            result.steps.append(StepResult(step, judge(step.step.expect, records, evidence), requests,
                                           time.monotonic() - step_started, load, evidence, actions))
            emit(StepFinished(result.steps[-1]))
            if until_failure and not result.steps[-1].ok:
                break
            # A replica that was stopped, restarted or drained starts the next step afresh.
            behind = set(unsettled_hops(plan.topology.hop_names, requests, evidence))
            behind |= {record.action.hop for record in actions}
            unsettled = [hop for hop in plan.topology.hop_names if hop in behind]
    result.wall_s = time.monotonic() - started


def _send(plan: Plan, step: StepPlan, stack: Stack, emit: Emit) -> list[RequestRecord]:
    traffic = step.traffic
    url = stack.url(traffic.target)
    params = {"work_s": f"{step.scale.lab_s(traffic.app_work):.3f}"} if traffic.app_work else {}
    if traffic.app_slow is not None:
        params |= {"slow_share": f"{traffic.app_slow.share:g}",
                   "slow_s": f"{step.scale.lab_s(traffic.app_slow.work):.3f}"}
    longest_s = max(_longest_wait_s(plan), _app_work_s(traffic))
    timeout_s = CLIENT_TIMEOUT_MARGIN_S + 4 * step.scale.lab_s(longest_s)
    if not isinstance(traffic, LoadTraffic):
        def upload_progress(number: int, done: list[RequestRecord], sent: int, elapsed_s: float) -> None:
            by_status = Counter(r.status for r in done if r.status is not None)
            emit(TrafficProgress(number, traffic.requests, elapsed_s, dict(by_status),
                                 sum(r.status is None for r in done), sent, traffic.size))

        return send_uploads(url, traffic.path, size=traffic.size, chunked=traffic.transfer == "chunked",
                            params=params, headers=traffic.all_headers(), count=traffic.requests, timeout_s=timeout_s,
                            on_progress=upload_progress)
    query = f"{'&' if '?' in traffic.path else '?'}{urlencode(params)}" if params else ""
    spec = LoadSpec(
        method=traffic.method, path=traffic.path + query, body=traffic.body.encode(),
        content_type=traffic.content_type, headers=tuple(traffic.all_headers().items()),
        concurrency=traffic.concurrency, requests=traffic.requests, keepalive=traffic.keepalive,
        idempotency_key=traffic.idempotency_key,
        timeout_s=timeout_s,
        give_up_after_s=step.scale.lab_s(traffic.give_up_after) if traffic.give_up_after is not None else None,
    )

    def one_batch(before: int) -> list[RequestRecord]:
        def load_progress(seen: LoadProgress) -> None:
            emit(TrafficProgress(before + seen.done, traffic.requests * traffic.batches, seen.elapsed_s,
                                 seen.by_status, seen.failed))

        return run_load(url, spec, load_progress)

    pause = traffic.pause
    idle = (lambda: time.sleep(random.uniform(step.scale.lab_s(pause.min), step.scale.lab_s(pause.max)))) \
        if pause is not None else None
    return send_batches(one_batch, traffic.batches, step.step.expect, emit, idle)


def send_batches(one_batch: Callable[[int], list[RequestRecord]], batches: int, expect: Expect,
                 emit: Emit, idle: Callable[[], None] | None = None) -> list[RequestRecord]:
    """Up to `batches` loads, stopping once the step has seen enough failures to judge; `idle`
    between two of them (the quiet time of bursty traffic)."""
    records: list[RequestRecord] = []
    for batch in range(1, batches + 1):
        if batch > 1 and idle is not None:
            idle()
        records += one_batch(len(records))
        failed = sum(map(is_failure, records))
        enough = enough_failures(expect, failed)
        if batches > 1:
            emit(BatchDone(batch, batches, failed, len(records), enough))
        if enough:
            break
    return records


def enough_failures(expect: Expect, failed: int) -> bool:
    """Once the count decides the failures check, more batches prove nothing new: a race judged on "at least
    N failures" has seen N, or a step allowed at most N has seen more (it fails whatever follows: a wrong fix
    under a fix's traffic, in a practice check, ends at its first failing burst)."""
    if expect.failures is None:
        return False
    low, high = expect.failures.min, expect.failures.max
    return failed > high if high is not None else failed >= low > 0


def unsettled_hops(hops: list[str], requests: list[RequestResult], evidence: Evidence) -> list[str]:
    """Hops behind the one that answered may still be working (a proxy gave up, the app did not):
    they are restarted before the next step so its logs and timing start clean."""
    unsettled: set[str] = set()
    for request in requests:
        if request.answered_by is None:
            unsettled.update(evidence.hops)
        elif evidence.forwarded_by(request.answered_by, request.record.request_id):
            unsettled.update(hops[hops.index(request.answered_by) + 1:])
    return [hop for hop in hops if hop in unsettled]


def _longest_wait_s(plan: Plan) -> float:
    return max(step.knobs[hop].longest_wait_s() for step in plan.steps for hop in step.knobs)


def _app_work_s(traffic: Traffic) -> float:
    """The longest story time the app may work on one request."""
    return max(traffic.app_work, traffic.app_slow.work if traffic.app_slow else 0.0)


def _log_patience_s(plan: Plan, step: StepPlan) -> float:
    """How long a log line the step expects may take to appear (e.g. the app finishing a request
    whose client already left): the app's work plus a margin, in lab seconds."""
    return LOG_WAIT_MARGIN_S + step.scale.lab_s(_app_work_s(step.traffic))


def settings(plan: Plan, step: StepPlan) -> dict[str, list[Setting]]:
    return {
        hop.name: HOP_KINDS[hop.kind].settings(step.knobs[hop.name],
                                               RenderContext(hop.name, hop.port, hop.upstream, step.scale))
        for hop in plan.topology.hops
    }
