from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def write_scenario(tmp_path: Path):
    """Write a scenario file built from a valid one with a change applied, for error-path tests."""
    import yaml

    base = yaml.safe_load((ROOT / "tests" / "unit" / "data" / "valid-scenario.yaml").read_text())

    def write(mutate=None, text: str | None = None) -> Path:
        path = tmp_path / "my-scenario.yaml"
        if text is not None:
            path.write_text(text)
            return path
        document = yaml.safe_load(yaml.safe_dump(base))
        if mutate:
            mutate(document)
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    return write
