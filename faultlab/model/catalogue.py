"""Which scenarios there are: the packaged ones and the user's own folders (FAULTLAB_SCENARIOS, or the
CLI's --scenarios). Light on purpose: listing them must not load the models (`faultlab list` answers at
once)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from faultlab import paths, yamlfile
from faultlab.errors import InputError

_added: list[Path] = []


def add_folder(folder: Path) -> None:
    """Look for scenario files in `folder` too (after the packaged ones and FAULTLAB_SCENARIOS)."""
    if not folder.is_dir():
        raise InputError(f"no folder of scenarios at {folder}", tip="give a folder that holds <id>.yaml files")
    _added.append(folder)


def folders() -> list[Path]:
    return [paths.SCENARIOS, *paths.user_scenario_dirs(), *_added]


def available() -> dict[str, Path]:
    """id → file, for every scenario file found; a later folder's file of the same id wins."""
    found: dict[str, Path] = {}
    for folder in folders():
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            found[path.stem] = path
    return found


def resolve(id_or_path: str) -> Path:
    """A scenario id (see `available`), or the path of a user's own scenario file."""
    candidate = Path(id_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        if not candidate.is_file():
            raise InputError(f"no scenario file at {candidate}")
        return candidate
    known = available()
    if id_or_path in known:
        return known[id_or_path]
    close = difflib.get_close_matches(id_or_path, list(known), n=3, cutoff=0.4)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    shown = id_or_path if id_or_path.isprintable() and len(id_or_path) <= 80 else repr(id_or_path[:80])
    raise InputError(f"unknown scenario {shown!r}.{hint}", tip="`{prog} list` shows every scenario")


@dataclass(frozen=True)
class Entry:
    id: str
    path: Path
    title: str
    steps: int
    problem: str | None = None  # the file cannot be read: what is wrong with it


def entries() -> list[Entry]:
    """A line per scenario file for `list`: its title and number of steps, read without validating it."""
    rows = []
    for scenario_id, path in available().items():
        try:
            document = yamlfile.read(path, "scenario file")
        except InputError as exc:
            rows.append(Entry(scenario_id, path, "", 0, exc.message))
            continue
        if not isinstance(document, dict):
            rows.append(Entry(scenario_id, path, "", 0, f"{path}: a scenario file is a YAML mapping"))
            continue
        steps = document.get("steps")
        rows.append(Entry(scenario_id, path, str(document.get("title", "")), len(steps) if isinstance(steps, list)
                          else 0))
    return rows
