"""A topology is a compose file in compose/ whose `x-faultlab` block names the chain of hops.

The compose file stays readable and runnable by hand; the block only tells the lab which
service is which kind of hop, in what order a request crosses them, and on which port each listens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from faultlab import paths, yamlfile
from faultlab.errors import InputError


@dataclass(frozen=True)
class Hop:
    name: str  # the compose service
    kind: str  # a key of faultlab.hops.HOP_KINDS
    port: int  # where it listens inside the compose network
    upstream: str | None  # "service:port" of the next hop
    replicas: int = 1  # containers of the service (its `deploy.replicas`), all behind the one name


@dataclass(frozen=True)
class Topology:
    name: str
    compose_file: Path
    hops: tuple[Hop, ...]  # client side first

    @property
    def entry(self) -> Hop:
        return self.hops[0]

    def hop(self, name: str) -> Hop:
        for hop in self.hops:
            if hop.name == name:
                return hop
        raise KeyError(name)

    @property
    def hop_names(self) -> list[str]:
        return [hop.name for hop in self.hops]


def available() -> list[str]:
    return sorted(path.stem for path in paths.COMPOSE.glob("*.yaml"))


_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def load_topology(name: str) -> Topology:
    known = ", ".join(available())
    # A name, never a path: `topology: /etc/passwd` or `../x` must not read a file outside compose/.
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(f"{name!r} is not a topology name (lowercase letters, digits and dashes); "
                         f"the compose/ folder has: {known}")
    path = paths.COMPOSE / f"{name}.yaml"
    if not path.is_file():
        raise InputError(f"unknown topology {name!r}; the compose/ folder has: {known}")
    document = yamlfile.read(path, "compose file")
    block = document.get("x-faultlab") if isinstance(document, dict) else None
    chain = block.get("chain") if isinstance(block, dict) else None
    if not chain or not isinstance(chain, list):
        raise InputError(f"{path}: no `x-faultlab.chain` list, so the lab cannot tell the hops apart")
    from faultlab.hops import HOP_KINDS  # the topology names kinds; the renderers say which exist

    hops = []
    for index, item in enumerate(chain):
        if not isinstance(item, dict) or not {"hop", "kind", "port"} <= item.keys():
            raise InputError(f"{path}: x-faultlab.chain[{index}] needs `hop`, `kind` and `port`")
        if item["kind"] not in HOP_KINDS:
            raise InputError(f"{path}: x-faultlab.chain[{index}].kind: unknown hop kind {item['kind']!r}; "
                             f"faultlab renders {', '.join(HOP_KINDS)}")
        port = item["port"]
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise InputError(f"{path}: x-faultlab.chain[{index}].port: {port!r} is not a port number")
        following = chain[index + 1] if index + 1 < len(chain) else None
        upstream = f"{following['hop']}:{following['port']}" if isinstance(following, dict) else None
        hops.append(Hop(str(item["hop"]), item["kind"], port, upstream, _replicas(path, document, str(item["hop"]))))
    return Topology(name, path, tuple(hops))


MAX_REPLICAS = 8


def _replicas(path: Path, document: object, service: str) -> int:
    """How many containers compose runs for the service: its `deploy.replicas` (compose's own key, so the
    file stays the one place that says it), 1 when unset."""
    services = document.get("services") if isinstance(document, dict) else None
    definition = services.get(service) if isinstance(services, dict) else None
    deploy = definition.get("deploy") if isinstance(definition, dict) else None
    replicas = deploy.get("replicas", 1) if isinstance(deploy, dict) else 1
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= MAX_REPLICAS:
        raise InputError(f"{path}: services.{service}.deploy.replicas: {replicas!r} is not a number "
                         f"of replicas from 1 to {MAX_REPLICAS}")
    return replicas
