"""Hostile and odd input: each case runs the real CLI in a subprocess with a memory limit and a time bound,
and must end in one `error:` line (and at most a `Tip:`), the right exit code and no traceback.

The classes: YAML that expands or nests, bytes that are not UTF-8, duplicate keys, a top level that is not
a mapping; numbers that are not numbers; topologies that are not topologies; paths that cannot be written;
endless input; an empty step name; one broken file among the scenarios; a dead or remote engine; text
that would drive the terminal.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from faultlab import paths

from ..conftest import ROOT

FAULTLAB = [sys.executable, "-m", "faultlab"]
MEMORY_LIMIT_BYTES = 1 << 30  # the CLI's own address space; a billion laughs expanded would need far more
TIME_LIMIT_S = 20.0
DEAD_ENGINE = "unix:///nonexistent/faultlab-hostile.sock"
VALID = (ROOT / "tests" / "unit" / "data" / "valid-scenario.yaml").read_text()


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))


Done = subprocess.CompletedProcess[str]


def run_cli(*args: str, env: dict[str, str] | None = None, stdin: bytes = b"") -> tuple[Done, float]:
    started = time.monotonic()
    done = subprocess.run([*FAULTLAB, *args], input=stdin.decode("latin-1"), capture_output=True, text=True,
                          timeout=TIME_LIMIT_S, preexec_fn=_limited,
                          env={**os.environ, "DOCKER_HOST": DEAD_ENGINE, "COLUMNS": "200", **(env or {})})
    return done, time.monotonic() - started


def one_line(done: subprocess.CompletedProcess[str], code: int, phrase: str) -> str:
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == code, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert lines and lines[0].startswith("error: "), done.stderr[-2000:]
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("Tip: ")), done.stderr[-2000:]
    assert phrase in lines[0], f"{phrase!r} not in {lines[0]!r}"
    return lines[0]


# --- scenario files --------------------------------------------------------------------------------

def laughs(levels: int = 9, width: int = 9) -> str:
    """Anchors of anchors: `width ** levels` values once expanded (387 million here)."""
    lines = [f"x0: &x0 [{', '.join(['lol'] * width)}]"]
    lines += [f"x{n}: &x{n} [{', '.join([f'*x{n - 1}'] * width)}]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


def replace_line(text: str, key: str, value: str) -> str:
    return re.sub(rf"^{key}: .*$", lambda _: f"{key}: {value}", text, count=1, flags=re.M)


def with_laughs(field: str) -> str:
    # The bomb's anchors sit in an unknown top-level key; the field refers to the last one.
    body = laughs().replace("x0:", "_bomb:\n  x0:", 1).replace("\nx", "\n  x")
    return body + {
        "time_scale": replace_line(VALID, "time_scale", "*x8"),
        "title": replace_line(VALID, "title", "*x8"),
        "size": VALID.replace("size: 2MiB", "size: *x8"),
        "kind": VALID.replace("kind: upload", "kind: *x8"),
    }[field]


@dataclass(frozen=True)
class FileCase:
    name: str
    content: bytes
    code: int
    phrase: str


def _scenario(text: str) -> bytes:
    return text.encode()


FILE_CASES = [
    # YAML that expands, nests, is not text, repeats itself, or is not a mapping
    *(FileCase(f"laughs-in-{field}", _scenario(with_laughs(field)), 2, "expands to more than 100,000 values")
      for field in ("time_scale", "title", "size", "kind")),
    FileCase("flow-nesting", _scenario(VALID + "extra: " + "[" * 5000 + "]" * 5000 + "\n"), 2, "brackets deep"),
    FileCase("block-nesting", _scenario(VALID + "".join(f"{' ' * n}k{n}:\n" for n in range(1200))), 2,
             "my-scenario.yaml"),
    FileCase("latin-1-bytes", VALID.replace("A user's own scenario", "Caf\xe9").encode("latin-1"), 2,
             "not UTF-8 text (byte 0xe9 on line 3)"),
    FileCase("utf-16", VALID.encode("utf-16"), 2, "not UTF-8 text"),
    FileCase("duplicate-key", _scenario(VALID + "title: again\n"), 2, "the key 'title' is given twice"),
    FileCase("duplicate-knob", _scenario(VALID.replace("{client_max_body_size: 1024m}",
                                                       "{client_max_body_size: 1024m, client_max_body_size: 1m}")),
             2, "the key 'client_max_body_size' is given twice"),
    FileCase("top-level-scalar", b"just a string\n", 2, "a scenario file is a YAML mapping"),
    FileCase("top-level-null", b"~\n", 2, "a scenario file is a YAML mapping"),
    FileCase("huge-file", _scenario(VALID + "# " + "x" * (2 << 20) + "\n"), 2, "larger than 1024 KiB"),
    # numbers that are not numbers
    FileCase("inf-duration", _scenario(VALID.replace("size: 2MiB}", "size: 2MiB, app_work: .inf}")), 2,
             "must be a finite number of seconds"),
    FileCase("nan-duration", _scenario(VALID.replace("size: 2MiB}", "size: 2MiB, app_work: .nan}")), 2,
             "must be a finite number of seconds"),
    FileCase("negative-size", _scenario(VALID.replace("size: 2MiB", "size: -5")), 2, "a size cannot be negative"),
    FileCase("zero-size", _scenario(VALID.replace("size: 2MiB", "size: 0")), 2, "greater than 0"),
    FileCase("fractional-bytes", _scenario(VALID.replace("size: 2MiB", "size: '1.5'")), 2,
             "not a whole number of bytes"),
    FileCase("header-of-gigabytes",
             _scenario(VALID.replace("size: 2MiB}", "size: 2MiB, header_sizes: {Cookie: 4GiB}}")), 2,
             "the lab sends at most 1 MiB of headers"),
    FileCase("time-scale-rounds-to-zero", _scenario(replace_line(VALID, "time_scale", "'1/100000'")), 2,
             "too small a time scale: the smallest is 1/10000"),
    FileCase("time-scale-inf", _scenario(replace_line(VALID, "time_scale", ".inf")), 2, "not a time scale"),
    # topologies that are not topologies
    FileCase("topology-absolute-path", _scenario(replace_line(VALID, "topology", "/etc/passwd")), 2,
             "'/etc/passwd' is not a topology name"),
    FileCase("topology-traversal", _scenario(replace_line(VALID, "topology", "../../../etc/hosts")), 2,
             "is not a topology name"),
    FileCase("topology-a-list", _scenario(replace_line(VALID, "topology", "[upload-chain]")), 2, "topology"),
    # text that would drive the terminal: refused nowhere, but never sent raw (see the explain case below)
]


@pytest.mark.parametrize("case", FILE_CASES, ids=lambda case: case.name)
def test_a_hostile_scenario_file(case: FileCase, tmp_path: Path):
    path = tmp_path / "my-scenario.yaml"
    path.write_bytes(case.content)
    done, seconds = run_cli("run", str(path))
    line = one_line(done, case.code, case.phrase)
    assert str(path) in line or "topology" in line
    assert seconds < TIME_LIMIT_S / 2


def _data_copy(tmp_path: Path, compose_text: str) -> dict[str, str]:
    data = tmp_path / "data"
    for part in ("scenarios", "compose", "apps", "images", "schema"):
        shutil.copytree(paths.DATA / part, data / part)
    (data / "compose" / "upload-chain.yaml").write_text(compose_text)
    return {"FAULTLAB_DATA": str(data)}


@pytest.mark.parametrize(("name", "compose", "phrase"), [
    ("a-list", "- a\n- b\n", "no `x-faultlab.chain` list"),
    ("chain-not-a-list", "x-faultlab: {chain: 3}\n", "no `x-faultlab.chain` list"),
    ("non-numeric-port", "x-faultlab:\n  chain:\n    - {hop: a, kind: nginx, port: eighty}\n",
     "'eighty' is not a port"),
    ("port-out-of-range", "x-faultlab:\n  chain:\n    - {hop: a, kind: nginx, port: 70000}\n", "70000 is not a port"),
    ("laughs", laughs() + "x-faultlab: *x8\n", "expands to more than"),
    ("replicas-not-a-number", "x-faultlab:\n  chain:\n    - {hop: a, kind: nginx, port: 80}\n"
     "services:\n  a: {deploy: {replicas: many}}\n", "'many' is not a number of replicas from 1 to 8"),
    ("replicas-too-many", "x-faultlab:\n  chain:\n    - {hop: a, kind: nginx, port: 80}\n"
     "services:\n  a: {deploy: {replicas: 1000}}\n", "1000 is not a number of replicas"),
])
def test_a_topology_file_that_is_not_one(name: str, compose: str, phrase: str, tmp_path: Path):
    done, _ = run_cli("run", "413-body-size", env=_data_copy(tmp_path, compose))
    one_line(done, 2, phrase)


# --- the rest of the command line --------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "code", "phrase"), [
    (["run", "413-body-size", "--step", ""], 2, "has no step ''"),
    (["render", "413-body-size", "--out", "/proc/faultlab-cannot-write"], 2, "--out: cannot write"),
    (["schema", "--out", "/proc/faultlab-cannot-write/schema.json"], 2, "--out: cannot write"),
    (["run", "413-body-size", "--report", "/proc/faultlab-cannot-write"], 2, "--report: cannot write"),
    (["run", "413-body-size", "--time-scale", "1e-9"], 2, "--time-scale: 1e-9 is too small a time scale"),
    (["run", "\x1b[2J\x1b]0;pwned\x07"], 2, "unknown scenario"),
    (["--scenarios", "/nonexistent/folder", "list"], 2, "no folder of scenarios at /nonexistent/folder"),
    (["diagnose", "/nonexistent/log"], 2, "cannot read /nonexistent/log"),
    (["diagnose", "/root" if os.geteuid() == 0 else "/"], 2, "cannot read"),
])
def test_a_hostile_command_line(argv: list[str], code: int, phrase: str):
    done, _ = run_cli(*argv)
    line = one_line(done, code, phrase)
    assert "\x1b" not in done.stderr, "control characters reached the terminal"
    assert line


@pytest.mark.parametrize(("name", "env"), [
    ("dead-socket", {"DOCKER_HOST": DEAD_ENGINE}),
    ("remote-tcp", {"DOCKER_HOST": "tcp://127.0.0.1:9"}),
])
def test_an_engine_elsewhere_gets_no_local_dockerd_tip(name: str, env: dict[str, str]):
    for argv in (["run", "500-app-error"], ["engine", "start"]):
        done, _ = run_cli(*argv, env=env)
        one_line(done, 3, "Docker engine not reachable at")
        assert "Tip: check that DOCKER_HOST points at a running engine" in done.stderr
        assert "dockerd" not in done.stderr


def test_endless_input_is_read_up_to_a_bound():
    started = time.monotonic()
    done = subprocess.run([*FAULTLAB, "diagnose", "/dev/zero"], capture_output=True, text=True, timeout=60,
                          preexec_fn=_limited)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-1000:]
    assert "No known cause" in done.stdout
    assert time.monotonic() - started < 30


def _interrupted_while_reading(signum: int) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen([*FAULTLAB, "diagnose"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=_limited)
    assert process.stdin is not None
    process.stdin.write("a line that never ends the paste\n")
    process.stdin.flush()
    time.sleep(1.5)  # the CLI is up and blocked reading a pipe that stays open
    sent = time.monotonic()
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=10)
    assert time.monotonic() - sent < 2, "the signal was not honoured at once"
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_command_without_containers_says_only_that(signum: int):
    done = _interrupted_while_reading(signum)
    assert done.returncode == 130 and done.stderr.strip() == "interrupted", done.stderr


def test_one_broken_file_among_the_scenarios_is_named_and_the_rest_still_work(tmp_path: Path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "bomb.yaml").write_text(laughs() + "id: bomb\n")
    (mine / "garbled.yaml").write_bytes(b"\xff\xfe\x00 not yaml")
    env = {"FAULTLAB_SCENARIOS": str(mine)}
    listed, seconds = run_cli("list", env=env)
    assert listed.returncode == 0 and "413-body-size" in listed.stdout, listed.stderr
    assert re.search(r"^bomb +\? +\(cannot be read: .*expands to more than", listed.stdout, re.M), listed.stdout
    assert re.search(r"^garbled +\? +\(cannot be read: .*not UTF-8", listed.stdout, re.M), listed.stdout
    assert "2 scenario file(s) cannot be read" in listed.stderr and seconds < 5
    diagnosed, _ = run_cli("diagnose", env=env, stdin=b"2026/11/24 10:00:00 [error] 7#7: *2 client intended to "
                                                         b"send too large body: 67108864 bytes, client: 1.2.3.4\n")
    assert diagnosed.returncode == 0 and "413-body-size" in diagnosed.stdout, diagnosed.stderr
    assert "Left out a scenario file that does not load" in diagnosed.stdout
    ran, _ = run_cli("run", "bomb", env=env)
    one_line(ran, 2, "expands to more than")


def test_terminal_control_sequences_in_a_scenario_are_shown_not_sent(tmp_path: Path):
    path = tmp_path / "my-scenario.yaml"
    path.write_text(replace_line(VALID, "title", '"Clear \\e[2J and retitle \\e]0;pwned\\a"')
                    .replace('says: "defaults"', 'role: broken\n    says: "\\e[31mred"'))
    done, _ = run_cli("explain", str(path))
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "Clear \\x1b[2J and retitle \\x1b]0;pwned\\x07" in done.stdout
    assert "\\x1b[31mred" in done.stdout


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and util-linux's setpriv")
def test_no_permission_on_the_docker_socket_says_so(tmp_path: Path):
    # A real socket nobody may open, and faultlab run as root without the capability that bypasses file modes.
    import socket

    path = tmp_path / "docker.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen()
    path.chmod(0)
    try:
        done = subprocess.run(["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--", *FAULTLAB,
                               "engine", "status"], capture_output=True, text=True, timeout=TIME_LIMIT_S,
                              env={**os.environ, "DOCKER_HOST": f"unix://{path}"})
    finally:
        listener.close()
    one_line(done, 3, f"permission denied on the Docker socket unix://{path}")
    assert "docker group" in done.stderr
