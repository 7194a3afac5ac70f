"""Default-format lines of every server the lab runs, and garbage, through `faultlab.tools.logformats.parse`."""

from __future__ import annotations

from pathlib import Path

import pytest

from faultlab.tools.logformats import MAX_LINE_CHARS, parse, unwrapped

SAMPLES = Path(__file__).parent / "data" / "default-logs"
NGINX = {"nginx", "ingress-nginx"}

# (line, format, kinds, stream, statuses, canonical or None)
CASES = [
    ('10.0.0.7 - - [24/Nov/2026:10:00:00 +0000] "POST /api/upload HTTP/1.1" 413 585 "-" "curl/8.5.0"',
     "combined access (nginx or gunicorn)", {"nginx", "gunicorn"}, "access", (413,),
     '{"status":413,"method":"POST","uri":"/api/upload"}'),
    ('2026/11/24 10:00:00 [error] 7#7: *2 upstream timed out (110: Connection timed out) while reading response header '
     'from upstream, client: 10.0.0.7, server: , request: "GET / HTTP/1.1", upstream: "uwsgi://10.0.0.9:3031", '
     'host: "x"',
     "nginx error", NGINX, "error", (), None),
    # nginx's `main` format (the Docker image's default): combined and "$http_x_forwarded_for"
    # (sladkovm/docker-flask-gunicorn-nginx#4)
    ('37.112.0.151 - - [20/Apr/2020:14:59:27 +0000] "GET / HTTP/1.1" 502 559 "-" "Mozilla/5.0 (Macintosh; Intel Mac '
     'OS X 10_14_4) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/80.0.3987.163 Safari/537.36" "-"',
     "nginx main access", NGINX, "access", (502,), '{"status":502,"method":"GET","uri":"/"}'),
    ('10.0.0.9 - - [24/Nov/2026:10:03:00 +0000] "POST /upload HTTP/1.1" 502 150 "-" "curl/8.5.0" 52429000 31.002 '
     '[default-app-8000] [] 10.244.0.12:8000 0 31.001 502 7f3c9a1e2b4d5c6e7f8091a2b3c4d5e6',
     "ingress-nginx access (upstreaminfo)", {"ingress-nginx"}, "access", (502,),
     '{"status":502,"upstream_status":"502","method":"POST","uri":"/upload"}'),
    # Two upstreams tried (a retry): the lists are comma-separated inside one field each.
    ('10.0.0.9 - - [24/Nov/2026:10:03:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.5.0" 80 0.004 [default-app-80] [] '
     '10.244.0.12:80, 10.244.0.13:80 0, 5 0.001, 0.003 502, 200 7f3c9a1e2b4d5c6e7f8091a2b3c4d5e6',
     "ingress-nginx access (upstreaminfo)", {"ingress-nginx"}, "access", (200,),
     '{"status":200,"upstream_status":"502, 200","method":"GET","uri":"/"}'),
    ('203.0.113.5 - - [24/Nov/2026:10:07:00 +0000] "POST /login HTTP/1.1" 502 11 "-" "ApacheBench/2.3" 4712 '
     '"app@docker" "http://172.18.0.4:8080" 2ms',
     "traefik CLF access", {"traefik"}, "access", (502,),
     '{"DownstreamStatus":502,"RequestMethod":"POST","RequestPath":"/login","ServiceURL":"http://172.18.0.4:8080"}'),
    ('2026-11-24T11:34:09Z DBG github.com/traefik/traefik/v3/pkg/proxy/httputil/proxy.go:199 > '
     '502 Bad Gateway error=EOF',
     "traefik v3 log", {"traefik"}, "error", (502,), None),
    ('2026-11-24T11:34:09Z ERR github.com/traefik/traefik/v3/cmd/traefik/traefik.go:101 > command traefik error: x',
     "traefik v3 log", {"traefik"}, "error", (), None),
    ('time="2026-11-24T10:07:00Z" level=debug msg="\'500 Internal Server Error\' caused by: http: server closed idle '
     'connection"', "traefik v2/1.7 log", {"traefik"}, "error", (500,),
     '500 Internal Server Error error="http: server closed idle connection"'),
    ('level=error msg="\'502 Bad Gateway\' caused by: EOF"', "traefik v2/1.7 log", {"traefik"}, "error", (502,),
     "502 Bad Gateway error=EOF"),
    ("level=info msg=Starting", "traefik v2/1.7 log", {"traefik"}, "error", (), None),
    ("'502 Bad Gateway' caused by: EOF", "traefik 1.7 log", {"traefik"}, "error", (502,), "502 Bad Gateway error=EOF"),
    ('{"level":"debug","error":"EOF","time":"2026-11-24T10:07:00Z","message":"502 Bad Gateway"}',
     "traefik JSON log", {"traefik"}, "error", (502,), "502 Bad Gateway error=EOF"),
    ('{"level":"debug","msg":"\'502 Bad Gateway\' caused by: EOF","time":"2026-11-24T10:07:00Z"}',
     "traefik JSON log", {"traefik"}, "error", (502,), "502 Bad Gateway error=EOF"),
    ('{"ClientHost":"203.0.113.5","DownstreamStatus":502,"RetryAttempts":0,"level":"info","msg":""}',
     "JSON access", {"traefik"}, "access", (502,), None),
    ("[2026-11-24 10:03:00 +0000] [1] [CRITICAL] WORKER TIMEOUT (pid:8)", "gunicorn log", {"gunicorn"}, "error", (),
     None),
    ('[pid: 7|app: 0|req: 1/1] 10.0.0.4 () {32 vars in 431 bytes} [Tue Nov 24 10:10:00 2026] GET /error => generated '
     "265 bytes in 7 msecs (HTTP/1.1 500) 2 headers in 99 bytes (1 switches on core 0)",
     "uwsgi request log", {"uwsgi"}, "access", (500,), '{"status":500,"method":"GET","uri":"/error","msecs":7}'),
    ("Tue Nov 24 11:34:21 2026 - *** HARAKIRI ON WORKER 2 (pid: 14, try: 1, graceful: yes) ***",
     "uwsgi log", {"uwsgi"}, "error", (), None),
    ("invalid request block size: 6445 (max 4096)...skip", "uwsgi log", {"uwsgi"}, "error", (), None),
    ("uwsgi_response_writev_headers_and_body_do(): Broken pipe [core/writer.c line 306] during GET /slow (10.0.0.3)",
     "uwsgi log", {"uwsgi"}, "error", (), None),
    ("RuntimeError: faultapp: deliberate application error", "Python traceback", {"gunicorn", "uwsgi", "uvicorn"},
     "error", (), None),
    # Django's line before its traceback (its runserver, as pasted in a thread of the corpus).
    ("Internal Server Error: /", "Python traceback", {"gunicorn", "uwsgi", "uvicorn"}, "error", (), None),
    ('{"time":"2026-11-24T11:33:18+00:00","request_id":"21be","status":413,"upstream_status":"","method":"POST"}',
     "JSON access", NGINX, "access", (413,), None),
    ('{"request_id":"52a4","status":200,"method":"GET","uri":"/slow","msecs":5024}',
     "JSON access", {"uwsgi"}, "access", (200,), None),
    # HAProxy 2.6.12's `option httplog` with a captured X-Request-ID, captured in this lab (502-alb-keepalive).
    ('192.168.128.1:47416 [01/Dec/2026:16:25:09.752] lb app/app1 0/0/0/-1/9 502 209 - - SH-- 48/48/23/23/0 0/0 '
     '{b30030} "POST /orders?work_s=0.01 HTTP/1.1"', "haproxy httplog", {"haproxy"}, "access", (502,),
     '{"status":502,"termination_state":"SH--","server":"app1","method":"POST","uri":"/orders?work_s=0.01",'
     '"Tc":0,"Tr":-1,"Ta":9,"retries":0}'),
    # The same format behind a syslog prefix, and an own message: shapes from doc/configuration.txt (2.6).
    ('Dec  1 16:25:09 lb haproxy[7]: 10.0.0.5:3456 [01/Dec/2026:16:25:09.752] fe be/<NOSRV> -1/-1/-1/-1/0 503 217 - - '
     'SC-- 1/1/0/0/0 0/0 "GET / HTTP/1.1"', "haproxy httplog", {"haproxy"}, "access", (503,),
     '{"status":503,"termination_state":"SC--","server":"<NOSRV>","method":"GET","uri":"/","Tc":-1,"Tr":-1,"Ta":0,'
     '"retries":0}'),
    ("[WARNING]  (1) : Server app/app1 is DOWN, reason: Layer4 connection problem.", "haproxy log", {"haproxy"},
     "error", (), None),
    # An AWS ALB's access-log entries (the hop stands in for one): one in the documented field order, the load
    # balancer's own 502 with no target status; one as pasted with its addresses masked (ivorycirrus.github.io).
    ('h2 2026-12-03T10:00:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.000 0.001 '
     '-1 502 - 34 366 "GET https://www.example.com:443/ HTTP/2.0" "curl/7.46.0" - - '
     'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067',
     "AWS load balancer access", {"haproxy"}, "access", (502,), None),
    ('https 2020-10-20T05:44:51.555553Z <<ALB-ARN>> <<Client-IP>> <<node.js EC2 local ip>>:80 0.000 0.003 0.000 '
     '304 304 723 188 "GET <<Request URL>> HTTP/1.1"', "AWS load balancer access", {"haproxy"}, "access", (304,), None),
    # uvicorn 0.54.0's default log, captured here.
    ('INFO:     192.168.128.3:56620 - "POST /orders?work_s=0.01 HTTP/1.1" 201 Created', "uvicorn access",
     {"uvicorn"}, "access", (201,), '{"status":201,"method":"POST","uri":"/orders?work_s=0.01"}'),
    ("ERROR:    Exception in ASGI application", "uvicorn log", {"uvicorn"}, "error", (), None),
    ('{"request_id":"r1","status":201,"method":"POST","uri":"/orders","asgi_time_us":104727}', "JSON access",
     {"uvicorn"}, "access", (201,), None),
    # A custom key=value log_format with the upstream's status (adobe-apiplatform/apigateway#49, cut short)
    ('193.105.140.131 - - [20/Apr/2017:07:59:12 +0000] request="GET /api/v1/connections HTTP/1.1" api_key="" '
     'status=504 bbs=84 rl=2025 rt=10.001 upadd="10.13.100.7:26856" upstat=504 uprt="10.001"',
     "nginx key=value access (custom log_format)", NGINX, "access", (504,),
     '{"status":504,"upstream_status":"504","method":"GET","uri":"/api/v1/connections"}'),
    # nginx's own error page, as logformats.unwrapped joins it (AudiusProject/apps#2336: openresty's footer)
    ("<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1></center>"
     "<hr><center>openresty/1.19.9.1</center></body></html>",
     "nginx error page", NGINX, "access", (504,), '{"status":504,"upstream_status":"504","method":"","uri":""}'),
    ("<html><head><title>413 Request Entity Too Large</title></head><body><center><h1>413 Request Entity Too Large"
     "</h1></center><hr><center>nginx</center></body></html>",
     "nginx error page", NGINX, "access", (413,), '{"status":413,"upstream_status":"-","method":"","uri":""}'),
    ("502 504", "status codes", set(), None, (502, 504), None),
    ("HTTP/1.1 503 Service Unavailable", "HTTP status line", set(), None, (503,), None),
    ("502 Bad Gateway", "HTTP status line", set(), None, (502,), None),
    ("app-1  | [2026-11-24 10:03:00 +0000] [1] [CRITICAL] WORKER TIMEOUT (pid:8)", "gunicorn log", {"gunicorn"},
     "error", (), None),
]


@pytest.mark.parametrize(("line", "fmt", "kinds", "stream", "statuses", "canonical"), CASES,
                         ids=[f"{case[1]}-{index}" for index, case in enumerate(CASES)])
def test_default_format_lines_are_recognised(line, fmt, kinds, stream, statuses, canonical):
    parsed = parse(line)
    assert (parsed.format, set(parsed.kinds), parsed.stream, parsed.statuses) == (fmt, kinds, stream, statuses)
    assert parsed.canonical == canonical


def test_nginx_error_lines_say_how_nginx_talks_to_its_upstream():
    assert parse(CASES[1][0]).upstream_scheme == "uwsgi"


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.log")), ids=lambda path: path.stem)
def test_every_sample_line_is_recognised(path):
    # Only a traceback's source lines carry nothing to recognise.
    unknown = [line for line in unwrapped(path.read_text().splitlines()) if not parse(line).known]
    assert all(line.startswith("    ") for line in unknown), unknown


@pytest.mark.parametrize("garbage", [
    "", "   ", "\x00\x01\x02\xff", "{", "{not json", "[1, 2]", '{"level": 3}', "999", "1234", "- - [] \"\" 200",
    "'502 Bad Gateway' caused by:", "x" * 1_000_000, "\ufffd" * 5000, "2026/11/24 10:00:00 [error]",
])
def test_garbage_is_no_servers_line_and_reports_no_status(garbage):
    # Near misses of real formats included: a status code out of range, JSON without a message, an nginx
    # error line without its pid, traefik 1.7's wording without its error: none is a line of a server.
    parsed = parse(garbage)
    assert (parsed.format, parsed.kinds, parsed.stream, parsed.statuses) == ("unknown", frozenset(), None, ())
    assert parsed.text == garbage[:MAX_LINE_CHARS]


@pytest.mark.parametrize("line,fmt", [
    # kubectl logs --timestamps / docker logs -t in front of a traceback line (sissbruecker/linkding#483)
    ("linkding    | 2023-05-30T22:28:38.392162214Z django.db.utils.OperationalError: database is locked",
     "Python traceback"),
    # syslog in front of uwsgi (peeringdb/peeringdb#1060)
    ("Sep 30 19:50:30 betagw0 pdb_django: Thu Sep 30 19:50:30 2021 - *** HARAKIRI ON WORKER 19 (pid: 530, try: 1) ***",
     "uwsgi log"),
    # traefik v3's own line starts with its timestamp: kept as it is
    ('2026-12-01T18:44:31Z ERR error="dial tcp 10.0.0.5:8080: connect: connection refused"', "traefik v3 log"),
])
def test_log_pipeline_prefixes_are_read_through(line, fmt):
    assert parse(line).format == fmt


def test_a_line_wrapped_at_a_word_or_at_the_terminals_width_is_joined_again():
    # Wrapped at a word in a PR's text (mendix/cf-mendix-buildpack#217): joined with a space.
    assert unwrapped(["[error] 191#0: *82 upstream timed out (110: Connection timed out) while",
                      "reading response header from upstream"]) == [
        "[error] 191#0: *82 upstream timed out (110: Connection timed out) while reading response header from upstream"]
    # Cut at 80 columns, mid-word (spdx/spdx-online-tools#435): joined as it is.
    assert unwrapped(["Feb 16 20:07:06 ip-172-31-6-122 kernel: [272585.754914] Out of memory: Killed pr",
                      "ocess 11438 (gunicorn) total-vm:3812556kB, anon-rss:1220624kB, file-rss:0kB, shm",
                      "em-rss:0kB, UID:0 pgtables:2912kB oom_score_adj:0"]) == [
        "Feb 16 20:07:06 ip-172-31-6-122 kernel: [272585.754914] Out of memory: Killed process 11438 (gunicorn) "
        "total-vm:3812556kB, anon-rss:1220624kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:2912kB oom_score_adj:0"]


def test_a_pasted_error_page_or_pretty_printed_json_is_one_line():
    # An error page as curl prints it (AudiusProject/apps#2336), joined without glue.
    assert unwrapped(["<html>", "", "<head>", "\t<title>504 Gateway Time-out</title>", "</head>", "<body>",
                      "\t<center>openresty/1.19.9.1</center>", "</body>", "", "</html>", "next"]) == [
        "<html><head><title>504 Gateway Time-out</title></head><body><center>openresty/1.19.9.1</center></body></html>",
        "next"]
    # traefik 1.x's JSON access line pretty-printed (traefik/traefik#4452, cut short), joined with a space.
    # Nothing continues a document, even after a long line before it.
    assert unwrapped(["x" * 70, "<html>", "</html>", "next"]) == ["x" * 70, "<html></html>", "next"]
    record = unwrapped(["{", '  "DownstreamStatus": 502,', '  "OriginStatus": 502', "}"])
    assert record == ['{ "DownstreamStatus": 502, "OriginStatus": 502 }']
    assert parse(record[0]).statuses == (502,)


@pytest.mark.parametrize("lines", [
    ["{", "never closed"],  # a document that does not end: its lines as they were
    ["<html>"] + ["x"] * 70 + ["</html>"],  # too long for a pasted page
    ["http: server closed idle connection", "write: broken pipe"],  # short lines of their own (reana#691)
    ["2026/11/24 10:00:00 [error] 7#7: *2 upstream timed out (110: Connection timed out) while reading response",
     "2026/11/24 10:00:01 [error] 7#7: *3 upstream timed out (110: Connection timed out) while reading response"],
    ['10.0.0.7 - - [24/Nov/2026:10:00:00 +0000] "POST /api/upload HTTP/1.1" 413 585 "-" "curl/8.5.0" 1 2 3',
     "Traceback (most recent call last):"],  # a format of its own
])
def test_lines_that_stand_on_their_own_are_not_joined(lines):
    assert unwrapped(lines) == lines
