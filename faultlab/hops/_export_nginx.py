"""nginx: the directives a fix changes, each inside the block it belongs to (http, server, location …).

Both steps' nginx.conf come from the lab's own renderer (lab/render/nginx.py); the snippet is what
differs between them, so a directive sits in exactly the block where the lab's real config puts it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from faultlab.hops import Knobs
from faultlab.hops.snippet import Snippet, render, story_duration
from faultlab.model.topology import Hop

Block = tuple[str, int]  # the block's header ("location /") and its place among same-named siblings


@dataclass(frozen=True)
class Statement:
    path: tuple[Block, ...]
    text: str  # the directive and its arguments, single-spaced, without the ";"


def _tokens(conf: str) -> Iterator[str]:
    index, end = 0, len(conf)
    while index < end:
        char = conf[index]
        if char.isspace():
            index += 1
        elif char == "#":
            index = conf.find("\n", index)
            index = end if index < 0 else index
        elif char in "{};":
            yield char
            index += 1
        elif char in "'\"":
            close = index + 1
            while close < end and conf[close] != char:
                close += 2 if conf[close] == "\\" else 1
            yield conf[index:close + 1]
            index = close + 1
        else:
            start = index
            while index < end and not conf[index].isspace() and conf[index] not in "{};'\"#":
                index += 1
            yield conf[start:index]


def statements(conf: str) -> list[Statement]:
    """Every simple directive of an nginx config with the path of blocks around it, in file order."""
    found: list[Statement] = []
    path: list[Block] = []
    siblings: list[dict[str, int]] = [{}]
    words: list[str] = []
    for token in _tokens(conf):
        if token == "{":
            header = " ".join(words)
            ordinal = siblings[-1].get(header, 0)
            siblings[-1][header] = ordinal + 1
            path.append((header, ordinal))
            siblings.append({})
            words = []
        elif token == "}":
            path.pop()
            siblings.pop()
        elif token == ";":
            found.append(Statement(tuple(path), " ".join(words)))
            words = []
        else:
            words.append(token)
    return found


def _zone_of(statement: Statement) -> str | None:
    # limit_conn_zone / limit_req_zone … zone=NAME:size define a zone that other directives use by name.
    name = statement.text.split()[0]
    if not name.endswith("_zone"):
        return None
    for word in statement.text.split()[1:]:
        if word.startswith("zone="):
            return word.removeprefix("zone=").split(":")[0]
    return None


def _uses_zone(statement: Statement, zone: str) -> bool:
    return _zone_of(statement) is None and any(word in (zone, f"zone={zone}") for word in statement.text.split())


def changed(before: str, after: str) -> tuple[list[Statement], list[Statement]]:
    """(directives to write, directives to delete): what `after` has that `before` has not, and the
    other way round; a zone definition comes along with a changed directive that uses the zone."""
    old, new = statements(before), statements(after)
    added = [s for s in new if s not in old]
    rewritten = {(s.path, s.text.split()[0]) for s in added}
    removed = [s for s in old if s not in new and (s.path, s.text.split()[0]) not in rewritten]
    for definition in (s for s in new if _zone_of(s)):
        if definition not in added and any(_uses_zone(s, _zone_of(definition) or "") for s in added):
            added.append(definition)
    added.sort(key=new.index)
    return added, removed


def format_statements(found: list[Statement], removed: list[Statement] | None = None) -> str:
    """Nested blocks around the directives; `removed` ones are written as comments after the others."""
    lines: list[str] = []
    open_path: tuple[Block, ...] = ()
    marked = [(s, False) for s in found] + [(s, True) for s in removed or []]
    for statement, is_removed in marked:
        common = 0
        while common < min(len(open_path), len(statement.path)) and open_path[common] == statement.path[common]:
            common += 1
        for depth in range(len(open_path) - 1, common - 1, -1):
            lines.append("    " * depth + "}")
        for depth in range(common, len(statement.path)):
            lines.append("    " * depth + statement.path[depth][0] + " {")
        open_path = statement.path
        text = " ".join(story_duration(word) for word in statement.text.split())
        indent = "    " * len(statement.path)
        lines.append(f"{indent}# remove: {text};" if is_removed else f"{indent}{text};")
    for depth in range(len(open_path) - 1, -1, -1):
        lines.append("    " * depth + "}")
    return "\n".join(lines) + "\n"


def export(hop: Hop, before: Knobs, after: Knobs) -> list[Snippet]:
    added, removed = changed(render(hop, before)["nginx.conf"], render(hop, after)["nginx.conf"])
    if not added and not removed:
        return []
    return [Snippet("nginx", hop.name, "nginx.conf", format_statements(added, removed))]
