"""Where faultlab's data lives (scenarios, compose files, the app, image recipes, the schema), and its cache.

The data ships inside the package (`faultlab/data/`), so an installed faultlab (pipx, pip) works from
any directory; the checkout's top-level `scenarios/`, `compose/`, … are links to the same folders.

Settings:
- FAULTLAB_DATA: use this folder instead of the packaged data (a copy whose recipes you change).
- FAULTLAB_CACHE: where the wheelhouse, the extracted traefik binary and the debootstrap work go
  (default: $XDG_CACHE_HOME/faultlab, else ~/.cache/faultlab).
- FAULTLAB_SCENARIOS: more folders of your own scenario files, separated by ":" (also `--scenarios DIR`).
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

DATA = Path(os.environ.get("FAULTLAB_DATA") or str(files("faultlab") / "data"))
SCENARIOS = DATA / "scenarios"
COMPOSE = DATA / "compose"
APPS = DATA / "apps"
IMAGES = DATA / "images"
SCHEMA = DATA / "schema"
# In a rendered config directory (FAULTLAB_CONFIG): what the replicas of a hop share (the app's
# idempotency keys); the compose files mount it where they need it.
SHARED_CONFIG_DIR = "shared"
CACHE = Path(os.environ.get("FAULTLAB_CACHE")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "faultlab")


def make_shared_dir(config_dir: Path) -> Path:
    """The directory replicas share in `config_dir`, writable by the app's user (sticky, like /tmp)."""
    shared = config_dir / SHARED_CONFIG_DIR
    shared.mkdir(exist_ok=True)
    shared.chmod(0o1777)
    return shared


def user_scenario_dirs() -> list[Path]:
    """Folders of the user's own scenarios named by FAULTLAB_SCENARIOS (the CLI's --scenarios adds to it)."""
    return [Path(part) for part in os.environ.get("FAULTLAB_SCENARIOS", "").split(os.pathsep) if part]
