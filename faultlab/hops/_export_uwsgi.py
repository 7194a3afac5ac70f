"""uwsgi: the changed options as a [uwsgi] ini section."""

from __future__ import annotations

import re

from faultlab.hops import Knobs
from faultlab.hops.snippet import Snippet, render
from faultlab.model.topology import Hop

_OPTION = re.compile(r"^([\w-]+) = (.*?)(?:\s+; .*)?$")


def options(ini: str) -> dict[str, str]:
    found = {}
    for line in ini.splitlines():
        match = _OPTION.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def export(hop: Hop, before: Knobs, after: Knobs) -> list[Snippet]:
    old, new = options(render(hop, before)["uwsgi.ini"]), options(render(hop, after)["uwsgi.ini"])
    changed = {name: value for name, value in new.items() if old.get(name) != value}
    dropped = [name for name in old if name not in new]
    if not changed and not dropped:
        return []
    lines = ["[uwsgi]", *(f"{name} = {value}" for name, value in changed.items()),
             *(f"; remove: {name} = {old[name]}" for name in dropped)]
    return [Snippet("uwsgi", hop.name, "uwsgi.ini", "\n".join(lines) + "\n")]
