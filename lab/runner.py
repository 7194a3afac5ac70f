"""The one path: scenario plan → images → stack → traffic → evidence → verdict, as a stream of events."""

from __future__ import annotations

import time
from dataclasses import dataclass

from lab import compose, engine, images
from lab.events import (
    Handler,
    Progress,
    RequestResult,
    ScenarioFinished,
    ScenarioResult,
    ScenarioStarted,
    StackUp,
    StepFinished,
    StepResult,
    StepStarted,
)
from lab.evidence import collect
from lab.render import HOP_KINDS, RenderContext, Setting
from lab.scenario import Plan, StepPlan
from lab.stack import Stack
from lab.traffic import send_uploads
from lab.verdict import Check, judge

CLIENT_TIMEOUT_MARGIN_S = 60.0


def run(plan: Plan, emit: Handler, *, only_step: str | None = None) -> ScenarioResult:
    steps = (plan.step_named(only_step),) if only_step else plan.steps
    client = engine.connect()
    compose_cli = compose.find()
    emit(ScenarioStarted(plan, steps))
    tags = images.ensure(client, lambda text: emit(Progress(text)))
    started = time.monotonic()
    with Stack(plan.topology, plan.scale, tags, client, compose_cli, plan.scenario.id) as stack:
        result = ScenarioResult(plan, stack.project)
        emit(Progress(f"starting {len(plan.topology.hops)} containers as project {stack.project}"))
        stack.up(steps[0].knobs)
        emit(StackUp(stack.project, stack.url(), time.monotonic() - started))
        unsettled: list[str] = []
        for number, step in enumerate(steps, 1):
            step_started = time.monotonic()
            restarted = stack.apply(step.knobs, also_restart=unsettled)
            emit(StepStarted(step, number, len(steps), settings(plan, step), restarted))
            outcome = _drive(plan, step, stack)
            result.steps.append(StepResult(step, outcome.checks, outcome.requests, time.monotonic() - step_started))
            emit(StepFinished(result.steps[-1]))
            unsettled = outcome.unsettled
        result.wall_s = time.monotonic() - started
    emit(ScenarioFinished(result))
    return result


@dataclass
class _Outcome:
    checks: list[Check]
    requests: list[RequestResult]
    unsettled: list[str]  # hops that may still be busy with this step's requests


def _drive(plan: Plan, step: StepPlan, stack: Stack) -> _Outcome:
    traffic = step.traffic
    since = time.time()
    records = send_uploads(
        stack.url(), traffic.path, size=traffic.size, chunked=traffic.transfer == "chunked",
        process_s=plan.scale.lab_s(traffic.processing), count=traffic.requests,
        timeout_s=CLIENT_TIMEOUT_MARGIN_S + 4 * plan.scale.lab_s(max(_longest_wait_s(plan), traffic.processing)),
    )
    evidence = collect(stack, since, [record.request_id for record in records])
    requests = [RequestResult(r, evidence.answered_by(r.request_id, r.status), evidence.trace(r.request_id))
                for r in records]
    checks = judge(step.step.expect, records, evidence)
    # Hops behind the one that answered may still be working on the request (a proxy gave up, the
    # app did not): restart them before the next step so its logs and timing start clean.
    hops = plan.topology.hop_names
    unsettled: set[str] = set()
    for request in requests:
        if request.answered_by is None:
            unsettled.update(hops)
        elif evidence.forwarded_by(request.answered_by, request.record.request_id):
            unsettled.update(hops[hops.index(request.answered_by) + 1:])
    return _Outcome(checks, requests, [hop for hop in hops if hop in unsettled])


def _longest_wait_s(plan: Plan) -> float:
    return max(step.knobs[hop].longest_wait_s() for step in plan.steps for hop in step.knobs)


def settings(plan: Plan, step: StepPlan) -> dict[str, list[Setting]]:
    return {
        hop.name: HOP_KINDS[hop.kind].settings(step.knobs[hop.name],
                                               RenderContext(hop.name, hop.port, hop.upstream, plan.scale))
        for hop in plan.topology.hops
    }
