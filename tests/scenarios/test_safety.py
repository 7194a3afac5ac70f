"""Every topology's containers, inspected while they run: ports published on 127.0.0.1 only, nothing
privileged, no host network, no docker socket inside, and no server process running as root.

Which user each server runs as: nginx as www-data (compose `user:`; it listens on 8080/9901 and
writes only under /tmp), traefik as nobody (65534, its image), gunicorn/uwsgi and the app as `lab`
(10001, the python image). None needs root.
"""

from __future__ import annotations

import pytest

from faultlab.model import scenario
from faultlab.run.session import open_stack

pytestmark = pytest.mark.engine

# The first scenario of every topology the catalogue uses (a twin's too): a new topology is checked as soon
# as a scenario uses it. Each is (scenario id, whether its twin runs).
_PLANS = [scenario.load(scenario_id) for scenario_id in scenario.available()]
ONE_SCENARIO_PER_TOPOLOGY = sorted({
    **{plan.twin.topology.name: (plan.id, True) for plan in reversed(_PLANS) if plan.twin is not None},
    **{plan.topology.name: (plan.id, False) for plan in reversed(_PLANS)}}.values())


@pytest.mark.parametrize("scenario_id,twin", ONE_SCENARIO_PER_TOPOLOGY,
                         ids=[f"{name}{' (twin)' if twin else ''}" for name, twin in ONE_SCENARIO_PER_TOPOLOGY])
def test_containers_are_confined(scenario_id, twin, client, image_tags):
    plan = scenario.load(scenario_id)
    plan = plan.twin if twin and plan.twin is not None else plan
    with open_stack(plan, name=f"safety-{scenario_id}") as stack:
        for hop in [*plan.topology.hop_names, *stack.helpers()]:
            container = stack.container(hop)
            container.reload()
            host = container.attrs["HostConfig"]
            assert host["Privileged"] is False, hop
            assert host["NetworkMode"] != "host", hop
            assert not host.get("CapAdd"), hop
            for mount in container.attrs["Mounts"]:
                assert "docker.sock" not in mount["Source"] + mount["Destination"], f"{hop}: {mount}"
            for bindings in container.attrs["NetworkSettings"]["Ports"].values():
                assert bindings and {binding["HostIp"] for binding in bindings} == {"127.0.0.1"}, hop
            assert _users(container) and "0" not in _users(container), f"{hop} runs a process as root"


def _users(container) -> set[str]:
    """The real uid of every process in the container (read from /proc, as the container's own user), but the
    runtime's own `runc:[2:INIT]`: every exec (the engine's healthcheck, this one) starts as root in the
    container's namespaces and drops to the container's user before it runs the command; measured here, a
    container's /proc read in a loop during 40 execs showed it 116 times, and no other process as root."""
    done = container.exec_run(["sh", "-c", "cat /proc/[0-9]*/status 2>/dev/null; exit 0"])  # some may have exited
    assert done.exit_code == 0, done.output
    users, name = set(), ""
    for line in done.output.decode().splitlines():
        if line.startswith("Name:"):
            name = line.split(maxsplit=1)[1] if len(line.split()) > 1 else ""
        elif line.startswith("Uid:") and not name.startswith("runc:["):
            users.add(line.split()[1])
    return users
