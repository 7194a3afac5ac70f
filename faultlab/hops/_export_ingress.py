"""ingress-nginx: a networking.k8s.io/v1 Ingress whose annotations carry the fix.

The annotations are the lab's own knobs for this hop (lab/render/ingress.py maps them to nginx
directives the way ingress-nginx does), so the manifest says exactly what the lab ran.
"""

from __future__ import annotations

from typing import Any

import yaml

from faultlab.hops import Knobs
from faultlab.hops.ingress import IngressKnobs
from faultlab.hops.snippet import Snippet
from faultlab.model.topology import Hop


def manifest(hop: Hop, annotations: dict[str, str]) -> dict[str, Any]:
    service, _, port = (hop.upstream or "app:80").partition(":")
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": service, "annotations": dict(annotations)},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [{"http": {"paths": [{
                "path": "/",
                "pathType": "Prefix",
                "backend": {"service": {"name": service, "port": {"number": int(port or 80)}}},
            }]}}],
        },
    }


def export(hop: Hop, before: Knobs, after: Knobs) -> list[Snippet]:
    assert isinstance(before, IngressKnobs) and isinstance(after, IngressKnobs)
    changed = {key: value for key, value in after.annotations.items() if before.annotations.get(key) != value}
    dropped = sorted(set(before.annotations) - set(after.annotations))
    if not changed and not dropped:
        return []
    text = yaml.safe_dump(manifest(hop, changed), sort_keys=False, default_flow_style=False)
    if dropped:
        text = "".join(f"# remove the annotation {key}\n" for key in dropped) + text
    return [Snippet("ingress", hop.name, "Ingress (ingress-nginx annotations)", text)]
