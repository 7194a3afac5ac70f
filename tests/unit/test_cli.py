"""The CLI's promises for bad input and a missing engine: one readable line, the right exit code."""

import re
import subprocess
import sys


def lab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "faultlab", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_list_shows_every_scenario():
    done = lab("list")
    assert done.returncode == 0
    for scenario_id in ("413-body-size", "504-read-timeout", "502-gunicorn-timeout", "upload-journey"):
        assert scenario_id in done.stdout


def test_unknown_scenario_is_a_usage_error_without_traceback():
    done = lab("run", "413-bodysize")
    assert done.returncode == 2
    assert "unknown scenario '413-bodysize'. Did you mean 413-body-size?" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_step_fails_before_any_container_starts():
    done = lab("run", "413-body-size", "--step", "nope", env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert done.returncode == 2 and "has no step 'nope'" in done.stderr


def test_no_engine_is_an_environment_error_with_a_next_step():
    done = lab("run", "413-body-size", env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert done.returncode == 3
    assert "Docker engine not reachable at unix:///nonexistent.sock" in done.stderr
    assert "Tip: check that DOCKER_HOST points at a running engine" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_time_scale_is_a_usage_error():
    done = lab("run", "413-body-size", "--time-scale", "3")
    assert done.returncode == 2 and "--time-scale" in done.stderr


def test_a_report_directory_that_cannot_be_written_fails_before_any_container_starts(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = lab("run", "413-body-size", "--report", str(blocker / "out"), env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert done.returncode == 2 and "--report: cannot write to" in done.stderr


def test_images_load_needs_an_existing_bundle():
    done = lab("images", "load", "/nonexistent/faultlab-bundle.tar")
    assert done.returncode == 2 and "no bundle at /nonexistent/faultlab-bundle.tar" in done.stderr
    assert "Tip: write one with `lab images save FILE`" in done.stderr


def test_the_engine_tips_fit_the_situation(monkeypatch):
    from faultlab.infra import engine

    monkeypatch.delenv("DOCKER_HOST", raising=False)
    local = engine._unreachable()
    assert "faultlab engine start" in local.tip_for("faultlab") and "Docker Desktop" in local.tip
    denied = engine._unreachable(PermissionError(13, "Permission denied"))
    assert denied.message == "permission denied on the Docker socket unix:///var/run/docker.sock"
    assert "docker group" in denied.tip and "engine start" not in denied.tip
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    remote = engine._unreachable()
    assert "DOCKER_HOST" in remote.tip and "engine start" not in remote.tip


def test_bare_faultlab_prints_the_help_and_version_answers():
    done = lab()
    assert done.returncode == 0 and "usage: faultlab" in done.stdout and "COMMAND" in done.stdout
    version = lab("--version")
    assert version.returncode == 0 and version.stdout.startswith("faultlab 0.")


def test_every_command_and_option_has_a_help_line():
    from faultlab.cli import build_parser

    parser = build_parser()
    subparsers = next(action for action in parser._actions if action.dest == "command")
    helped = {choice.dest: choice.help for choice in subparsers._choices_actions}
    for name, sub in subparsers.choices.items():
        assert helped.get(name), f"{name} has no help line"
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"{name} {action.option_strings or action.dest} has no help line"


def test_completion_scripts_come_from_the_parser():
    bash = lab("completion", "bash")
    assert bash.returncode == 0 and "diagnose" in bash.stdout and "--time-scale" in bash.stdout
    assert lab("completion", "zsh").returncode == 0


def test_the_fix_formats_in_the_help_are_the_registrys():
    from faultlab.tools.fix import FORMATS

    text = lab("fix", "--help").stdout
    listed = re.search(r"ready to paste: (.*?) \(default", " ".join(text.split()))
    assert listed, text
    assert re.split(r", | or ", listed.group(1)) == list(FORMATS)
