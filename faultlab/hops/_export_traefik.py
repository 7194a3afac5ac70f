"""traefik v3: the changed part of the static configuration (entryPoints, serversTransport) and of
the dynamic one (http.routers, services, middlewares), as YAML in traefik's own structure."""

from __future__ import annotations

from typing import Any

import yaml

from faultlab.hops import Knobs
from faultlab.hops.snippet import Snippet, render, story_duration
from faultlab.model.topology import Hop

FILES = {"traefik.yml": "static configuration (traefik.yml)", "dynamic.yml": "dynamic configuration (file provider)"}


def difference(before: Any, after: Any) -> Any:
    """The part of `after` that differs from `before` (whole lists, like traefik replaces them)."""
    if isinstance(before, dict) and isinstance(after, dict):
        changed = {key: difference(before.get(key), value) for key, value in after.items()
                   if before.get(key) != value}
        return {key: value for key, value in changed.items() if value is not None and value != {}}
    return after if before != after else None


def dropped_paths(before: Any, after: Any, prefix: str = "") -> list[str]:
    if not isinstance(before, dict):
        return []
    after = after if isinstance(after, dict) else {}
    paths = []
    for key, value in before.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        paths += [path] if key not in after else dropped_paths(value, after[key], path)
    return paths


def _story(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _story(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_story(value) for value in node]
    return story_duration(node) if isinstance(node, str) else node


def per_service(transport: dict[str, Any], dynamic: dict[str, Any]) -> dict[str, Any]:
    """The static `serversTransport` is the default for every service; the same settings under the
    dynamic `http.serversTransports.<name>` apply to the services that name it (traefik v3 has both)."""
    services = {name: {"loadBalancer": {"serversTransport": name}} for name in dynamic["http"]["services"]}
    return {"http": {"serversTransports": {name: transport for name in services}, "services": services}}


def export(hop: Hop, before: Knobs, after: Knobs) -> list[Snippet]:
    old, new = render(hop, before), render(hop, after)
    snippets = []
    transport: dict[str, Any] = {}
    for name, title in FILES.items():
        old_doc, new_doc = yaml.safe_load(old[name]), yaml.safe_load(new[name])
        changed = difference(old_doc, new_doc) or {}
        dropped = dropped_paths(old_doc, new_doc)
        if not changed and not dropped:
            continue
        text = "".join(f"# remove {path}\n" for path in dropped)
        if changed:
            text += yaml.safe_dump(_story(changed), sort_keys=False, default_flow_style=False)
        snippets.append(Snippet("traefik", hop.name, title, text))
        if name == "traefik.yml" and "serversTransport" in changed:
            transport = _story(changed["serversTransport"])
    if transport:
        alternative = per_service(transport, yaml.safe_load(new["dynamic.yml"]))
        snippets.append(Snippet("traefik", hop.name, "or per service: dynamic configuration (file provider)",
                                yaml.safe_dump(alternative, sort_keys=False, default_flow_style=False)))
    return snippets
