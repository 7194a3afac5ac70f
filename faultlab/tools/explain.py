"""`explain`: a scenario's story, from its YAML and the short markdown file next to it — as data.

The YAML gives the facts the lab checks (chain, steps, expectations); the FixReport gives what each fix
and wrong fix changes (the same one `fix` and `diagnose` show); `scenarios/<id>.md` gives the why in
prose, in four sections: `## Why`, `## The wrong fix`, `## The fix`, `## Read more`. A user's own
scenario without a markdown file still explains what its YAML says. The text view is output/explain_text.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from faultlab.model.plan import Plan
from faultlab.tools import fix
from faultlab.tools.fix import FixReport

SECTIONS = ("Why", "The wrong fix", "The fix", "Read more")
OFFICIAL_DOCS = ("nginx.org", "kubernetes.github.io", "docs.gunicorn.org", "uwsgi-docs.readthedocs.io",
                 "doc.traefik.io", "developer.mozilla.org", "docs.haproxy.org", "uvicorn.dev", "www.uvicorn.org",
                 "docs.aws.amazon.com", "kubernetes.io", "www.rfc-editor.org",
                 "docs.kernel.org", "docs.docker.com")
_LINK = re.compile(r"^-\s*\[(?P<label>[^]]+)\]\((?P<url>https?://[^)\s]+)\)\s*$")


@dataclass
class Notes:
    """The parsed markdown: section title -> text, and the read-more links."""

    path: Path | None
    sections: dict[str, str] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Explanation:
    plan: Plan
    notes: Notes
    report: FixReport  # what every fix and wrong fix changes


def notes_for(plan: Plan) -> Notes:
    path = plan.path.with_suffix(".md")
    if not path.is_file():
        return Notes(None)
    notes = Notes(path)
    current = None
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            notes.sections[current] = ""
        elif current is not None:
            notes.sections[current] += line + "\n"
    notes.sections = {title: text.strip() for title, text in notes.sections.items()}
    for line in notes.sections.get("Read more", "").splitlines():
        match = _LINK.match(line.strip())
        if match:
            notes.links.append((match["label"], match["url"]))
    return notes


def explain(plan: Plan) -> Explanation:
    return Explanation(plan, notes_for(plan), fix.build(plan))
