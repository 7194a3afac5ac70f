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
    503 against 429; the 120 s read timeout is a 504 on both, after three tries against one."""
    result = runner.run(compare.plan(compare.read(EXAMPLE), EXAMPLE))
    assert result.twin is not None
    seen = {(side, step.plan.step.name): Counter(r.record.status for r in step.requests)
            for side, run in (("nginx", result), ("traefik", result.twin)) for step in run.steps}
    assert seen["nginx", "upload"] == {413: 1} and seen["traefik", "upload"] == {200: 1}, seen
    assert seen["nginx", "slow-upstream"] == {504: 1} == seen["traefik", "slow-upstream"], seen
    assert set(seen["nginx", "burst"]) == {200, 503} and set(seen["traefik", "burst"]) == {200, 429}, seen
    # The read timeout (120 s story, 6 s lab): ingress-nginx sends the GET 3 times, traefik once; a POST once on
    # both (no non_idempotent in the example).
    took = {(side, step.plan.step.name): step.requests[0].record.elapsed_s
            for side, run in (("nginx", result), ("traefik", result.twin)) for step in run.steps}
    assert 17.5 < took["nginx", "slow-upstream"] < 19.5 and 5.5 < took["traefik", "slow-upstream"] < 7.5, took
    assert seen["nginx", "slow-post"] == {504: 1} == seen["traefik", "slow-post"], seen
    assert 5.5 < took["nginx", "slow-post"] < 7.5 and 5.5 < took["traefik", "slow-post"] < 7.5, took
    # The keep-alive race: ingress-nginx lost 52 of 400 (traefik 3) when measured; traefik may lose none.
    assert seen["nginx", "keepalive-race"][502] >= 1 and set(seen["nginx", "keepalive-race"]) == {200, 502}, seen
    assert set(seen["traefik", "keepalive-race"]) <= {200, 502}, seen
    assert leftovers(client, result.project) == [] and leftovers(client, result.twin.project) == []
