"""Two different scenarios at the same time on one engine: unique project names, engine-chosen host
ports, so both pass and neither sees the other's containers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import leftovers

pytestmark = pytest.mark.engine

LAB = [str(Path(sys.executable).parent / "faultlab")]


def test_two_scenarios_run_side_by_side(client, image_tags):
    runs = [["500-app-error"], ["413-body-size", "--step", "fix-host-only"]]
    started = time.monotonic()
    processes = [subprocess.Popen([*LAB, "run", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "COLUMNS": "200"}) for argv in runs]
    outputs = [process.communicate(timeout=300) for process in processes]
    print(f"two scenarios side by side in {time.monotonic() - started:.1f} s")

    projects = []
    for argv, process, (stdout, stderr) in zip(runs, processes, outputs, strict=True):
        assert process.returncode == 0, f"{argv}: {stdout[-2000:]}{stderr}"
        ports = re.findall(r"stack up in [\d.]+ s at http://127\.0\.0\.1:(\d+)", stdout)
        assert ports, stdout
        projects.append(re.search(r"project (faultlab-\S+) removed", stdout).group(1))
    assert projects[0] != projects[1]
    assert all(leftovers(client, project) == [] for project in projects)
