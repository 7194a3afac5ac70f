"""Ctrl-C and SIGTERM in the middle of a run: one line, a non-zero exit, and nothing left behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from .conftest import leftovers

pytestmark = pytest.mark.engine


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_during_traffic_removes_the_stack(signum, client, image_tags):
    process = subprocess.Popen([sys.executable, "-m", "lab", "run", "504-read-timeout"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "COLUMNS": "200"})
    project = None
    deadline = time.monotonic() + 120
    assert process.stdout is not None
    for line in process.stdout:  # interrupt once the first step's upload is under way
        found = re.search(r"project (faultlab-504-read-timeout-\w+)", line)
        project = project or (found and found.group(1))
        if line.startswith("Step 1/"):
            time.sleep(1.0)
            break
        assert time.monotonic() < deadline, "the run never reached its first step"
    assert project, "the run never named its compose project"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 130
    assert "interrupted: the lab's containers were removed" in stderr
    assert "Traceback" not in stderr
    assert leftovers(client, project) == []
