"""The run report of a real run, written as HTML and markdown and rendered by headless Chromium.

Chromium is installed on demand like the engine (as root on Debian/Ubuntu: `apt-get install chromium`,
about 100 MB, once per machine). The screenshot is kept in pytest's tmp directory for a human to look at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from faultlab.infra.engine import install_packages, system_program
from faultlab.output.chart import colour
from faultlab.output.html import HtmlReport
from faultlab.run.events import Handlers

REPORTED = "502-connection-refused"  # a short scenario: a 502, then the fix's 200
# In the test process that runs that scenario for the other tests (make test: pytest-xdist, --dist loadgroup).
pytestmark = [pytest.mark.engine, pytest.mark.xdist_group(REPORTED)]

WIDTH, HEIGHT = 1280, 2000
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# No network, no profile, no GPU: the page must render from the file alone.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars")


@pytest.fixture(scope="session")
def chromium() -> str:
    found = next(filter(None, map(system_program, BROWSERS)), None)
    if found is None:
        if os.geteuid() != 0 or not system_program("apt-get"):
            pytest.fail("the report test needs Chromium: install `chromium` (Debian) or run as root on Debian/Ubuntu")
        install_packages(["chromium"], print, why="the report test renders the page in headless Chromium")
        found = system_program("chromium")
    assert found, "chromium is still not on PATH after installing it"
    return found


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory, real_run) -> Path:
    """The scenario's real run (the session's one, `real_run`), its event stream written as a report by the
    handler a run with --report gets."""
    run = real_run(REPORTED)
    assert run.result.ok, "the scenario itself did not match; the report test needs a healthy run"
    directory = tmp_path_factory.mktemp("report")
    written: list[Path] = []
    with Handlers([HtmlReport(directory, written.append)]) as emit:
        for event in run.events:
            emit(event)
    assert written == [directory / "index.html"]
    return directory


def _chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def test_markdown_tells_each_step_and_its_statuses(report_dir: Path):
    text = (report_dir / "report.md").read_text()
    assert "**2/2 steps matched**" in text
    assert "## Step 1/2: bound-to-loopback (broken) — matched" in text
    assert "## Step 2/2: fix (fix) — matched" in text
    assert "| app | `socket` | 127.0.0.1:8080 → **0.0.0.0:8080** |" in text  # the fix's config diff
    assert "connect() failed (111: Connection refused)" in text  # the matched error-log line
    assert "`client ← nginx 502: [error] connect() failed (111: Connection refused)" in text  # a failing hop trace


def test_page_renders_in_headless_chromium(report_dir: Path, chromium: str, tmp_path: Path):
    page = (report_dir / "index.html").as_uri()
    dom = _chromium(chromium, tmp_path / "profile-dom", "--dump-dom", page)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for text in ("2/2 steps matched", "bound-to-loopback", 'id="step-fix"', "502 ×3", "200 ×3", "<svg",
                 '<code class="hop">nginx 502</code>', '<code class="hop">app 200</code>'):
        assert text in dom.stdout, f"{text!r} is not in the rendered page"

    screenshot = tmp_path / "report.png"
    shot = _chromium(chromium, tmp_path / "profile-shot", f"--screenshot={screenshot}",
                     f"--window-size={WIDTH},{HEIGHT}", page)
    assert shot.returncode == 0 and screenshot.exists(), shot.stderr[-2000:]
    kept = Path(os.environ.get("FAULTLAB_REPORT_SCREENSHOT", report_dir / "report.png"))
    shutil.copy(screenshot, kept)
    print(f"screenshot: {kept}")

    with Image.open(screenshot) as image:
        assert image.size == (WIDTH, HEIGHT)
        pixels = Counter({rgb: count for count, rgb in image.convert("RGB").getcolors(WIDTH * HEIGHT)})
    non_white = sum(count for rgb, count in pixels.items() if rgb != (255, 255, 255)) / (WIDTH * HEIGHT)
    assert 0.03 < non_white < 0.6, f"{non_white:.1%} of the page is not white: blank or broken layout"
    assert len(pixels) > 50, "too few colours for text, tables and a chart"
    # The inline SVG chart and the styles really drew: the 502 bars' and the green verdict's colours.
    for hex_colour in (colour(502), "#2e7d32"):
        rgb = tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
        assert pixels[rgb] > 500, f"{hex_colour} is (almost) missing from the screenshot"
