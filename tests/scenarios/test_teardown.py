"""Nothing leaks: SIGINT/SIGTERM at random moments of real runs, and `lab clean` after a SIGKILL.

The engine is shared with other labs running at the same time, so every check looks only at the
resources of the runs started here (by their owner label or project name), never at "everything".
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from faultlab.infra import compose, owner
from faultlab.infra.stack import MANAGED_LABEL, OWNER_LABEL, PROJECT_LABEL, Stack
from faultlab.model import scenario

from .conftest import leftovers

pytestmark = pytest.mark.engine

LAB = [str(Path(sys.executable).parent / "faultlab")]
# Short runs on each topology's servers: each crosses image check, up, traffic, collect and down in ~3-6 s.
RUNS = [["500-app-error", "--step", "app-bug"], ["502-connection-refused", "--step", "bound-to-loopback"],
        ["413-body-size", "--step", "broken"]]
INTERRUPTIONS = 30


@dataclass
class Outcome:
    argv: list[str]
    signum: int
    delay_s: float
    returncode: int
    stdout: str
    stderr: str
    left: list[str]

    @property
    def phase(self) -> str:
        """Where the signal landed, from the last progress line the run printed."""
        if "stack up in" not in self.stdout:
            return "up" if "starting" in self.stdout else "engine/image check"
        judged = re.search(r"step (matched|did not match) in", self.stdout)
        return "judge/teardown" if judged else "traffic/collect"


def _owned_by(client: docker.DockerClient, label: str) -> list[str]:
    filters = {"label": f"{OWNER_LABEL}={label}"}
    return ([c.name for c in client.containers.list(all=True, filters=filters)]
            + [n.name for n in client.networks.list(filters=filters)]
            + [v.name for v in client.volumes.list(filters=filters)])


def _interrupt(client: docker.DockerClient, argv: list[str], signum: int, delay_s: float) -> Outcome:
    process = subprocess.Popen([*LAB, "run", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "COLUMNS": "200"})
    label = str(owner.of(process.pid))  # what the child writes on everything it creates
    time.sleep(delay_s)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=180)
    return Outcome(argv, signum, delay_s, process.returncode, stdout, stderr, _owned_by(client, label))


def _length_s(argv: list[str]) -> float:
    started = time.monotonic()
    done = subprocess.run([*LAB, "run", *argv, "-q"], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    return time.monotonic() - started


def test_random_interruptions_leave_nothing_behind(client, image_tags):
    seed = int(os.environ.get("FAULTLAB_INTERRUPT_SEED", time.time_ns() % 100_000))
    print(f"interruption seed {seed} (FAULTLAB_INTERRUPT_SEED={seed} replays it)")
    rng = random.Random(seed)
    # Signals are drawn within each run's own length, measured here: on a quiet machine a run takes ~2 s,
    # on a busy one ~6 s, and a fixed range let most signals land after the run had ended (9 of 30 inside).
    lengths = {tuple(argv): _length_s(argv) for argv in RUNS}
    plan = [(argv, rng.choice([signal.SIGINT, signal.SIGTERM]), rng.uniform(0.3, 0.95 * lengths[tuple(argv)]))
            for argv in (rng.choice(RUNS) for _ in range(INTERRUPTIONS))]
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda job: _interrupt(client, *job), plan))

    tally = Counter("interrupted (130)" if o.returncode == 130 else "finished first (0)" if o.returncode == 0
                    else f"killed before Python handled signals ({o.returncode})" for o in outcomes)
    print(f"{INTERRUPTIONS} interruptions in {time.monotonic() - started:.0f} s: {dict(tally)}; "
          f"landed in: {dict(Counter(o.phase for o in outcomes if o.returncode == 130))}")
    for o in outcomes:
        where = f"{' '.join(o.argv)} ← {signal.Signals(o.signum).name} after {o.delay_s:.2f} s"
        assert o.left == [], f"{where}: left {o.left}"
        # A signal in the first tenth of a second reaches the interpreter before its handlers exist:
        # the default action ends it, and it has created nothing yet (checked above).
        assert o.returncode in (0, 130) or (o.returncode == -o.signum and o.delay_s < 1.0), \
            f"{where}: exit {o.returncode}: {o.stderr}"
        if o.returncode == 130:
            assert "interrupted: the lab's containers were removed" in o.stderr, where
            assert "Traceback" not in o.stderr, f"{where}: {o.stderr}"
    assert tally["interrupted (130)"] >= INTERRUPTIONS // 2, "most signals must land inside a run"


def test_clean_removes_a_killed_run_and_only_that(client, image_tags):
    # A live stack owned by this process: `lab clean` must leave it running.
    plan = scenario.load("500-app-error")
    with Stack(plan.topology, plan.scale, image_tags, client, compose.find(), "reltest-live") as live:
        live.up(plan.steps[0].knobs)
        # Someone else's container, and a faultlab-labelled one whose owner cannot be checked (a stack
        # started by hand, or by an older lab): both stay.
        theirs = client.containers.run(image_tags["nginx"], ["sleep", "300"], detach=True,
                                       labels={"io.faultlab-test.theirs": "true"})
        by_hand = client.containers.run(image_tags["nginx"], ["sleep", "300"], detach=True,
                                        labels={MANAGED_LABEL: "true", PROJECT_LABEL: "faultlab-by-hand-test"})
        try:
            killed = _killed_run()
            assert leftovers(client, killed), "a SIGKILLed run leaves its stack (nothing can run after SIGKILL)"

            done = subprocess.run([*LAB, "clean"], capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            assert leftovers(client, killed) == []
            assert not list(Path("/tmp").glob(f"{killed}-*")), "its rendered configs go too"
            assert f"kept {live.project}: its run is still going" in done.stdout
            assert "kept faultlab-by-hand-test: its owner cannot be checked" in done.stdout
            assert all(c.status == "running" for c in client.containers.list(
                all=True, filters={"label": f"{PROJECT_LABEL}={live.project}"}))
            for container in (theirs, by_hand):
                container.reload()
                assert container.status == "running"
        finally:
            theirs.remove(force=True)
            by_hand.remove(force=True)
    assert leftovers(client, live.project) == []


def _killed_run() -> str:
    process = subprocess.Popen([*LAB, "run", "500-app-error"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env={**os.environ, "COLUMNS": "200"})
    assert process.stdout is not None
    project = None
    for line in process.stdout:
        found = re.search(r"project (faultlab-500-app-error-\w+)", line)
        project = project or (found and found.group(1))
        if "stack up in" in line:
            break
    assert project, "the run never named its compose project"
    process.kill()
    process.wait(timeout=30)
    return project
