"""The Kubernetes API stand-in (faultlab/data/apps/kubeapi.py) against the real traefik binary.

Issue 19 compares one Ingress through ingress-nginx and through traefik's kubernetesIngressNGINX
provider. The comparison is worth something only if traefik reads the Ingress itself, so this runs the
lab's traefik image with the provider pointed at the stand-in, and the lab's app behind it, on a network
of their own, and asks traefik for a route only the Ingress defines. Then the differences issue 19
lists, each on an Ingress of its own, as traefik 3.7.15 shows them over the wire (the provider's
read and write timeouts are not in its configuration dump, so only behaviour tells).
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import docker
import pytest

from faultlab import paths
from faultlab.infra.stack import MANAGED_LABEL

pytestmark = pytest.mark.engine

# listen(0) takes one connection into the accept queue; its own fills it, and nothing is ever accepted.
STUCK = ("import socket, time; s = socket.socket(); s.bind(('0.0.0.0', 8000)); s.listen(0); "
         "c = socket.create_connection(('127.0.0.1', 8000)); time.sleep(3600)")
PROVIDER_CONNECT_S = 4  # the provider's own proxyConnectTimeout (60 s by default), short for the test
SETTLE_S = 30.0  # the provider's informers sync, then providersThrottleDuration (2 s) passes


def _objects(app: str, stuck: str) -> list[dict[str, Any]]:
    """What `kubectl apply` would send for one app behind a few Ingresses, and the slice its Service gets."""
    prefix = "nginx.ingress.kubernetes.io/"
    return [
        {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "nginx"},
         "spec": {"controller": "k8s.io/ingress-nginx"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "app", "namespace": "shop"},
         "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8000, "protocol": "TCP"}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "app-1", "namespace": "shop", "labels": {"kubernetes.io/service-name": "app"}},
         "addressType": "IPv4", "ports": [{"name": "http", "port": 8000, "protocol": "TCP"}],
         "endpoints": [{"addresses": [app], "conditions": {"ready": True, "serving": True}}]},
        # A pod whose listen queue is full: the kernel drops the SYN, so a connect waits for its timeout.
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "stuck", "namespace": "shop"},
         "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8000, "protocol": "TCP"}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "stuck-1", "namespace": "shop", "labels": {"kubernetes.io/service-name": "stuck"}},
         "addressType": "IPv4", "ports": [{"name": "http", "port": 8000, "protocol": "TCP"}],
         "endpoints": [{"addresses": [stuck], "conditions": {"ready": True, "serving": True}}]},
        # Two pods behind one Service, the stuck one first: where does a retry go?
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "mixed", "namespace": "shop"},
         "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8000, "protocol": "TCP"}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "mixed-1", "namespace": "shop", "labels": {"kubernetes.io/service-name": "mixed"}},
         "addressType": "IPv4", "ports": [{"name": "http", "port": 8000, "protocol": "TCP"}],
         "endpoints": [{"addresses": [address], "conditions": {"ready": True, "serving": True}}
                       for address in (stuck, app)]},
        _ingress("mixed", {f"{prefix}proxy-connect-timeout": "1"}, service="mixed"),
        _ingress("connect-2", {f"{prefix}proxy-connect-timeout": "2"}, service="stuck"),
        _ingress("connect-2s", {f"{prefix}proxy-connect-timeout": "2s"}, service="stuck"),
        _ingress("shop", {f"{prefix}proxy-body-size": "1m"}),
        _ingress("buffered", {f"{prefix}proxy-body-size": "1m", f"{prefix}proxy-request-buffering": "on"}),
        _ingress("limited", {f"{prefix}limit-rps": "1"}),
        _ingress("small-buffer", {f"{prefix}proxy-buffer-size": "4k"}),
        _ingress("impatient", {f"{prefix}proxy-read-timeout": "1"}),
    ]


def _ingress(name: str, annotations: dict[str, str], service: str = "app") -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": "shop", "annotations": annotations},
            "spec": {"ingressClassName": "nginx", "rules": [{"host": f"{name}.example", "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": service, "port": {"number": 80}}}}]}}]}}


class Net:
    """A network of the lab's own, and the containers started on it (they find each other by name)."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.name = f"faultlab-kubeapi-{uuid.uuid4().hex[:8]}"
        self.network = client.networks.create(self.name, labels={MANAGED_LABEL: "true"})
        self.containers: list[Any] = []

    def start(self, image: str, name: str, command: list[str], **options: Any) -> Any:
        container = self.client.containers.run(image, command, detach=True, name=f"{self.name}-{name}",
                                               network=self.name, labels={MANAGED_LABEL: "true"}, **options)
        self.containers.append(container)
        return container

    def remove(self) -> None:
        for container in self.containers:
            container.remove(force=True)
        self.network.remove()


@dataclass
class Stack:
    port: int  # traefik's web entry point on 127.0.0.1
    traefik: Any
    kubeapi: Any

    def logs(self) -> str:
        return (self.traefik.logs().decode(errors="replace")[-3000:]
                + self.kubeapi.logs().decode(errors="replace")[-2000:])

    def ask(self, host: str, path: str = "/healthz", body: bytes = b"") -> tuple[int, float]:
        """The status and the seconds it took; a POST when there is a body."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        started = time.monotonic()
        try:
            connection.request("POST" if body else "GET", path, body=body or None, headers={"Host": host})
            response = connection.getresponse()
            response.read()
            return response.status, time.monotonic() - started
        finally:
            connection.close()


@pytest.fixture(scope="module")
def stack(client: docker.DockerClient, image_tags: dict[str, str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The lab's app, the stand-in serving the objects above, and traefik reading them, once routed."""
    folder = tmp_path_factory.mktemp("kubeapi")
    folder.chmod(0o755)
    net = Net(client)
    try:
        (folder / "objects.json").write_text(json.dumps(_objects(f"{net.name}-app", f"{net.name}-stuck")))
        mounts = {str(paths.APPS): {"bind": "/srv/apps", "mode": "ro"}}
        net.start(image_tags["python"], "app", ["gunicorn", "-b", "0.0.0.0:8000", "faultapp:app"], volumes=mounts)
        net.start(image_tags["python"], "stuck", ["python", "-c", STUCK])
        kubeapi = net.start(image_tags["python"], "kubeapi", ["python", "kubeapi.py", "/etc/faultlab/objects.json"],
                            volumes={**mounts, str(folder): {"bind": "/etc/faultlab", "mode": "ro"}})
        traefik = net.start(image_tags["traefik"], "traefik",
                            ["traefik", "--entrypoints.web.address=:8000", "--log.level=DEBUG",
                             f"--providers.kubernetesingressnginx.endpoint=http://{net.name}-kubeapi:8080",
                             "--providers.kubernetesingressnginx.httpentrypoint=web",
                             f"--providers.kubernetesingressnginx.proxyconnecttimeout={PROVIDER_CONNECT_S}"],
                            ports={"8000/tcp": ("127.0.0.1", None)})
        traefik.reload()
        routed = Stack(int(traefik.ports["8000/tcp"][0]["HostPort"]), traefik, kubeapi)
        deadline, status = time.monotonic() + SETTLE_S, None
        while time.monotonic() < deadline and status != 200:
            try:
                status, _ = routed.ask("shop.example")
            except OSError:
                status = None
            time.sleep(0.5)
        assert status == 200, f"traefik never routed the Ingress (last answer {status}):\n{routed.logs()}"
        yield routed
    finally:
        net.remove()


def test_traefik_syncs_from_the_stand_in_and_routes_only_what_an_ingress_names(stack):
    requests = stack.kubeapi.logs().decode(errors="replace")
    assert "sendInitialEvents=true" in requests, requests  # client-go 1.35's watch-list, not list+watch
    assert stack.ask("nowhere.example")[0] == 404, stack.logs()  # traefik's own 404


def test_proxy_body_size_holds_only_with_request_buffering_on(stack):
    """ingress-nginx answers 413 to both: nginx checks client_max_body_size against the Content-Length
    before any buffering (ngx_http_core_find_config_handler, src/http/ngx_http_core_module.c). traefik
    reads proxy-body-size only for a request-buffering middleware (middleware.go buildBuffering)."""
    two_mib = b"x" * (2 << 20)
    assert stack.ask("buffered.example", "/upload", two_mib)[0] == 413, stack.logs()
    assert stack.ask("shop.example", "/upload", two_mib)[0] == 200, stack.logs()


def test_limit_rps_rejects_with_429(stack):
    """traefik's RateLimit answers 429; ingress-nginx's limit_req answers 503 (LimitReqStatusCode in
    internal/ingress/controller/config/config.go). Burst = limit-rps x limit-burst-multiplier 5, and a wait
    up to 1/(2 x rate) is a delay, not a rejection (measured: 5 x 200, then 15 x 429, 5 of 5 runs)."""
    statuses = Counter(stack.ask("limited.example")[0] for _ in range(20))
    assert statuses[429] >= 1 and set(statuses) <= {200, 429}, statuses


def test_proxy_buffer_size_does_not_bound_response_headers(stack):
    """16 KiB of Set-Cookie headers through proxy-buffer-size 4k: ingress-nginx's proxy_buffer_size holds
    the response head, so nginx answers 502 'upstream sent too big header' (502-upstream-header-too-big);
    traefik's annotation sizes response-body buffering only, and Go reads the head whole."""
    assert stack.ask("small-buffer.example", "/session?cookies=4&cookie_bytes=4096")[0] == 200, stack.logs()


def test_proxy_read_timeout_answers_504(stack):
    """proxy-read-timeout 1 against 2 s of work: a 504 after about a second, as on ingress-nginx."""
    status, seconds = stack.ask("impatient.example", "/slow?work_s=2")
    assert status == 504 and 0.9 <= seconds < 2.0, (status, seconds, stack.logs())


def test_proxy_connect_timeout_takes_whole_seconds_and_drops_a_unit_silently(stack):
    """A pod that never accepts: traefik's connect timeout, times the retry middleware's 3 attempts.
    The provider reads the annotation with strconv.Atoi and keeps nothing when that fails, without a log
    line (parseIngressConfig, pkg/provider/kubernetes/ingress-nginx/annotations.go), so "2s" falls back to
    the provider's proxyConnectTimeout. ingress-nginx also refuses "2s" but logs a warning and keeps the
    ConfigMap's value (5 s; see IngressKnobs.rejected). Measured 5 of 5 runs: 6.005-6.007 s and 12.01 s."""
    with ThreadPoolExecutor(2) as pool:  # side by side: the test waits for the longer one only
        whole, with_unit = pool.map(stack.ask, ("connect-2.example", "connect-2s.example"))
    assert whole[0] == 504 and 5.9 <= whole[1] < 7.0, (whole, stack.logs())
    low = 3 * PROVIDER_CONNECT_S
    assert with_unit[0] == 504 and low - 0.1 <= with_unit[1] < low + 1.5, (with_unit, stack.logs())
    complaints = [line for line in stack.traefik.logs().decode(errors="replace").splitlines()
                  if ("WRN" in line or "ERR" in line) and ("connect-2s" in line or "connect-timeout" in line)]
    assert complaints == [], complaints


def test_a_connect_retry_goes_to_whichever_pod_the_balancer_picks_next(stack):
    """Two pods, one that never accepts, proxy-connect-timeout 1: each failed attempt costs 1 s, so a
    request's time counts the attempts that went to the stuck pod (0 s: the live pod at once; 1 s: stuck,
    then live; 2 s: stuck twice; 504 after 3 s: stuck three times). traefik's retry middleware calls the
    load balancer again for each attempt (pkg/middlewares/retry/retry.go), and its weighted round robin
    does not remember which server failed (pkg/server/service/loadbalancer/wrr). ingress-nginx's Lua
    round robin does not either (rootfs/etc/nginx/lua/balancer/round_robin.lua, docs/fidelity.md).
    Measured, 6 runs: one at a time, a retry always went to the other pod (the rotation alternates: 9-10 of 10
    requests took 1 s, the others 0 s); 8 at a time, the other requests' picks come between, and 5-7 of 24
    went to the stuck pod twice or three times (2-4 of them 504 after three attempts there)."""
    def stuck_tries(_: int) -> tuple[int, int]:
        status, seconds = stack.ask("mixed.example")
        return status, int(seconds + 0.5)

    sequential = Counter(map(stuck_tries, range(10)))
    with ThreadPoolExecutor(8) as pool:
        concurrent = Counter(pool.map(stuck_tries, range(24)))
    assert set(sequential) | set(concurrent) <= {(200, 0), (200, 1), (200, 2), (504, 3)}, (sequential, concurrent)
    assert set(sequential) <= {(200, 0), (200, 1)} and sequential[200, 0] <= 1, sequential
    assert concurrent[200, 2] + concurrent[504, 3] >= 1, concurrent  # the same pod again: not guaranteed to differ
