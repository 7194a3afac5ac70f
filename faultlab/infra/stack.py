"""One running compose project: rendered configs, containers, logs — and always a teardown.

`Stack` is a context manager in the spirit of testcontainers: whatever happens inside the `with`
(a failed expectation, an exception, Ctrl-C, SIGTERM), `down()` runs, and a sweep by the compose
project label removes anything compose itself did not. Every resource also carries its owner process
(`faultlab.infra.owner`), so `clean()` can remove what killed runs left without touching live ones.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType

import docker
import requests
from docker.errors import APIError, DockerException, NotFound
from docker.models.containers import Container

from faultlab import paths
from faultlab.errors import CommandError, EnvironmentError_
from faultlab.hops import HOP_KINDS, Knobs, RenderContext
from faultlab.hops.base import ANNOUNCE_FILE, ANNOUNCE_TIME
from faultlab.infra import owner
from faultlab.infra.compose import Compose
from faultlab.model.topology import Hop, Topology
from faultlab.units import TimeScale

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
NUMBER_LABEL = "com.docker.compose.container-number"  # a service's replica: 1, 2, …
MANAGED_LABEL = "io.faultlab.managed"  # set in every compose file, on services and networks
OWNER_LABEL = "io.faultlab.owner"  # the process that started the stack (see faultlab.infra.owner)
_TEARDOWN_SIGNALS = {signal.SIGINT, signal.SIGTERM}
UP_TIMEOUT_S = 180
HEALTHY_TIMEOUT_S = 60
# Seconds a hop gets between SIGTERM and SIGKILL when the lab restarts it between steps or tears the stack down:
# none. Its lines so far are collected, and a server still busy with the last step's request (a gunicorn
# worker on a 60 s sleep behind a proxy that gave up) would hold every restart and teardown for the whole
# grace period. A step's own stops (actions: a deploy's SIGTERM) keep their grace.
PLUMBING_STOP_S = 0
PROBE_PAUSE_S = 0.05  # between two of the lab's own health probes of a restarted hop


@dataclass(frozen=True)
class Kept:
    """A stack that outlives the process that starts it (a practice workspace's): its project, its config
    directory and its owner label are fixed, a later process attaches to it, and leaving the `with` block
    keeps it running; `down()` removes it. Its owner label is no process's, so `clean` keeps it unless
    told `--all`."""

    project: str
    config_dir: Path
    owner: str


class Stack:
    def __init__(self, topology: Topology, scale: TimeScale, images: dict[str, str],
                 client: docker.DockerClient, compose: Compose, name: str, kept: Kept | None = None) -> None:
        self.topology = topology
        self.scale = scale
        self.client = client
        self.compose = compose
        self.kept = kept
        self.project = kept.project if kept else f"faultlab-{name}-{secrets.token_hex(3)}"[:60]
        self.images = images
        self.config_dir = Path()  # made on entering: constructing a Stack has no side effects
        self.env: dict[str, str] = {}
        self._rendered: dict[str, dict[str, str]] = {}
        self._knobs: dict[str, Knobs] = {}
        self._drained: dict[str, set[int]] = {}  # hop -> replicas out of the rotation of the proxy in front
        self._containers: dict[str, list[Container]] = {}
        self._memory: dict[str, int | None] = {}  # hop -> the memory limit its containers have now
        self._removed = True

    # lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        if self.kept is not None:
            self.config_dir = self.kept.config_dir
            self.config_dir.mkdir(parents=True, exist_ok=True)
            self._rendered = _read_rendered(self.config_dir, self.topology)  # what the running hops were given
        else:
            self.config_dir = Path(tempfile.mkdtemp(prefix=f"{self.project}-"))
        self.config_dir.chmod(0o755)
        paths.make_shared_dir(self.config_dir)  # goes with the rest of the directory at teardown
        self.env = {"FAULTLAB_CONFIG": str(self.config_dir),
                    "FAULTLAB_OWNER": self.kept.owner if self.kept else str(owner.current())}
        self.env.update({f"FAULTLAB_{name.upper()}_IMAGE": tag for name, tag in self.images.items()})
        self._removed = False
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.kept is not None:
            return  # it lives on; `down()` is its end
        interrupted = False
        while not self._removed:
            try:
                self.down()
            except KeyboardInterrupt:
                # The signal landed before down() could hold it, or was held and delivered after the
                # teardown: either way, finish (or repeat) the teardown, then report the interruption.
                interrupted = True
        if interrupted and kind is None:
            raise KeyboardInterrupt

    def running(self) -> bool:
        """Every hop has its containers, all running (a kept stack found again)."""
        found = self.client.containers.list(all=True, filters={"label": [f"{PROJECT_LABEL}={self.project}",
                                                                          f"{MANAGED_LABEL}=true"]})
        services = {container.labels.get(SERVICE_LABEL) for container in found if container.status == "running"}
        return bool(found) and set(self.topology.hop_names) <= services and all(
            container.status == "running" for container in found)

    def up(self, knobs: dict[str, Knobs]) -> None:
        self.write(knobs)
        self._compose(["up", "--detach", "--wait", "--wait-timeout", str(UP_TIMEOUT_S)], UP_TIMEOUT_S + 30)
        self._limit_memory()

    def apply(self, knobs: dict[str, Knobs], also_restart: list[str], scale: TimeScale | None = None) -> list[str]:
        """Render the new knobs (at `scale`, when a step has its own); restart the hops whose config
        changed, `also_restart`, and every hop in front of those."""
        if scale is not None:
            self.scale = scale
        self._drained.clear()  # a step starts with every replica in rotation
        changed = set(self.write(knobs))
        self._limit_memory()
        restart = restart_order(self.topology.hop_names, changed | set(also_restart))
        for number, hop in enumerate(restart):
            for container in self.containers(hop):
                container.restart(timeout=PLUMBING_STOP_S)
            self.wait_healthy([hop])
            if number + 1 < len(restart):
                self._wait_resolved(hop, restart[number + 1])
        return list(reversed(restart))

    def _wait_resolved(self, hop: str, front: str) -> None:
        """Until the hop's name resolves, in the front hop's container, to its containers' addresses now: the
        front hop restarts next and resolves it once (nginx's upstream), and a restart may move the hop to
        another address (a replaced replica's successor holds its old one)."""
        wanted = {self._address(container)[1] for container in self.containers(hop)}
        probe = self.container(front)
        deadline = time.monotonic() + HEALTHY_TIMEOUT_S
        while time.monotonic() < deadline:
            with contextlib.suppress(APIError):
                done = probe.exec_run(["getent", "ahostsv4", hop])
                if done.exit_code == 0 and {line.split()[0] for line in done.output.decode().splitlines()} == wanted:
                    return
            time.sleep(PROBE_PAUSE_S)
        raise EnvironmentError_(f"hop {hop!r}: its name did not resolve to {', '.join(sorted(wanted))} "
                                f"from {front!r} after its restart")

    def announce(self) -> None:
        """Write each hop's announce lines (hops/base.py ANNOUNCE_FILE) into its log now, through the main
        process's stderr, so that they land in the step that has just started."""
        for hop, files in self._rendered.items():
            if files.get(ANNOUNCE_FILE):
                script = (f'stamp=$(date -u "+%m%d %H:%M:%S.%6N"); '
                          f'sed "s/{ANNOUNCE_TIME}/$stamp/" /etc/faultlab/{ANNOUNCE_FILE} > /proc/1/fd/2')
                for container in self.containers(hop):
                    exit_code, output = container.exec_run(["sh", "-c", script])
                    if exit_code != 0:
                        raise EnvironmentError_(f"hop {hop!r}: could not write its announce lines: "
                                                f"{output.decode(errors='replace').strip()}")

    def down(self) -> None:
        # Ctrl-C and SIGTERM are held (not lost) while tearing down: a second signal must not leave
        # containers behind; it is delivered once everything is gone. A mask works in any thread.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _TEARDOWN_SIGNALS)
        try:
            with contextlib.suppress(CommandError):  # the sweep below removes whatever compose could not
                self._compose(["down", "--volumes", "--remove-orphans", "--timeout", str(PLUMBING_STOP_S)], 120,
                              detach=True)
            try:
                self._sweep()
            except (DockerException, requests.RequestException) as exc:
                raise EnvironmentError_(
                    f"could not remove project {self.project}: the Docker engine stopped answering "
                    f"({type(exc).__name__})",
                    tip="once the engine is back, `{prog} clean` removes what this run left") from None
            finally:
                shutil.rmtree(self.config_dir, ignore_errors=True)
                self._removed = True
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def _sweep(self) -> None:
        """Whatever compose left (a killed `up`, a half-created network) goes by its project label."""
        remove_labelled(self.client, self.project)

    def _compose(self, args: list[str], timeout_s: float, detach: bool = False) -> str:
        return self.compose.run(args, project=self.project, file=self.topology.compose_file, env=self.env,
                                timeout_s=timeout_s, detach_signals=detach)

    def _limit_memory(self) -> None:
        """Give each hop's containers the memory limit of its knobs (docker update; the kernel's OOM killer
        then acts inside the container, as under a Kubernetes limit). A scenario cannot lift a limit once
        set (the loader refuses it): Docker cannot update a running container to unlimited."""
        for hop in self.topology.hop_names:
            limit = self._knobs[hop].memory_limit_bytes()
            if limit is None or limit == self._memory.get(hop):
                continue
            for container in self.containers(hop):
                container.update(mem_limit=limit, memswap_limit=limit)  # no swap: the limit is the limit
            self._memory[hop] = limit

    # configs -----------------------------------------------------------------------------------

    def write(self, knobs: dict[str, Knobs]) -> list[str]:
        self._knobs = knobs
        changed = []
        hops = self.topology.hops
        for hop, next_hop in zip(hops, [*hops[1:], None], strict=True):
            ctx = RenderContext(hop.name, hop.port, hop.upstream, self.scale, self._in_rotation(next_hop))
            files = HOP_KINDS[hop.kind].render(knobs[hop.name], ctx)
            if files == self._rendered.get(hop.name):
                continue
            directory = self.config_dir / hop.name
            directory.mkdir(exist_ok=True)
            for name, text in files.items():
                (directory / name).write_text(text)
            if hop.name in self._rendered:
                changed.append(hop.name)
            self._rendered[hop.name] = files
        return changed

    def _in_rotation(self, next_hop: Hop | None) -> tuple[str, ...]:
        """The next hop's replicas its proxy may use, by container name (which the compose network
        resolves), while one of them is drained; otherwise () and the proxy uses the service name."""
        if next_hop is None or not self._drained.get(next_hop.name):
            return ()
        return tuple(f"{container.name}:{next_hop.port}" for container in self.containers(next_hop.name)
                     if _number(container) not in self._drained[next_hop.name])

    # actions during traffic --------------------------------------------------------------------

    def replica(self, hop: str, number: int) -> Container:
        for container in self.containers(hop):
            if _number(container) == number:
                return container
        raise EnvironmentError_(f"hop {hop!r} has no replica {number} in project {self.project}")

    def signal(self, hop: str, number: int, name: str) -> None:
        self.replica(hop, number).kill(signal=f"SIG{name}")

    def start(self, hop: str, number: int) -> None:
        """Start the replica again, once its last stop has finished: it stands for a new pod, which does not
        wait for the old one, but the lab's replacement is the same container, and `docker start` on one
        still draining after its TERM does nothing (measured under two runs' load: a gunicorn still
        finishing its 2 s requests at the start time stayed down, and the ingress's connects timed out)."""
        container = self.replica(hop, number)
        deadline = time.monotonic() + HEALTHY_TIMEOUT_S
        container.reload()
        while container.status == "running" and time.monotonic() < deadline:
            time.sleep(PROBE_PAUSE_S)
            container.reload()
        container.start()

    def restart(self, hop: str, number: int) -> None:
        self.replica(hop, number).restart(timeout=2)

    def replace(self, hop: str, number: int) -> tuple[str, str]:
        """The replica's container stopped (killed, as a deleted pod's), another container started on the
        same network, which the engine gives the lowest free address, the one just freed, and the replica
        started again on a new address. The other container stays until teardown (labelled with the
        project, so the sweep removes it). Returns (old address, new address)."""
        container = self.replica(hop, number)
        network, old = self._address(container)
        container.stop(timeout=0)
        self.client.containers.run(
            self.images["python"], ["sleep", "infinity"], detach=True, network=network,
            name=f"{self.project}-{hop}-{number}-successor-{secrets.token_hex(2)}",
            labels={PROJECT_LABEL: self.project, MANAGED_LABEL: "true", OWNER_LABEL: str(owner.current())})
        container.start()
        new = self._address(container)[1]
        if new == old:
            raise EnvironmentError_(f"hop {hop!r} #{number} came back on its old address {old}")
        self.wait_healthy([hop])
        return old, new

    @staticmethod
    def _address(container: Container) -> tuple[str, str]:
        """(network name, IPv4 address) of a container on its one compose network."""
        container.reload()
        (name, settings), = container.attrs["NetworkSettings"]["Networks"].items()
        return name, settings["IPAddress"]

    def set_drained(self, hop: str, number: int, drained: bool) -> list[str]:
        """Take a replica out of the rotation of the proxy in front (or put it back): that proxy's config
        is rendered again and it is sent its reload signal. Returns the hops reloaded."""
        out = self._drained.setdefault(hop, set())
        if drained:
            out.add(number)
        else:
            out.discard(number)
        reloaded = self.write(self._knobs)
        for front in reloaded:
            reload_signal = HOP_KINDS[self.topology.hop(front).kind].reload_signal
            for container in self.containers(front):
                container.kill(signal=f"SIG{reload_signal}")
        return reloaded

    # containers --------------------------------------------------------------------------------

    def helpers(self) -> list[str]:
        """The project's services that are not hops (the Kubernetes API stand-in a traefik-ingress hop reads)."""
        services = {container.labels.get(SERVICE_LABEL, "") for container in self.client.containers.list(
            all=True, filters={"label": f"{PROJECT_LABEL}={self.project}"})}
        return sorted(services - set(self.topology.hop_names) - {""})

    def containers(self, hop: str) -> list[Container]:
        """The hop's containers, replica 1 first (a hop has more than one when its service has replicas)."""
        if hop not in self._containers:
            found = self.client.containers.list(
                all=True, filters={"label": [f"{PROJECT_LABEL}={self.project}", f"{SERVICE_LABEL}={hop}"]})
            if not found:
                raise EnvironmentError_(f"hop {hop!r} has no container in project {self.project}")
            self._containers[hop] = sorted(found, key=_number)
        return self._containers[hop]

    def replica_names(self) -> dict[str, str]:
        """Host name -> "#N" for the containers of every hop that has several (the app's arrival line
        names its host)."""
        return {container.attrs["Config"]["Hostname"]: f"#{_number(container)}"
                for hop in self.topology.hops if hop.replicas > 1 for container in self.containers(hop.name)}

    def container(self, hop: str) -> Container:
        return self.containers(hop)[0]

    def url(self, hop: str | None = None) -> str:
        target = self.topology.hop(hop) if hop else self.topology.entry
        container = self.container(target.name)
        container.reload()
        bindings = container.attrs["NetworkSettings"]["Ports"].get(f"{target.port}/tcp") or []
        if not bindings:
            raise EnvironmentError_(f"hop {target.name!r} publishes no port {target.port}")
        return f"http://127.0.0.1:{bindings[0]['HostPort']}"

    def wait_healthy(self, hops: list[str]) -> None:
        """Until each of the hops' containers passes its compose healthcheck, run by the lab itself: the
        engine (20.10) first probes a restarted container one `interval` (500 ms) after it started, and
        the lab would wait for that on every restart."""
        deadline = time.monotonic() + HEALTHY_TIMEOUT_S
        for container in [container for hop in hops for container in self.containers(hop)]:
            hop = container.labels.get(SERVICE_LABEL, "?")
            probe = _health_command(container)
            while True:
                if probe is None:
                    container.reload()
                    ready = container.attrs["State"].get("Health", {}).get("Status") == "healthy"
                else:
                    ready = False
                    with contextlib.suppress(APIError):  # not running yet: exec is refused
                        ready = container.exec_run(probe).exit_code == 0
                if ready:
                    break
                container.reload()
                if container.attrs["State"].get("Status") == "exited" or time.monotonic() > deadline:
                    tail = container.logs(tail=5).decode(errors="replace").strip()
                    raise EnvironmentError_(f"hop {hop!r} did not come back healthy after its restart: {tail}")
                time.sleep(PROBE_PAUSE_S)

    def logs(self, hop: str, since: float) -> list[tuple[float, str]]:
        """The hop's stdout and stderr lines since `since`, as (engine timestamp, text): every replica's,
        in time order."""
        lines = []
        for container in self.containers(hop):
            raw = container.logs(stdout=True, stderr=True, timestamps=True, since=int(since))
            for line in raw.decode(errors="replace").splitlines():
                stamp, _, text = line.partition(" ")
                ts = _docker_time(stamp)
                if ts >= since:
                    lines.append((ts, text))
        if len(self.containers(hop)) > 1:
            lines.sort(key=lambda line: line[0])
        return lines


def _health_command(container: Container) -> list[str] | None:
    """The container's healthcheck as a command to exec (compose's `test`), None when it has none."""
    test = list((container.attrs["Config"].get("Healthcheck") or {}).get("Test") or [])
    if test[:1] == ["CMD"] and len(test) > 1:
        return test[1:]
    if test[:1] == ["CMD-SHELL"] and len(test) == 2:
        return ["/bin/sh", "-c", test[1]]
    return None


def _number(container: Container) -> int:
    return int(container.labels.get(NUMBER_LABEL, "1"))


def restart_order(hops: list[str], changed: set[str]) -> list[str]:
    """Which hops to restart for a step, in the order to restart them: the changed ones and every hop
    in front of them (they pool connections to it: traefik's idle connections, nginx's keep-alive, so a
    step measures its own settings, not stale sockets), innermost first (nginx refuses to start while
    the name of its upstream does not resolve, and a stopped container's name does not)."""
    deepest = max((hops.index(hop) for hop in changed), default=-1)
    return list(reversed(hops[: deepest + 1]))


def _docker_time(stamp: str) -> float:
    # 2026-11-24T09:00:00.123456789Z: Python parses at most microseconds.
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{whole}.{(fraction + '000000')[:6]}+00:00").timestamp()


def _read_rendered(config_dir: Path, topology: Topology) -> dict[str, dict[str, str]]:
    """The configs a kept stack's hops were started or restarted with, from its config directory."""
    found: dict[str, dict[str, str]] = {}
    for hop in topology.hop_names:
        directory = config_dir / hop
        if directory.is_dir():
            found[hop] = {path.name: path.read_text() for path in sorted(directory.iterdir()) if path.is_file()}
    return found


def remove_labelled(client: docker.DockerClient, project: str) -> dict[str, int]:
    """Remove every container, then network, then volume of one of our compose projects; count what
    went. Both labels must match, so a project of someone else's that happens to share the name stays."""
    removed = {"containers": 0, "networks": 0, "volumes": 0}
    filters = {"label": [f"{MANAGED_LABEL}=true", f"{PROJECT_LABEL}={project}"]}
    for container in client.containers.list(all=True, filters=filters):
        with contextlib.suppress(NotFound, APIError):
            container.remove(force=True, v=True)
            removed["containers"] += 1
    for network in client.networks.list(filters=filters):
        with contextlib.suppress(NotFound, APIError):
            network.remove()
            removed["networks"] += 1
    for volume in client.volumes.list(filters=filters):
        with contextlib.suppress(NotFound, APIError):
            volume.remove(force=True)
            removed["volumes"] += 1
    return removed


@dataclass
class Cleaned:
    removed: dict[str, int] = field(default_factory=lambda: {"containers": 0, "networks": 0, "volumes": 0})
    projects: list[str] = field(default_factory=list)  # removed
    kept: dict[str, owner.State] = field(default_factory=dict)  # project → why it stayed


def projects(client: docker.DockerClient) -> dict[str, str]:
    """Every faultlab compose project on the engine → its owner label ("" if none)."""
    filters = {"label": f"{MANAGED_LABEL}=true"}
    found: dict[str, str] = {}
    # ignore_removed: another run may remove a container between the SDK's list and its inspect of it.
    resources = [*client.containers.list(all=True, filters=filters, ignore_removed=True),
                 *client.networks.list(filters=filters),
                 *client.volumes.list(filters=filters)]
    for resource in resources:
        labels = resource.attrs.get("Labels") or resource.attrs.get("Config", {}).get("Labels") or {}
        project = labels.get(PROJECT_LABEL)
        if project:
            found[project] = found.get(project) or labels.get(OWNER_LABEL, "")
    return found


def clean(client: docker.DockerClient, *, everything: bool = False) -> Cleaned:
    """Remove what killed runs left behind: faultlab's projects whose owner process is gone (or, with
    `everything`, every faultlab project, live ones included). Never anything without our label."""
    result = Cleaned()
    for project, label in sorted(projects(client).items()):
        state = owner.state(label)
        if state != "dead" and not everything:
            result.kept[project] = state
            continue
        for kind, count in remove_labelled(client, project).items():
            result.removed[kind] += count
        for config_dir in Path(tempfile.gettempdir()).glob(f"{project}-*"):  # the killed run's rendered configs
            shutil.rmtree(config_dir, ignore_errors=True)
        result.projects.append(project)
    return result
