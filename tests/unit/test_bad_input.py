"""The corpus of bad input: each case is one readable line (+ an optional Tip line) naming the file,
field or next step, exit code 2 (input) or 3 (environment), and no traceback unless `--debug`.

Scenario files live in tests/unit/data/bad/, one mistake each; the second line of each says what
the message must contain (`# expect: …`). The cases that need a running engine (the engine going
away mid-run, a full disk during an image build, no wheelhouse) are in
tests/scenarios/test_environment_errors.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from faultlab import cli, paths

BAD = Path(__file__).parent / "data" / "bad"
DEAD_ENGINE = "unix:///nonexistent/faultlab-test.sock"


def _expected(path: Path) -> str:
    line = path.read_text().splitlines()[1]
    assert line.startswith("# expect: "), f"{path.name}: the second line must say `# expect: <phrase>`"
    return line.removeprefix("# expect: ")


def _one_clear_line(capsys: pytest.CaptureFixture[str], code: int, expected_code: int, phrase: str) -> str:
    stderr = capsys.readouterr().err
    lines = stderr.strip().splitlines()
    assert code == expected_code, stderr
    assert "Traceback" not in stderr
    assert lines and lines[0].startswith("error: "), stderr
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("Tip: ")), stderr
    assert phrase in lines[0], f"{phrase!r} not in {lines[0]!r}"
    return lines[0]


@pytest.mark.parametrize("path", sorted(BAD.glob("*.yaml")), ids=lambda path: path.stem)
def test_bad_scenario_file(path: Path, capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", DEAD_ENGINE)  # the file must be refused before the engine is asked
    line = _one_clear_line(capsys, cli.main(["run", str(path)]), 2, _expected(path))
    if "unknown topology" not in line:
        assert str(path) in line  # the user knows which file to open


CLI_CASES = [
    (["run", "413-bodysize"], "unknown scenario '413-bodysize'. Did you mean 413-body-size?"),
    (["run", "504-read"], "Did you mean 504-read-timeout"),
    (["run", "413-body-size", "--step", "fix-bot"], "has no step 'fix-bot'"),
    (["run", "413-body-size", "--time-scale", "3"], "--time-scale: a time scale must be above 0 and at most 1"),
    (["run", "413-body-size", "--time-scale", "fast"], "--time-scale: 'fast' is not a time scale"),
    (["run", "413-body-size", "--repeat", "0"], "--repeat takes a number of runs, 1 or more"),
    (["run", "/nonexistent/mine.yaml"], "no scenario file at /nonexistent/mine.yaml"),
    (["render", "413-body", "--out", "/tmp/unused"], "Did you mean 413-body-size"),
    (["render", "413-body-size", "--step", "nope", "--out", "/tmp/unused"], "has no step 'nope'"),
]


@pytest.mark.parametrize(("argv", "phrase"), CLI_CASES, ids=lambda value: " ".join(value)
                         if isinstance(value, list) else "")
def test_bad_command_line(argv: list[str], phrase: str, capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", DEAD_ENGINE)  # refused before any engine or container is needed
    _one_clear_line(capsys, cli.main(argv), 2, phrase)


ENVIRONMENT_CASES = [
    (["run", "413-body-size"], f"Docker engine not reachable at {DEAD_ENGINE}"),
    (["run", "500-app-error", "--step", "app-bug", "--json"], "Docker engine not reachable"),
    (["clean"], "Docker engine not reachable"),
    (["images"], "Docker engine not reachable"),
    (["engine", "status"], "Docker engine not reachable"),
]


@pytest.mark.parametrize(("argv", "phrase"), ENVIRONMENT_CASES, ids=lambda value: " ".join(value)
                         if isinstance(value, list) else "")
def test_missing_engine(argv: list[str], phrase: str, capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", DEAD_ENGINE)
    code = cli.main(argv)
    stderr = capsys.readouterr().err
    # DOCKER_HOST names another engine: starting a local dockerd would not help, so the tip does not say so.
    assert "Tip: check that DOCKER_HOST points at a running engine" in stderr
    print(stderr, file=sys.stderr)  # hand it back to the one-line check
    _one_clear_line(capsys, code, 3, phrase)


def test_unknown_hop_kind_in_a_topology(tmp_path: Path, capsys, monkeypatch):
    compose = tmp_path / "compose"
    compose.mkdir()
    (compose / "envoy-chain.yaml").write_text(
        "x-faultlab:\n  chain:\n    - {hop: edge, kind: envoy, port: 8080}\n    - {hop: app, kind: uwsgi, port: 8080}\n"
        "services: {}\n")
    monkeypatch.setattr(paths, "COMPOSE", compose)
    scenario = tmp_path / "mine.yaml"
    scenario.write_text((BAD.parent / "valid-scenario.yaml").read_text().replace("topology: upload-chain",
                                                                                 "topology: envoy-chain"))
    line = _one_clear_line(capsys, cli.main(["run", str(scenario)]), 2, "unknown hop kind 'envoy'")
    assert "envoy-chain.yaml: x-faultlab.chain[0].kind" in line and "nginx" in line


def test_every_published_port_is_random_so_a_taken_port_cannot_collide():
    """"Port already taken" cannot arise: every compose file publishes `127.0.0.1::<port>`, so the engine
    picks a free host port, and scenario files cannot set ports at all (their schema has no such field)."""
    import yaml

    for path in paths.COMPOSE.glob("*.yaml"):
        for name, service in yaml.safe_load(path.read_text())["services"].items():
            for port in service.get("ports", []):
                host_ip, host_port, _ = port.split(":")
                assert (host_ip, host_port) == ("127.0.0.1", ""), f"{path.name}: {name} publishes {port}"


def test_debug_shows_the_traceback():
    argv = [sys.executable, "-m", "faultlab"]
    plain = subprocess.run([*argv, "run", "413-bodysize"], capture_output=True, text=True, timeout=60)
    debug = subprocess.run([*argv, "--debug", "run", "413-bodysize"], capture_output=True, text=True, timeout=60)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "faultlab.errors.InputError: unknown scenario '413-bodysize'" in debug.stderr
