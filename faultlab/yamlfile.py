"""Reading a YAML file a user wrote, safely: bounded in size, nesting and alias expansion, strict about
encoding and duplicate keys, and every problem one sentence with the file (and line) in it.

PyYAML's safe loader never runs code, but it happily builds a "billion laughs" document (aliases of
aliases: small in memory as shared references, enormous as soon as anything walks it), recurses on deep
nesting, lets a duplicate key silently win, and reads bytes that are not UTF-8 with a confusing message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from faultlab.errors import InputError

MAX_BYTES = 1 << 20  # a scenario file is a few KiB; the largest shipped one is under 6 KiB
MAX_FLOW_DEPTH = 64  # [ and { nested this deep are no scenario
MAX_VALUES = 100_000  # values in the document with every alias expanded

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's is ~10× faster


class _StrictLoader(_Loader):  # type: ignore[valid-type, misc]
    """Safe loading that refuses a key given twice in one mapping (PyYAML lets the last one win)."""


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a plain value",
                                                    key_node.start_mark) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"the key {key!r} is given twice",
                                                    key_node.start_mark)
        seen[key] = loader.construct_object(value_node, deep=True)
    return seen


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read(path: Path, what: str = "file") -> Any:
    """The YAML document in `path`, or an InputError that names the file and what is wrong."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise InputError(f"{path}: larger than {MAX_BYTES >> 10} KiB; a {what} is a few KiB of YAML")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line})") from None
    depth = _flow_depth(text)
    if depth > MAX_FLOW_DEPTH:
        raise InputError(f"{path}: nested {depth} brackets deep; a {what} nests a few levels")
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a safe loader (SafeLoader's subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{path}: not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise InputError(f"{path}: nested too deeply; a {what} nests a few levels") from None
    if _values(document) > MAX_VALUES:
        raise InputError(f"{path}: expands to more than {MAX_VALUES:,} values (YAML aliases of aliases?); "
                         f"a {what} holds a few hundred")
    return document


def _flow_depth(text: str) -> int:
    """How deep [ and { nest, counted over the raw text (brackets inside quotes count too: an upper bound)."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(0, depth - 1)
    return deepest


def _values(document: Any) -> int:
    """The document's values with every alias expanded, counted up to just past the bound."""
    count, stack = 0, [document]
    while stack and count <= MAX_VALUES:
        node = stack.pop()
        count += 1
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count
