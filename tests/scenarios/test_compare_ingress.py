"""compare-ingress on the example Ingress, against the real traefik and the lab's ingress-nginx hop."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from faultlab.run import runner
from faultlab.tools import compare

from .conftest import leftovers

pytestmark = pytest.mark.engine

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ingress.yaml"


def test_the_example_ingress_differs_where_the_annotations_mean_other_things(client, image_tags):
    """proxy-body-size 8m: ingress-nginx 413, traefik passes the 9 MiB (no request buffering); limit-rps 5:
    503 against 429; the 120 s read timeout is a 504 on both."""
    result = runner.run(compare.plan(compare.read(EXAMPLE), EXAMPLE))
    assert result.twin is not None
    seen = {(side, step.plan.step.name): Counter(r.record.status for r in step.requests)
            for side, run in (("nginx", result), ("traefik", result.twin)) for step in run.steps}
    assert seen["nginx", "upload"] == {413: 1} and seen["traefik", "upload"] == {200: 1}, seen
    assert seen["nginx", "slow-upstream"] == {504: 1} == seen["traefik", "slow-upstream"], seen
    assert set(seen["nginx", "burst"]) == {200, 503} and set(seen["traefik", "burst"]) == {200, 429}, seen
    assert leftovers(client, result.project) == [] and leftovers(client, result.twin.project) == []
