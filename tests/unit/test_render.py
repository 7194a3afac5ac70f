"""Knobs → each server's own configuration, with the time scale applied."""

import pytest

from faultlab.hops import HOP_KINDS, RenderContext
from faultlab.hops.gunicorn import GunicornKnobs
from faultlab.hops.ingress import IngressKnobs
from faultlab.hops.nginx import NginxKnobs
from faultlab.units import TimeScale

SCALE = TimeScale.parse("1/30")


def ctx(hop="host-nginx", upstream="ingress:8080"):
    return RenderContext(hop, 8080, upstream, SCALE)


def test_nginx_timeouts_are_scaled_to_milliseconds_and_defaults_are_explicit():
    conf = HOP_KINDS["nginx"].render(NginxKnobs(proxy_read_timeout="600s"), ctx())["nginx.conf"]
    assert "proxy_read_timeout 20000ms;" in conf
    assert "proxy_send_timeout 2000ms;" in conf  # nginx's 60 s default, scaled too
    assert "client_max_body_size 1m;" in conf
    assert "proxy_pass http://ingress:8080;" in conf


def test_ingress_starts_from_ingress_nginx_defaults_not_nginx_ones():
    nginx, explicit = IngressKnobs().effective()
    assert (nginx.proxy_connect_timeout, nginx.proxy_buffering, nginx.proxy_http_version) == (5, False, "1.1")
    assert explicit == set()


def test_ingress_annotations_map_to_directives():
    knobs = IngressKnobs(annotations={
        "nginx.ingress.kubernetes.io/proxy-body-size": "1024m",
        "nginx.ingress.kubernetes.io/proxy-read-timeout": "600",
    })
    nginx, explicit = knobs.effective()
    assert nginx.client_max_body_size == "1024m"
    assert nginx.proxy_read_timeout == 600
    assert explicit == {"client_max_body_size", "proxy_read_timeout"}


def test_the_other_controllers_annotations_are_ignored_as_ingress_nginx_ignores_them():
    knobs = IngressKnobs(annotations={"nginx.org/client-max-body-size": "1024m"})
    assert knobs.effective()[0].client_max_body_size == "1m"
    settings = HOP_KINDS["ingress-nginx"].settings(knobs, ctx("ingress", "app:8000"))
    assert any(s.name == "nginx.org/client-max-body-size" and s.lab == "ignored by ingress-nginx" for s in settings)


def test_gunicorn_gets_whole_seconds_and_the_chosen_release():
    files = HOP_KINDS["gunicorn"].render(GunicornKnobs(timeout="120s", release="21.2.0"), ctx("app", None))
    assert "timeout = 4  # story 120s" in files["gunicorn.conf.py"]
    assert files["gunicorn-release"].strip() == "21.2.0"


def test_nginx_talks_uwsgi_with_the_uwsgi_family_of_directives():
    knobs = NginxKnobs(upstream_protocol="uwsgi", uwsgi_read_timeout="30s", uwsgi_ignore_client_abort=True)
    conf = HOP_KINDS["nginx"].render(knobs, ctx("nginx", "app:8080"))["nginx.conf"]
    assert "uwsgi_pass app:8080;" in conf and "proxy_pass" not in conf
    assert "uwsgi_read_timeout 1000ms;" in conf and "uwsgi_ignore_client_abort on;" in conf


def test_nginx_refuses_a_directive_of_the_other_family():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="apply only with upstream_protocol: uwsgi"):
        NginxKnobs(uwsgi_read_timeout="30s")


def test_nginx_as_load_balancer_limits_the_whole_server():
    conf = HOP_KINDS["nginx"].render(NginxKnobs(limit_conn=50), ctx("lb", "traefik:8080"))["nginx.conf"]
    assert "limit_conn_zone $server_port" in conf  # $server_name is empty here, and empty keys are not counted
    assert "limit_conn faultlab_conn 50;" in conf


def test_uwsgi_keepalive_only_with_its_http_router_and_harakiri_in_whole_seconds():
    from faultlab.hops.uwsgi import UwsgiKnobs

    ini = HOP_KINDS["uwsgi"].render(UwsgiKnobs(http_keepalive=True, harakiri="100s"), ctx("app", None))["uwsgi.ini"]
    assert "http = 0.0.0.0:8080" in ini and "http-keepalive = 1" in ini
    assert "harakiri = 4  ; story 100s" in ini
    socket = HOP_KINDS["uwsgi"].render(UwsgiKnobs(protocol="uwsgi", http_keepalive=True), ctx("app", None))
    assert "socket = 0.0.0.0:8080" in socket["uwsgi.ini"] and "http-keepalive" not in socket["uwsgi.ini"]


def test_traefik_v3_settings_land_where_traefik_reads_them():
    import yaml

    from faultlab.hops.traefik import TraefikKnobs

    files = HOP_KINDS["traefik"].render(TraefikKnobs(maxIdleConnsPerHost=-1, retryAttempts=10,
                                                     responseHeaderTimeout="60s"), ctx("traefik", "app:8080"))
    static, dynamic = yaml.safe_load(files["traefik.yml"]), yaml.safe_load(files["dynamic.yml"])
    assert static["serversTransport"]["maxIdleConnsPerHost"] == -1
    assert static["serversTransport"]["forwardingTimeouts"]["responseHeaderTimeout"] == "2000ms"
    assert static["serversTransport"]["forwardingTimeouts"]["idleConnTimeout"] == "3000ms"
    assert static["log"]["level"] == "DEBUG"
    assert dynamic["http"]["middlewares"]["retry"]["retry"]["attempts"] == 10
    assert dynamic["http"]["routers"]["app"]["middlewares"] == ["retry"]
    assert dynamic["http"]["services"]["app"]["loadBalancer"]["servers"] == [{"url": "http://app:8080"}]


def test_zero_means_no_limit_to_traefik_whatever_the_scale():
    import yaml

    from faultlab.hops.traefik import TraefikKnobs

    static = yaml.safe_load(HOP_KINDS["traefik"].render(TraefikKnobs(), ctx("traefik", "app:8080"))["traefik.yml"])
    assert static["serversTransport"]["forwardingTimeouts"]["responseHeaderTimeout"] == "0s"


def test_each_hop_kind_parses_its_own_access_lines():
    traefik_line = '{"DownstreamStatus":502,"ServiceURL":"http://app:8080","request_X-Request-Id":"r1"}'
    assert HOP_KINDS["traefik"].parse_access(traefik_line).status == 502
    assert HOP_KINDS["traefik"].parse_access("2026-11-24T09:00:00Z DBG … error=EOF") is None
    nginx_line = '{"request_id":"r1","status":413,"upstream_status":""}'
    assert HOP_KINDS["nginx"].parse_access(nginx_line).forwarded is False


def _ingress_conf(servers: tuple[str, ...] = (), **knobs: object) -> str:
    from faultlab.hops.base import RenderContext
    from faultlab.hops.ingress import IngressHop, IngressKnobs

    return IngressHop().render(IngressKnobs(**knobs), RenderContext("ingress", 8080, "app:8000",
                                                                     TimeScale.parse("1"), servers))["nginx.conf"]


def _nginx_conf(**knobs: object) -> str:
    from faultlab.hops.nginx import NginxHop

    return NginxHop().render(NginxKnobs(**knobs), RenderContext("nginx", 8080, "app:8000",
                                                                TimeScale.parse("1")))["nginx.conf"]


def test_the_ingress_hop_keeps_upstream_connections_and_retries_like_ingress_nginx():
    conf = _ingress_conf()
    # ingress-nginx's upstream_balancer block and per-location retries (nginx.tmpl, controller-v1.15.1)
    assert "keepalive 320;\n        keepalive_time 3600000ms;\n        keepalive_timeout 60000ms;\n" \
           "        keepalive_requests 10000;" in conf
    assert conf.count("server app:8000 max_fails=0;") == 3  # one pod, three tries: a retry goes to it again
    assert "proxy_pass http://faultlab_next_hop;" in conf and 'proxy_set_header Connection "";' in conf
    assert "proxy_next_upstream error timeout;" in conf and "proxy_next_upstream_tries 3;" in conf
    assert "error_log stderr notice;" in conf and "reset_timedout_connection on;" in conf
    assert "proxy_buffer_size 4k;" in conf and "proxy_buffers 4 4k;" in conf


def test_ingress_proxy_buffers_follow_the_buffer_size_annotation_as_its_template_writes_them():
    conf = _ingress_conf(annotations={"nginx.ingress.kubernetes.io/proxy-buffer-size": "16k"})
    assert "proxy_buffer_size 16k;" in conf and "proxy_buffers 4 16k;" in conf
    conf = _ingress_conf(annotations={"nginx.ingress.kubernetes.io/proxy-buffers-number": "8"})
    assert "proxy_buffers 8 4k;" in conf
    conf = _ingress_conf(configmap={"large-client-header-buffers": "4 32k"})
    assert "large_client_header_buffers 4 32k;" in conf.split("server {")[0]  # http level, as nginx.tmpl
    with pytest.raises(ValueError, match="controller's nginx -t would refuse .*proxy_busy_buffers_size"):
        IngressKnobs(annotations={"nginx.ingress.kubernetes.io/proxy-busy-buffers-size": "64k"})


@pytest.mark.parametrize("knobs,refused", [
    ({"proxy_buffer_size": "16k"}, "must be less than the size of all \"proxy_buffers\" minus one buffer"),
    ({"proxy_buffer_size": "16k", "proxy_buffers": "4 16k"}, None),
    ({"proxy_buffer_size": "14k"}, None),
    ({"upstream_protocol": "uwsgi", "uwsgi_buffer_size": "8k", "uwsgi_busy_buffers_size": "4k"},
     "must be equal to or greater than"),
    ({"proxy_buffers": "1 8k"}, "at least 2"),
])
def test_nginx_buffer_sizes_are_checked_as_nginx_t_checks_them(knobs, refused):
    if refused is None:
        family = "uwsgi" if knobs.get("upstream_protocol") == "uwsgi" else "proxy"
        conf = _nginx_conf(**knobs)
        assert all(f"{name} {value};" in conf for name, value in knobs.items() if name.startswith(family))
    else:
        with pytest.raises(ValueError, match=refused):
            NginxKnobs(**knobs)


def test_a_drained_replica_leaves_the_upstream_list_even_without_an_upstream_block():
    from faultlab.hops.base import RenderContext
    from faultlab.hops.nginx import NginxHop, NginxKnobs

    ctx = RenderContext("ingress", 8080, "app:8000", TimeScale.parse("1"), ("lab-app-2:8000",))
    # The same config, the replica still in rotation named instead of the service, once per try.
    assert _ingress_conf(ctx.servers) == _ingress_conf().replace("server app:8000", "server lab-app-2:8000")
    plain = NginxHop().render(NginxKnobs(), ctx)["nginx.conf"]  # nginx without keep-alive or retries
    assert "server lab-app-2:8000 max_fails=0;" in plain and "proxy_pass http://faultlab_next_hop;" in plain
    assert "app:8000" not in plain


def test_configmap_keys_set_controller_defaults_that_annotations_override():
    conf = _ingress_conf(configmap={"upstream-keepalive-connections": "0", "proxy-next-upstream-tries": "1",
                                    "proxy-read-timeout": "120"},
                         annotations={"nginx.ingress.kubernetes.io/proxy-read-timeout": "600"})
    assert "upstream faultlab_next_hop" not in conf and "proxy_pass http://app:8000;" in conf
    assert "proxy_read_timeout 600000ms;" in conf


def test_retry_non_idempotent_appends_to_proxy_next_upstream():
    conf = _ingress_conf(configmap={"retry-non-idempotent": "true", "proxy-next-upstream": "error timeout http_502"})
    assert "proxy_next_upstream error timeout http_502 non_idempotent;" in conf


def test_an_unknown_configmap_key_is_named():
    from pydantic import ValidationError

    from faultlab.hops.ingress import IngressKnobs

    with pytest.raises(ValidationError, match="unknown ConfigMap key 'upstream-keepalive'.*did you mean"):
        IngressKnobs(configmap={"upstream-keepalive": "10"})


def test_values_ingress_nginx_rejects_are_accepted_logged_and_replaced_by_the_default():
    from faultlab.hops.base import ANNOUNCE_FILE

    files = IngressKnobs(annotations={"nginx.ingress.kubernetes.io/proxy-read-timeout": "600s",
                                      "nginx.ingress.kubernetes.io/proxy-body-size": "100mb",
                                      "nginx.ingress.kubernetes.io/proxy-reed-timeout": "600"})
    conf = HOP_KINDS["ingress-nginx"].render(files, RenderContext("ingress", 8080, "app:8000", TimeScale.parse("1")))
    assert "proxy_read_timeout 60000ms;" in conf["nginx.conf"]  # the ConfigMap default, not 600 s
    assert "client_max_body_size 1m;" in conf["nginx.conf"]
    assert files.unknown() == ["nginx.ingress.kubernetes.io/proxy-reed-timeout"]  # no effect, and said so
    lines = conf[ANNOUNCE_FILE].splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        "validation error on ingress default/app: annotation proxy-read-timeout contains invalid value 600s",
        "validation error on ingress default/app: annotation proxy-body-size contains invalid value 100mb"]


def test_uvicorn_gets_its_command_line_in_whole_seconds():
    from faultlab.hops.uvicorn import UvicornKnobs

    files = HOP_KINDS["uvicorn"].render(UvicornKnobs(timeout_keep_alive="75s", limit_concurrency=50),
                                        ctx("app", None))
    flags = files["uvicorn.flags"].split()
    assert flags[flags.index("--timeout-keep-alive") + 1] == "3"  # 75 s × 1/30 = 2.5, rounded up
    assert flags[flags.index("--limit-concurrency") + 1] == "50"
    assert "--timeout-graceful-shutdown" not in flags  # unset: uvicorn waits for every request
    assert flags[-1] == "faultapp.asgi:app" and flags[flags.index("--port") + 1] == "8080"


def test_haproxy_spreads_the_idle_timeout_and_never_retries_by_default():
    from faultlab.hops.haproxy import HaproxyKnobs

    conf = HOP_KINDS["haproxy"].render(HaproxyKnobs(), ctx("alb", "app:8000"))["haproxy.cfg"]
    for line in ("timeout client 2s", "timeout http-keep-alive 2s", "timeout server 2s",
                 "http-reuse always", "retries 0", "retry-on none",
                 "server app1 app:8000 pool-purge-delay 667ms"):  # a third of 60 s, scaled
        assert line in conf, line
    knobs = HaproxyKnobs(idle_timeout="300s", maxconn=10)
    conf = HOP_KINDS["haproxy"].render(knobs, ctx("alb", "app:8000"))["haproxy.cfg"]
    assert "timeout server 10s" in conf and "pool-purge-delay 3333ms maxconn 10" in conf


def test_haproxy_access_line_says_whether_a_server_was_picked():
    kind = HOP_KINDS["haproxy"]
    line = ('{"request_id":"r1","status":502,"termination_state":"SH--","server":"app1","method":"POST",'
            '"uri":"/orders","Tc":0,"Tr":-1,"Ta":0,"retries":0,"backend_port":"45540"}')
    fields = kind.parse_access(line)
    assert fields is not None and (fields.request_id, fields.status, fields.forwarded) == ("r1", 502, True)
    refused = kind.parse_access(line.replace('"server":"app1"', '"server":"<NOSRV>"').replace("SH--", "SC--"))
    assert refused is not None and refused.forwarded is False
    assert kind.parse_access('{"request_id":"r1","status":502}') is None  # another kind's JSON line


def test_a_variable_upstream_is_resolved_per_request_with_the_resolver_and_a_scaled_whole_second_valid():
    from faultlab.hops.base import RenderContext
    from faultlab.hops.nginx import NginxHop

    def conf(**knobs: object) -> str:
        return NginxHop().render(NginxKnobs(**knobs), RenderContext("nginx", 8080, "app:8080",
                                                                    TimeScale.parse("1/10")))["nginx.conf"]

    plain = conf(resolver="127.0.0.11", resolver_valid="10s")
    assert "resolver 127.0.0.11 valid=1s;" in plain and "proxy_pass http://app:8080;" in plain  # resolved at load
    variable = conf(resolver="127.0.0.11", upstream_variable=True)
    assert "set $upstream_host app:8080;" in variable and "proxy_pass http://$upstream_host;" in variable
    uwsgi = conf(upstream_protocol="uwsgi", upstream_variable=True)
    assert "uwsgi_pass $upstream_host;" in uwsgi
    with pytest.raises(ValueError, match="upstream block"):
        NginxKnobs(upstream_variable=True, upstream_keepalive=8)
    with pytest.raises(ValueError, match="set `resolver` too"):
        NginxKnobs(resolver_valid="10s")


def test_a_unix_socket_upstream_is_the_apps_socket_in_the_shared_folder():
    from faultlab.hops.base import RenderContext
    from faultlab.hops.nginx import NginxHop
    from faultlab.hops.uwsgi import UwsgiHop, UwsgiKnobs

    nginx = NginxHop().render(NginxKnobs(upstream_protocol="uwsgi", upstream_unix=True),
                              RenderContext("nginx", 8080, "app:8080", TimeScale.parse("1")))["nginx.conf"]
    assert "uwsgi_pass unix:/srv/shared/app.sock;" in nginx
    ini = UwsgiHop().render(UwsgiKnobs(protocol="uwsgi", unix_socket=True),
                            RenderContext("app", 8080, None, TimeScale.parse("1")))["uwsgi.ini"]
    assert "socket = 0.0.0.0:8080\nsocket = /srv/shared/app.sock\n" in ini and "\nchmod-socket = 666\n" in ini
    with pytest.raises(ValueError, match="uwsgi protocol"):
        UwsgiKnobs(unix_socket=True)  # the HTTP router has no UNIX socket of the lab's
    with pytest.raises(ValueError, match="upstream_protocol: uwsgi"):
        NginxKnobs(upstream_unix=True)


def test_a_tls_origin_serves_one_name_from_the_labs_own_ca_and_refuses_the_rest():
    from cryptography import x509

    from faultlab.hops import tls
    from faultlab.hops.base import RenderContext
    from faultlab.hops.nginx import NginxHop

    files = NginxHop().render(NginxKnobs(tls_server_name="app.internal"),
                              RenderContext("origin", 8443, "app:8000", TimeScale.parse("1")))
    conf = files["nginx.conf"]
    assert "listen 8443 ssl default_server;\n        ssl_reject_handshake on;" in conf
    assert "server_name app.internal;" in conf and "ssl_certificate /etc/faultlab/server.crt;" in conf
    certificate = x509.load_pem_x509_certificate(files["server.crt"].encode())
    authority = x509.load_pem_x509_certificate(tls.authority().encode())
    certificate.verify_directly_issued_by(authority)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["app.internal"]
    assert files == NginxHop().render(NginxKnobs(tls_server_name="app.internal"),
                                      RenderContext("origin", 8443, "app:8000", TimeScale.parse("1")))  # stable
    edge = NginxHop().render(NginxKnobs(upstream_tls=True, proxy_ssl_verify=True, proxy_ssl_name="app.internal"),
                             RenderContext("edge", 8080, "origin:8443", TimeScale.parse("1")))
    assert "proxy_pass https://origin:8443;" in edge["nginx.conf"] and edge["ca.crt"] == tls.authority()
    with pytest.raises(ValueError, match="only with upstream_tls"):
        NginxKnobs(proxy_ssl_server_name=True)


def test_a_rate_limit_without_burst_writes_no_burst_which_nginx_refuses_as_zero():
    conf = _nginx_conf(limit_req_rate="100r/s")
    assert "limit_req zone=faultlab_req nodelay;" in conf  # nginx 1.22: invalid burst value "burst=0"
    assert "limit_req zone=faultlab_req burst=20 nodelay;" in _nginx_conf(limit_req_rate="100r/s", limit_req_burst=20)


def test_traefik_ingress_renders_the_objects_a_cluster_holds_and_leaves_the_annotations_to_traefik():
    import json

    import yaml

    from faultlab.hops.traefik_ingress import TraefikIngressKnobs

    prefix = "nginx.ingress.kubernetes.io/"
    knobs = TraefikIngressKnobs(annotations={f"{prefix}proxy-read-timeout": "60",
                                             f"{prefix}proxy-connect-timeout": "2s", f"{prefix}limit-rps": "1"})
    hop = HOP_KINDS["traefik-ingress"]
    files = hop.render(knobs, RenderContext("ingress", 8080, "app:8000", TimeScale.parse("1/30")))
    objects = {item["kind"]: item for item in json.loads(files["objects.json"])}
    assert set(objects) == {"IngressClass", "Ingress", "Service", "EndpointSlice"}
    annotations = objects["Ingress"]["metadata"]["annotations"]
    # Whole seconds scaled (60 s at 1/30 is 2 s); a value traefik cannot read is passed on as written.
    assert annotations == {f"{prefix}proxy-read-timeout": "2", f"{prefix}proxy-connect-timeout": "2s",
                           f"{prefix}limit-rps": "1"}
    assert objects["EndpointSlice"]["metadata"]["labels"] == {"kubernetes.io/service-name": "app"}
    assert objects["EndpointSlice"]["endpoints"][0]["addresses"] == ["app"]  # the stand-in resolves it
    provider = yaml.safe_load(files["traefik.yml"])["providers"]["kubernetesIngressNGINX"]
    assert provider == {"endpoint": "http://kubeapi:8080", "httpEntryPoint": "web", "proxyConnectTimeout": 2,
                        "proxyReadTimeout": 2, "proxySendTimeout": 2, "upstreamKeepaliveTimeout": 2}
    shown = {s.name: s.lab for s in hop.settings(knobs, RenderContext("ingress", 8080, "app:8000",
                                                                      TimeScale.parse("1/30")))}
    assert shown[f"{prefix}proxy-connect-timeout"] == "not a whole number: traefik drops it without a log line"
    assert shown[f"{prefix}proxy-read-timeout"] == "2 (whole seconds)"



def test_traefik_ingress_turns_configmap_keys_into_the_provider_options_that_stand_for_them():
    import yaml

    from faultlab.hops.traefik_ingress import TraefikIngressKnobs

    knobs = TraefikIngressKnobs(configmap={"upstream-keepalive-timeout": "60", "proxy-next-upstream": "error",
                                           "proxy-connect-timeout": "30", "proxy-request-buffering": "on",
                                           "retry-non-idempotent": "true"})
    ctx = RenderContext("ingress", 8080, "app:8000", TimeScale.parse("1/30"))
    hop = HOP_KINDS["traefik-ingress"]
    provider = yaml.safe_load(hop.render(knobs, ctx)["traefik.yml"])["providers"]["kubernetesIngressNGINX"]
    # Seconds scaled and whole (60 s at 1/30 is 2 s; 30 s rounds up to 1 s); the ConfigMap's connect timeout
    # replaces the provider's own.
    assert {k: v for k, v in provider.items() if k not in ("endpoint", "httpEntryPoint")} == {
        "upstreamKeepaliveTimeout": 2, "proxyNextUpstream": "error", "proxyConnectTimeout": 1,
        "proxyReadTimeout": 2, "proxySendTimeout": 2, "proxyRequestBuffering": True}
    shown = {s.name: s.lab for s in hop.settings(knobs, ctx)}
    assert shown["ConfigMap upstream-keepalive-timeout"] == "provider option upstreamKeepaliveTimeout: 2"
    assert shown["ConfigMap retry-non-idempotent"] == "not read by traefik's provider (no provider option)"
    assert knobs.longest_wait_s() == 60.0  # the read timeout's default; the ConfigMap's connect 30 s is shorter

def test_the_ingress_hop_rate_limits_like_ingress_nginx_with_its_burst_multiplier():
    prefix = "nginx.ingress.kubernetes.io/"
    effective, _ = IngressKnobs(annotations={f"{prefix}limit-rps": "2"}).effective()
    assert (effective.limit_req_rate, effective.limit_req_burst) == ("2r/s", 10)
    knobs = IngressKnobs(annotations={f"{prefix}limit-rps": "2", f"{prefix}limit-burst-multiplier": "1"})
    effective, _ = knobs.effective()
    assert (effective.limit_req_rate, effective.limit_req_burst) == ("2r/s", 2)
    text = HOP_KINDS["ingress-nginx"].render(IngressKnobs(annotations={f"{prefix}limit-rps": "2"}),
                                             RenderContext("ingress", 8080, "app:8000", TimeScale.parse("1")))
    assert "limit_req zone=faultlab_req burst=10 nodelay;" in text["nginx.conf"]
