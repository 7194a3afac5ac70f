"""Which hop answered, from per-hop access events (the hop trace)."""

from faultlab.run.evidence import AccessEvent, Evidence, LogLine

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


def test_an_app_that_answers_without_an_access_line_is_read_from_the_proxys_upstream_status():
    from faultlab.hops.nginx import parse_access

    def ingress(upstream_status: str, status: int) -> AccessEvent:
        fields = parse_access(f'{{"request_id":"r1","status":{status},"upstream_status":"{upstream_status}"}}')
        assert fields is not None
        return AccessEvent("ingress", "r1", fields.status, fields.forwarded, 0.0, fields.upstream_answer)

    # gunicorn refusing a header line answers 431 and logs a warning, no access line.
    seen = Evidence(HOPS, [], [AccessEvent("host-nginx", "r1", 431, True, 0.0), ingress("431", 431)])
    assert seen.answered_by("r1", 431) == "app"
    assert [hop.status for hop in seen.trace("r1", 431)] == [431, 431, 431]
    # nginx writes 502 and 504 there for failures of its own: those stay the proxy's.
    for status in (502, 504):
        seen = Evidence(HOPS, [], [AccessEvent("host-nginx", "r1", status, True, 0.0), ingress(str(status), status)])
        assert seen.answered_by("r1", status) == "ingress"
    assert ingress("502, 200", 200).upstream_answer == 200



def test_a_request_nginx_never_got_through_to_its_upstream_was_not_passed_on():
    """A refused or timed-out connect sends nothing ($upstream_bytes_sent "0" per try): the evidence does not
    wait for the next hop's line, and the next step does not restart the hops behind."""
    from faultlab.hops.nginx import parse_access

    def forwarded(upstream_status: str, sent: str) -> bool:
        fields = parse_access(f'{{"request_id":"r1","status":502,"upstream_status":"{upstream_status}",'
                              f'"upstream_bytes_sent":"{sent}"}}')
        assert fields is not None
        return fields.forwarded

    assert not forwarded("502", "0")  # connect() refused
    assert not forwarded("502, 502", "0, 0")  # both tries refused
    assert forwarded("502, 200", "0, 312")  # the second try got through
    assert forwarded("502", "312")  # sent, then the upstream closed (a killed worker, a keep-alive race)
    assert not forwarded("-", "-")  # nginx answered by itself (a 413)
    seen = Evidence(HOPS, [], [AccessEvent("host-nginx", "r1", 502, True, 0.0),
                               AccessEvent("ingress", "r1", 502, forwarded("502", "0"), 0.0)])
    assert seen.complete(["r1"])
    assert seen.answered_by("r1", 502) == "ingress"


def test_no_response_means_no_hop_answered():
    assert evidence(("host-nginx", 502, True)).answered_by("r1", None) is None


def _worker_timeout() -> Evidence:
    from faultlab.run.evidence import LogLine

    lines = [
        LogLine("ingress", "error", 10.5, "2026/11/24 10:00:10 [error] 7#7: *5 upstream prematurely closed connection "
                "while reading response header from upstream, client: 172.18.0.3, server: , request: \"POST /upload\""),
        LogLine("app", "error", 10.4, "[2026-11-24 10:00:10 +0000] [1] [CRITICAL] WORKER TIMEOUT (pid:10)"),
        LogLine("app", "error", 10.45, "[2026-11-24 10:00:10 +0000] [1] [INFO] Booting worker with pid: 12"),
        LogLine("app", "error", 99.0, "[2026-11-24 10:01:39 +0000] [1] [CRITICAL] WORKER TIMEOUT (pid:12)"),
    ]
    events = [AccessEvent("host-nginx", "r1", 502, True, 10.6), AccessEvent("ingress", "r1", 502, True, 10.5)]
    return Evidence(HOPS, lines, events, {"host-nginx": "nginx", "ingress": "ingress-nginx", "app": "gunicorn"})


def test_a_failing_trace_shows_what_the_answering_hop_and_those_behind_it_logged():
    from faultlab.run.evidence import format_trace

    trace = _worker_timeout().explained("r1", 502, (6.0, 10.6))
    assert [hop.log for hop in trace] == [
        None,
        "[error] upstream prematurely closed connection while reading response header from upstream",
        "[CRITICAL] WORKER TIMEOUT (pid:10)",  # not the INFO line, not the later timeout outside the window
    ]
    assert format_trace(trace).endswith("← app —: [CRITICAL] WORKER TIMEOUT (pid:10)")


def test_a_successful_request_gets_no_explanation():
    trace = _worker_timeout().explained("r1", 200, (6.0, 10.6))
    assert all(hop.log is None for hop in trace)


def test_a_trace_is_complete_only_when_every_hop_that_passed_a_request_on_has_the_next_line():
    assert not evidence(("host-nginx", 413, True)).complete(["r1"])  # the ingress's line may be on its way
    assert evidence(("host-nginx", 413, True), ("ingress", 413, False)).complete(["r1"])
    assert evidence(("host-nginx", 413, False)).complete(["r1"])  # answered by itself: nothing to wait for


def test_a_trace_prefers_the_line_that_names_its_own_status():
    lines = [LogLine("traefik", "error", 10.0, "2026-12-01T10:35:44Z DBG github.com/traefik/traefik/v3/pkg/proxy/"
                     "httputil/proxy.go:199 > 502 Bad Gateway error=EOF"),
             LogLine("traefik", "error", 10.1, '2026-12-01T10:35:44Z DBG github.com/traefik/traefik/v3/pkg/proxy/'
                     'httputil/proxy.go:199 > 500 Internal Server Error error="http: server closed idle connection"')]
    seen = Evidence(["traefik", "app"], lines, [AccessEvent("traefik", "r1", 500, True, 10.2)],
                    {"traefik": "traefik", "app": "uwsgi"})
    first = seen.explained("r1", 500, (10.0, 10.2))[0]
    # the message without traefik's time, level and caller; the whole line kept beside it
    assert first.log == '500 Internal Server Error error="http: server closed idle connection"'
    assert first.line == lines[1].text


class _Lines:
    """A LogSource that replays fixed lines: what a stack's hops printed during a step."""

    def __init__(self, lines: dict[str, list[str]]) -> None:
        from faultlab.model.topology import load_topology

        self.topology = load_topology("lb-traefik-uwsgi")
        self.lines = lines

    def logs(self, hop: str, since: float) -> list[tuple[float, str]]:
        return [(since + n, text) for n, text in enumerate(self.lines.get(hop, []))]


def _app_arrival_line(request_id: str, constant: str = "ARRIVAL_KEY") -> str:
    """The line exactly as apps/faultapp writes it: its marker constant and json.dumps with the id first."""
    import ast
    import json

    from faultlab import paths

    tree = ast.parse((paths.DATA / "apps" / "faultapp" / "__init__.py").read_text())
    key = next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
               and getattr(node.targets[0], "id", "") == constant)
    return json.dumps({key: request_id, "method": "POST", "path": "/orders", "pid": 7})


def test_the_apps_arrival_lines_are_counted_per_request_and_kept_out_of_the_server_lines():
    from faultlab.run.evidence import collect

    access = '{"request_id":"r1","status":201,"method":"POST","uri":"/orders","msecs":3}'
    traefik = '{"RequestHost":"x","DownstreamStatus":201,"request_X-Request-Id":"r1","OriginStatus":201}'
    source = _Lines({"app": [_app_arrival_line("r1"), "*** HARAKIRI ON WORKER 1 (pid: 7) ***",
                             _app_arrival_line("r1"), access, _app_arrival_line("r2"), '{"faultapp_arrival": 5}'],
                     "traefik": [traefik]})
    seen = collect(source, 0.0, ["r1"], start="traefik", wanted=[], patience_s=0.0)
    assert seen.arrivals == {"r1": 2, "r2": 1}
    assert [line.text for line in seen.lines if line.hop == "app"] == ["*** HARAKIRI ON WORKER 1 (pid: 7) ***", access,
                                                                        '{"faultapp_arrival": 5}']


def test_the_apps_effect_lines_are_counted_apart_from_its_arrivals():
    from faultlab.run.evidence import collect

    effect = _app_arrival_line("r1", "EFFECT_KEY")
    source = _Lines({"app": [_app_arrival_line("r1"), effect, _app_arrival_line("r1"), _app_arrival_line("r2")],
                     "traefik": []})
    seen = collect(source, 0.0, [], start="traefik", wanted=[], patience_s=0.0)
    assert seen.arrivals == {"r1": 2, "r2": 1} and seen.effects == {"r1": 1}
    assert seen.lines == []


def test_a_request_two_replicas_received_names_both_in_its_trace():
    import json

    from faultlab.run.evidence import collect, format_trace

    def arrived(request_id: str, host: str) -> str:
        line = json.loads(_app_arrival_line(request_id))
        return json.dumps({**line, "host": host})

    access = '{"request_id":"r1","status":200,"method":"GET","uri":"/slow","msecs":3}'
    source = _Lines({"app": [arrived("r1", "c0ffee1"), arrived("r1", "c0ffee2"), access, arrived("r2", "elsewhere")],
                     "traefik": []})
    seen = collect(source, 0.0, [], start="traefik", wanted=[], patience_s=0.0,
                   replicas={"c0ffee1": "#1", "c0ffee2": "#2"})
    assert seen.arrivals == {"r1": 2, "r2": 1}
    app = seen.trace("r1")[-1]
    assert app.replicas == ("#1", "#2") and format_trace([app]) == "app #1→#2 200"
    assert seen.trace("r2")[-1].replicas == ()  # a host the stack did not name (one replica): no label


def test_a_hop_that_logged_a_request_twice_answered_with_the_status_the_client_got():


    # The ingress's retry reached the other pod, which answered 409; the first pod finished later with 201.
    access = [AccessEvent("ingress", "r1", 409, True, 1.0), AccessEvent("app", "r1", 409, False, 0.9),
              AccessEvent("app", "r1", 201, False, 3.0)]
    seen = Evidence(["ingress", "app"], [], access)
    assert seen.answered_by("r1", 409) == "app"
    assert [hop.status for hop in seen.trace("r1", 409)] == [409, 409]
    assert [hop.status for hop in seen.trace("r1")] == [409, 201]  # without the client's: the last line
