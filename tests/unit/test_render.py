"""Knobs → each server's own configuration, with the time scale applied."""

from lab.render import HOP_KINDS, RenderContext
from lab.render.gunicorn import GunicornKnobs
from lab.render.ingress import IngressKnobs
from lab.render.nginx import NginxKnobs
from lab.units import TimeScale

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
