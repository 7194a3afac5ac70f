"""The pytest plugin as a user runs it: their own scenario file and test module, against real containers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ..conftest import ROOT

pytestmark = pytest.mark.engine


def run_pytest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_a_users_tests_run_against_their_own_scenario(image_tags):
    done = run_pytest("--faultlab-scenario", "examples/my-scenario.yaml", "examples/test_my_scenario.py")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "3 passed" in done.stdout


def test_without_a_scenario_the_tests_are_skipped_with_the_reason():
    done = run_pytest("-rs", "examples/test_my_scenario.py")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "3 skipped" in done.stdout and "faultlab_stack needs a scenario" in done.stdout


def test_an_unknown_scenario_is_a_usage_error_not_a_traceback():
    done = run_pytest("--faultlab-scenario", "no-such-scenario", "examples/test_my_scenario.py")
    assert done.returncode != 0
    assert "unknown scenario 'no-such-scenario'" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
