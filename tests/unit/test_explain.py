"""`lab explain`: every scenario explains itself from its YAML and its markdown file."""

import io

from rich.console import Console

from lab import explain, scenario


def rendered(scenario_id: str) -> str:
    out = io.StringIO()
    explain.render(scenario.load(scenario_id), Console(file=out, width=200, color_system=None))
    return out.getvalue()


def test_a_users_scenario_without_notes_still_explains_its_yaml(tmp_path):
    source = scenario.available()["413-body-size"].read_text()
    own = tmp_path / "mine.yaml"
    own.write_text(source)
    out = io.StringIO()
    explain.render(scenario.load(str(own)), Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert "fix-both" in text and "client_max_body_size 1m → 1024m" in text
    assert "No mine.md next to the scenario" in text
