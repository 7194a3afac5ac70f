"""The lab's app in its own image: the slow share a scenario's verdict leans on.

A step expecting "at least one" slow request failed one CI run of 504-retry-duplicates, because each
arrival was drawn at random and none of 16 came out slow. First arrivals now follow an exact share;
replays are still drawn, so a retry is quick as often as in production.
"""

from __future__ import annotations

import json

import pytest

from .box import BOX, run, toolbox

pytestmark = pytest.mark.engine

# Four worker processes at once, as under gunicorn; then one request id sent again and again.
SCRIPT = """
import json, multiprocessing, os, sys, uuid
os.environ["FAULTAPP_SHARED_DIR"] = sys.argv[1]
sys.path.insert(0, os.getcwd())  # the apps
import faultapp

QUERY = "/slow?work_s=0&slow_share=0.33&slow_s=0.001"

def get(request_id):
    client = faultapp.app.test_client()
    return client.get(QUERY, headers={"X-Request-ID": request_id}).get_json()["slept_s"] > 0

def firsts(count):
    return [get(uuid.uuid4().hex) for _ in range(count)]

with multiprocessing.get_context("fork").Pool(4) as pool:
    together = [slow for share in pool.map(firsts, [25] * 4) for slow in share]
then = firsts(16)
replays = [get("the-same-id") for _ in range(301)][1:]
print(json.dumps({"together": sum(together), "then": sum(then), "replays": sum(replays)}))
"""


def test_first_arrivals_are_slow_on_an_exact_share_and_replays_are_drawn(client, image_tags):
    with toolbox(client, image_tags["python"], {"draws.py": SCRIPT}) as box:
        code, out, err = run(box, ["python", f"{BOX}/draws.py", f"{BOX}/shared"], workdir=f"{BOX}/apps")
    assert code == 0, err
    counts = json.loads(out)
    assert counts["together"] in (33, 34), counts  # 100 first arrivals across 4 processes, share 0.33
    assert counts["then"] in (5, 6), counts  # any 16 in a row: a random draw gave 0 with probability 0.16 %
    # 300 replays of one id, each slow with probability 0.33: mean 99, standard deviation 8.
    assert 50 <= counts["replays"] <= 150, counts
