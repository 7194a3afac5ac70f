"""The Docker engine: reach one, or — as root on Debian/Ubuntu — install and start one.

`make test` and `make scenario-<id>` run inside `faultlab with-engine`, which starts dockerd only when
none answers and stops exactly the one it started (by pid) when the command is done; an engine
that was already running is left alone.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence

import docker
from docker.errors import DockerException

from faultlab import paths
from faultlab.errors import CommandError, EnvironmentError_, LabError

Say = Callable[[str], None]
START_TIMEOUT_S = 90
TIP = ("run `{prog} engine start` (as root on Debian/Ubuntu it installs docker.io and starts dockerd), "
       "or start Docker Desktop / `sudo systemctl start docker`")


# Root's tools live in the sbin directories, which a CI or sudo environment may leave off PATH;
# dockerd itself also looks up iptables there.
_SYSTEM_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin")


def system_env() -> dict[str, str]:
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SYSTEM_DIRS])
    return {**os.environ, "PATH": path}


def system_program(name: str) -> str | None:
    return shutil.which(name, path=system_env()["PATH"])


LOCAL_SOCKET = "unix:///var/run/docker.sock"


def _where() -> str:
    return os.environ.get("DOCKER_HOST") or LOCAL_SOCKET


def _elsewhere() -> bool:
    """DOCKER_HOST names another engine than this machine's own: starting a local dockerd would not help."""
    return _where() not in (LOCAL_SOCKET, LOCAL_SOCKET.removeprefix("unix://"))


def _unreachable(exc: BaseException | None = None) -> EnvironmentError_:
    if exc is not None and "Permission denied" in str(exc):
        return EnvironmentError_(f"permission denied on the Docker socket {_where()}",
                                 tip="add your user to the docker group (`sudo usermod -aG docker $USER`, then log "
                                     "in again), or run faultlab as root")
    if _elsewhere():
        return EnvironmentError_(f"Docker engine not reachable at {_where()} (from DOCKER_HOST)",
                                 tip="check that DOCKER_HOST points at a running engine, or unset it to use this "
                                     "machine's own")
    return EnvironmentError_(f"Docker engine not reachable at {_where()}", tip=TIP)


def connect(timeout_s: int = 120) -> docker.DockerClient:
    """A client for a running engine, or one clear error."""
    try:
        client = docker.from_env(timeout=timeout_s)
        client.ping()
    except DockerException as exc:
        raise _unreachable(exc) from None
    return client


def reachable() -> bool:
    try:
        connect(timeout_s=5)
    except EnvironmentError_ as exc:
        if "permission denied" in exc.message:
            raise  # an engine runs; starting another would not help
        return False
    return True


def ensure(say: Say) -> int | None:
    """Make an engine answer. Returns the pid of the dockerd started here, or None if one was running."""
    if reachable():
        return None
    if _elsewhere():
        raise _unreachable()
    if os.geteuid() != 0 or not system_program("apt-get"):
        raise EnvironmentError_(f"Docker engine not reachable at {_where()}, and faultlab can only "
                                "install one as root on Debian/Ubuntu", tip=TIP)
    if not system_program("dockerd"):
        install_packages(["docker.io"], say, why="no Docker engine is installed")
    return _start_dockerd(say)


def install_packages(packages: Sequence[str], say: Say, *, why: str) -> None:
    say(f"{why}: installing {' '.join(packages)} with apt-get (once per machine)")
    env = {**system_env(), "DEBIAN_FRONTEND": "noninteractive"}
    # Wait for another apt-get (e.g. a parallel install of chromium) instead of failing on its lock.
    lock = ["-o", "DPkg::Lock::Timeout=600"]
    for argv in (["apt-get", *lock, "update", "-qq"], ["apt-get", *lock, "install", "-y", "-qq", *packages]):
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
        if done.returncode != 0:
            raise CommandError(argv, done.returncode, done.stdout, done.stderr,
                               tip=f"install {' '.join(packages)} by hand, then run the command again")


def _start_dockerd(say: Say) -> int:
    paths.CACHE.mkdir(parents=True, exist_ok=True)
    log_path = paths.CACHE / "dockerd.log"
    say(f"starting dockerd (log: {log_path})")
    with open(log_path, "ab") as log:
        # A session of its own: a Ctrl-C meant for the lab must not take the engine down mid-teardown.
        dockerd = system_program("dockerd")
        if dockerd is None:
            raise EnvironmentError_("dockerd is not installed even after installing docker.io", tip=TIP)
        process = subprocess.Popen([dockerd], stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   env=system_env())
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise EnvironmentError_(f"dockerd exited with {process.returncode}: {' / '.join(tail)}",
                                    tip=f"see {log_path}")
        if reachable():
            say(f"dockerd is up (pid {process.pid})")
            return process.pid
        time.sleep(0.5)
    process.terminate()
    raise EnvironmentError_(f"dockerd did not answer within {START_TIMEOUT_S} s", tip=f"see {log_path}")


def stop(pid: int, say: Say) -> None:
    say(f"stopping the dockerd this run started (pid {pid})")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child (started by an earlier `engine start`)
            finished = 0 if _alive(pid) else pid
        if finished == pid:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def with_engine(argv: Sequence[str], say: Say) -> int:
    """Run a command with an engine available; stop the engine afterwards if this call started it."""
    started = ensure(say)
    try:
        return subprocess.call(list(argv))
    finally:
        if started is not None:
            stop(started, say)


def from_engine(exc: BaseException) -> LabError | None:
    """The Docker SDK's own failures (the engine went away mid-run, an API call refused) as one line."""
    import requests
    from docker.errors import APIError

    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return EnvironmentError_(f"the Docker engine at {where} stopped answering during the run",
                                 tip="check it with `{prog} engine status`; then `{prog} clean` removes what the "
                                     "run left behind")
    if isinstance(exc, APIError):
        return EnvironmentError_(f"the Docker engine refused a request: {exc.explanation or exc}")
    if isinstance(exc, DockerException):
        return EnvironmentError_(f"Docker: {exc}")
    return None
