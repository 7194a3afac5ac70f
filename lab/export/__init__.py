"""`lab fix`: a scenario's fix in each target's own syntax, derived from its steps and the lab's renderers."""

from __future__ import annotations

from lab.export.snippet import Snippet
from lab.export.story import FORMATS, Change, Fix, FixReport, Stage, WrongFix, build

__all__ = ["FORMATS", "Change", "Fix", "FixReport", "Snippet", "Stage", "WrongFix", "build"]
