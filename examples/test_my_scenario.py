"""A user's own assertions against the real stack of examples/my-scenario.yaml.

    pytest --faultlab-scenario examples/my-scenario.yaml examples/test_my_scenario.py
"""

import httpx


def test_the_limit_is_the_first_hops_and_says_so(faultlab_stack):
    assert faultlab_stack.step.step.name == "broken"
    response = httpx.post(f"{faultlab_stack.url()}/upload", content=b"x" * (2 << 20))
    assert response.status_code == 413
    line = faultlab_stack.wait_for_log("nginx", r"client intended to send too large body")
    assert "2097152 bytes" in line


def test_small_bodies_pass_and_reach_the_app(faultlab_stack):
    response = httpx.post(f"{faultlab_stack.url()}/upload", content=b"x" * 1000)
    assert response.status_code == 200
    assert response.json()["bytes"] == 1000


def test_after_the_fix_5_mib_reach_the_app(faultlab_stack):
    faultlab_stack.apply("fix")
    response = httpx.post(f"{faultlab_stack.url()}/upload", content=b"x" * (5 << 20), timeout=30)
    assert response.status_code == 200
    assert response.json()["bytes"] == 5 << 20
