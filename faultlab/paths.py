"""Where the repository's data lives (scenarios, compose files, apps, image recipes) and the cache."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(os.environ.get("FAULTLAB_HOME", Path(__file__).resolve().parent.parent))
SCENARIOS = ROOT / "scenarios"
COMPOSE = ROOT / "compose"
APPS = ROOT / "apps"
IMAGES = ROOT / "images"
CACHE = Path(os.environ.get("FAULTLAB_CACHE", ROOT / ".faultlab"))
