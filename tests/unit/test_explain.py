"""`lab explain`: every scenario explains itself from its YAML and its markdown file."""

import io
from urllib.parse import urlsplit

import pytest
from rich.console import Console

from faultlab.model import scenario
from faultlab.output import explain_text
from faultlab.tools import explain


def rendered(scenario_id: str) -> str:
    out = io.StringIO()
    explain_text.render(explain.explain(scenario.load(scenario_id)), Console(file=out, width=200, color_system=None))
    return out.getvalue()


@pytest.mark.parametrize("scenario_id", sorted(scenario.available()))
def test_every_scenario_has_its_story_with_every_section_and_official_links(scenario_id):
    plan = scenario.load(scenario_id)
    notes = explain.notes_for(plan)
    assert notes.path is not None, f"scenarios/{scenario_id}.md is missing"
    assert list(notes.sections) == list(explain.SECTIONS)
    assert all(notes.sections[title] for title in explain.SECTIONS)
    assert 2 <= len(notes.links) <= 6
    for _, url in notes.links:
        host = urlsplit(url).hostname or ""
        assert host.endswith(explain.OFFICIAL_DOCS), url
    text = rendered(scenario_id)
    for title in ("Chain", "What breaks", "Why", "The fix", "Read more"):
        assert title in text
    for step in plan.steps:
        if step.step.role in ("broken", "wrong-fix", "fix"):
            assert step.step.name in text


def test_a_users_scenario_without_notes_still_explains_its_yaml(tmp_path):
    source = scenario.available()["413-body-size"].read_text()
    own = tmp_path / "mine.yaml"
    own.write_text(source)
    out = io.StringIO()
    explain_text.render(explain.explain(scenario.load(str(own))), Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert "fix-both" in text and "client_max_body_size 1m → 1024m" in text
    assert "No mine.md next to the scenario" in text


def test_a_wrong_fix_judged_on_duplicates_says_so():
    from faultlab.model import scenario
    from faultlab.output.explain_text import describe_expect

    expect = scenario.load("502-retry-duplicate-post").step_named("retry-502s").step.expect
    assert describe_expect(expect) == "0–4 requests without a 2xx; ≥ 1 requests received twice or more by the app"
