"""Which hop answered, from per-hop access events (the hop trace)."""

from lab.evidence import AccessEvent, Evidence

HOPS = ["host-nginx", "ingress", "app"]


def evidence(*events: tuple[str, int, bool]) -> Evidence:
    return Evidence(HOPS, [], [AccessEvent(hop, "r1", status, forwarded, 0.0) for hop, status, forwarded in events])


def test_the_first_hop_that_refused_answered():
    assert evidence(("host-nginx", 413, False)).answered_by("r1", 413) == "host-nginx"


def test_a_status_passed_through_belongs_to_the_hop_that_made_it():
    seen = evidence(("host-nginx", 413, True), ("ingress", 413, False))
    assert seen.answered_by("r1", 413) == "ingress"


def test_a_proxy_that_gave_up_answered_even_if_the_app_finished_later():
    seen = evidence(("host-nginx", 504, True), ("ingress", 499, True), ("app", 200, False))
    assert seen.answered_by("r1", 504) == "host-nginx"


def test_a_killed_worker_logs_nothing_so_the_proxy_in_front_answered():
    seen = evidence(("host-nginx", 502, True), ("ingress", 502, True))
    assert seen.answered_by("r1", 502) == "ingress"


def test_no_response_means_no_hop_answered():
    assert evidence(("host-nginx", 502, True)).answered_by("r1", None) is None
