"""The Kubernetes API stand-in (faultlab/data/apps/kubeapi.py) against the real traefik binary.

Issue 19 compares one Ingress through ingress-nginx and through traefik's kubernetesIngressNGINX
provider. The comparison is worth something only if traefik reads the Ingress itself, so this runs the
lab's traefik image with the provider pointed at the stand-in, and the lab's app behind it, on a network
of their own, and asks traefik for a route only the Ingress defines. Then issue 19's first documented
difference, reproduced: a 2 MiB body against proxy-body-size 1m gets traefik's 413 only where the
Ingress also turns request buffering on; without it the body passes (ingress-nginx answers 413 to
both: nginx checks client_max_body_size against the Content-Length first, ngx_http_core_module.c).
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from faultlab import paths
from faultlab.infra.stack import MANAGED_LABEL

pytestmark = pytest.mark.engine

SETTLE_S = 30.0  # the provider's informers sync, then providersThrottleDuration (2 s) passes


def _objects(app: str) -> list[dict[str, Any]]:
    """What `kubectl apply` would send for one app behind one Ingress, and the slice its Service gets."""
    return [
        {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "nginx"},
         "spec": {"controller": "k8s.io/ingress-nginx"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "app", "namespace": "shop"},
         "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8000, "protocol": "TCP"}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "app-1", "namespace": "shop", "labels": {"kubernetes.io/service-name": "app"}},
         "addressType": "IPv4", "ports": [{"name": "http", "port": 8000, "protocol": "TCP"}],
         "endpoints": [{"addresses": [app], "conditions": {"ready": True, "serving": True}}]},
        _ingress("shop", {"nginx.ingress.kubernetes.io/proxy-body-size": "1m"}),
        _ingress("buffered", {"nginx.ingress.kubernetes.io/proxy-body-size": "1m",
                              "nginx.ingress.kubernetes.io/proxy-request-buffering": "on"}),
    ]


def _ingress(name: str, annotations: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": "shop", "annotations": annotations},
            "spec": {"ingressClassName": "nginx", "rules": [{"host": f"{name}.example", "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "app", "port": {"number": 80}}}}]}}]}}


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


@pytest.fixture
def net(client: docker.DockerClient) -> Iterator[Net]:
    created = Net(client)
    try:
        yield created
    finally:
        created.remove()


def _ask(port: int, host: str, body: bytes = b"") -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        if body:
            connection.request("POST", "/upload", body=body, headers={"Host": host})
        else:
            connection.request("GET", "/healthz", headers={"Host": host})
        return connection.getresponse().status
    finally:
        connection.close()


def test_real_traefik_routes_an_ingress_the_stand_in_serves(image_tags, net, tmp_path):
    name = net.name
    (tmp_path / "objects.json").write_text(json.dumps(_objects(f"{name}-app")))
    tmp_path.chmod(0o755)
    mounts = {str(paths.APPS): {"bind": "/srv/apps", "mode": "ro"}}
    net.start(image_tags["python"], "app", ["gunicorn", "-b", "0.0.0.0:8000", "faultapp:app"],
           volumes=mounts)
    kubeapi = net.start(image_tags["python"], "kubeapi",
                     ["python", "kubeapi.py", "/etc/faultlab/objects.json"],
                     volumes={**mounts, str(tmp_path): {"bind": "/etc/faultlab", "mode": "ro"}})
    traefik = net.start(image_tags["traefik"], "traefik",
                     ["traefik", "--entrypoints.web.address=:8000", "--log.level=DEBUG",
                      f"--providers.kubernetesingressnginx.endpoint=http://{name}-kubeapi:8080",
                      "--providers.kubernetesingressnginx.httpentrypoint=web"],
                     ports={"8000/tcp": ("127.0.0.1", None)})
    traefik.reload()
    port = int(traefik.ports["8000/tcp"][0]["HostPort"])
    deadline, status = time.monotonic() + SETTLE_S, None
    while time.monotonic() < deadline and status != 200:
        try:
            status = _ask(port, "buffered.example")
        except OSError:
            status = None
        time.sleep(0.5)
    logs = traefik.logs().decode(errors="replace")[-3000:] + kubeapi.logs().decode(errors="replace")[-2000:]
    assert status == 200, f"traefik never routed the Ingress (last answer {status}):\n{logs}"
    assert _ask(port, "nowhere.example") == 404, logs  # a host no Ingress names: traefik's own 404
    two_mib = b"x" * (2 << 20)
    # proxy-body-size 1m is enforced only with request buffering on, which the provider leaves off
    # (traefik's middleware.go buildBuffering reads proxy-body-size only then).
    assert _ask(port, "buffered.example", two_mib) == 413, logs
    assert _ask(port, "shop.example", two_mib) == 200, logs
    requests = kubeapi.logs().decode(errors="replace")
    assert "sendInitialEvents=true" in requests, requests  # client-go 1.35's watch-list, not list+watch
