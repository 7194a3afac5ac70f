"""faultlab installed as a user installs it (a wheel in a fresh venv, used from another directory) works:
its data ships inside the package, so list, explain, fix, diagnose and a real run need no checkout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import ROOT

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The faultlab command of a fresh venv that has only the wheel (and its dependencies) installed."""
    work = tmp_path_factory.mktemp("install")
    wheels = work / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels),
                    str(ROOT)], check=True, timeout=300, capture_output=True)
    (wheel,) = wheels.glob("faultlab-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                           str(wheel)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv / "bin" / "faultlab"


def faultlab(command: Path, *args: str, stdin: str = "", timeout: int = 120) -> subprocess.CompletedProcess[str]:
    elsewhere = Path("/") if os.access("/", os.R_OK) else Path.home()  # nowhere near a checkout
    env = {key: value for key, value in os.environ.items() if not key.startswith("FAULTLAB_")}
    return subprocess.run([str(command), *args], input=stdin, capture_output=True, text=True, cwd=elsewhere,
                          timeout=timeout, env={**env, "COLUMNS": "160"})


def test_the_installed_command_knows_every_scenario(installed: Path):
    version = faultlab(installed, "--version")
    assert version.returncode == 0 and version.stdout.startswith("faultlab ")
    listed = faultlab(installed, "list")
    assert listed.returncode == 0 and "413-body-size" in listed.stdout and "upload-journey" in listed.stdout
    explained = faultlab(installed, "explain", "504-read-timeout")
    assert explained.returncode == 0 and "The wrong fix" in explained.stdout
    fixed = faultlab(installed, "fix", "413-body-size", "--format", "nginx")
    assert fixed.returncode == 0 and "client_max_body_size 1024m;" in fixed.stdout
    schema = faultlab(installed, "schema")
    assert schema.returncode == 0 and '"title": "faultlab scenario"' in schema.stdout


def test_the_installed_diagnose_names_the_scenario(installed: Path):
    line = ("2026/11/24 10:00:00 [error] 7#7: *2 client intended to send too large body: 67108864 bytes, "
            "client: 10.0.0.1, server: _, request: \"POST /upload HTTP/1.1\", host: \"example\"\n")
    done = faultlab(installed, "diagnose", stdin=line)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[2].startswith("1. 413-body-size:"), done.stdout


def test_the_installed_command_runs_a_scenario_from_its_packaged_files(installed: Path, image_tags):
    done = faultlab(installed, "run", "413-body-size", "-q", timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"\b(\d+)/\1 steps matched", done.stdout), done.stdout[-2000:]


def test_the_installed_command_starts_and_checks_a_practice(installed: Path, image_tags, tmp_path):
    workspace = tmp_path / "ws"
    started = faultlab(installed, "practice", "start", "413-body-size", "--dir", str(workspace))
    assert started.returncode == 0 and (workspace / "host-nginx/nginx.conf").is_file(), started.stdout + started.stderr
    checked = faultlab(installed, "practice", "check", "-q", "--dir", str(workspace), timeout=600)
    assert checked.returncode == 1 and "not yet: 413 ×1, answered by host-nginx" in " ".join(checked.stdout.split()), (
        checked.stdout[-3000:] + checked.stderr[-3000:])
    stopped = faultlab(installed, "practice", "stop", "--dir", str(workspace))
    assert stopped.returncode == 0, stopped.stderr
