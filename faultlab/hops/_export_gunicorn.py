"""gunicorn: the changed settings as a gunicorn.conf.py and as command-line flags."""

from __future__ import annotations

import ast
import re

from faultlab.hops import Knobs
from faultlab.hops.gunicorn import GunicornKnobs
from faultlab.hops.snippet import Snippet, render
from faultlab.model.topology import Hop

_ASSIGNMENT = re.compile(r"^(\w+) = (.*?)(?:\s+# .*)?$")
# gunicorn's flag is --<name with dashes> for every setting the lab sets, except this one.
_FLAG_SPELLING = {"keepalive": "--keep-alive"}
APP = "faultapp:app"  # the lab's app; yours goes here


def assignments(conf: str) -> dict[str, str]:
    found = {}
    for line in conf.splitlines():
        match = _ASSIGNMENT.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def flag(name: str, value: str) -> str:
    literal = ast.literal_eval(value)
    return f"{_FLAG_SPELLING.get(name, '--' + name.replace('_', '-'))} {literal}"


def export(hop: Hop, before: Knobs, after: Knobs) -> list[Snippet]:
    assert isinstance(before, GunicornKnobs) and isinstance(after, GunicornKnobs)
    old = assignments(render(hop, before)["gunicorn.conf.py"])
    new = assignments(render(hop, after)["gunicorn.conf.py"])
    changed = {name: value for name, value in new.items() if old.get(name) != value}
    note = ""
    if before.release != after.release:
        note = (f"# The step also runs gunicorn {after.release} instead of {before.release}: "
                "a different release, not a setting.\n")
    if not changed:
        return [Snippet("gunicorn", hop.name, "gunicorn.conf.py", note)] if note else []
    conf = note + "".join(f"{name} = {value}\n" for name, value in changed.items())
    flags = " ".join(flag(name, value) for name, value in changed.items())
    command = f"gunicorn {flags} {APP}  # {APP} is the lab's app: put yours\n"
    return [Snippet("gunicorn", hop.name, "gunicorn.conf.py", conf),
            Snippet("gunicorn", hop.name, "gunicorn command line", command)]
