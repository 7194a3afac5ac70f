"""A test double of the few Kubernetes API calls traefik's kubernetesIngressNGINX provider makes.

No cluster can run in the lab, and translating annotations by hand would test our translation, not
traefik's. So the real traefik binary is pointed at this: `endpoint: http://kubeapi:8080` (plain http,
no token). What it serves, and why (read in traefik v3.7.9, pkg/provider/kubernetes/ingress-nginx/
client.go WatchAll, and its pinned client-go v0.35.2; docs/research/traefik-ingress-nginx-provider.md):

- lists and watches of ingresses and ingressclasses (networking.k8s.io/v1), services, secrets and
  configmaps (v1) and endpointslices (discovery.k8s.io/v1), cluster-wide or per namespace; every
  informer must sync or the provider never emits a configuration;
- `labelSelector` of the form `key!=value` or `key=value` (traefik asks `owner!=helm`);
- client-go 1.35's watch-list: a watch with `sendInitialEvents=true` gets one ADDED event per object,
  then a BOOKMARK annotated `k8s.io/initial-events-end: "true"`, then stays open for the watch's
  timeoutSeconds; a plain watch (after a list) stays open with nothing in it. Open watches never see a
  change: the file is read again when it changed, for the next list or watch, which is what the lab's
  restart of traefik after a knob change asks for.

Measured with traefik 3.7.15 (tests/scenarios/test_kubeapi.py): one list of ingressclasses?limit=1,
then six watch-list watches, and the Ingress routed within the first seconds.

Objects come from one JSON file (a list of Kubernetes objects, the lab's rendered manifests). An
EndpointSlice address that is not an IP is resolved at start, as the endpoints controller knows the
pods' IPs: the lab names the app's compose service there.

Run: python -m kubeapi OBJECTS.json [PORT]. Stdlib only: it runs in the lab's python image.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# Path -> (apiVersion, kind), for every resource the provider lists or watches.
RESOURCES = {
    ("networking.k8s.io/v1", "ingresses"): "Ingress",
    ("networking.k8s.io/v1", "ingressclasses"): "IngressClass",
    ("v1", "services"): "Service",
    ("v1", "secrets"): "Secret",
    ("v1", "configmaps"): "ConfigMap",
    ("discovery.k8s.io/v1", "endpointslices"): "EndpointSlice",
}
CLUSTER_SCOPED = {"IngressClass"}
_PATH = re.compile(r"^/(?:api/(?P<core>v1)|apis/(?P<group>[a-z0-9.-]+/v1))"
                   r"(?:/namespaces/(?P<namespace>[a-z0-9-]+))?/(?P<resource>[a-z]+)$")
RESOURCE_VERSION = "1"
WATCH_LIFETIME_S = 600.0  # client-go asks for a timeoutSeconds of 5-10 min (a random one per watch)


def load(path: str) -> list[dict[str, Any]]:
    with open(path) as objects:
        items = json.load(objects)
    for item in items:
        item.setdefault("metadata", {}).setdefault("resourceVersion", RESOURCE_VERSION)
        if item["kind"] not in CLUSTER_SCOPED:
            item["metadata"].setdefault("namespace", "default")
        if item["kind"] == "EndpointSlice":
            # One endpoint per pod: a compose service with replicas resolves to one address per container.
            item["endpoints"] = [{**endpoint, "addresses": [ip]} for endpoint in item.get("endpoints", [])
                                 for address in endpoint.get("addresses", [])[:1] for ip in _ips(address)]
    return items


def _ips(address: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(address))]
    except ValueError:
        return sorted(socket.gethostbyname_ex(address)[2])


def _selected(item: dict[str, Any], selector: str) -> bool:
    labels = item.get("metadata", {}).get("labels") or {}
    for term in filter(None, selector.split(",")):
        if "!=" in term:
            key, _, value = term.partition("!=")
            if labels.get(key) == value:
                return False
        else:
            key, _, value = term.partition("=")
            if labels.get(key) != value:
                return False
    return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # watches are chunked streams
    objects: list[dict[str, Any]] = []
    path_of_objects = ""
    read_at = 0.0  # the file's mtime when it was read
    lock = threading.Lock()

    @classmethod
    def refresh(cls) -> None:
        with cls.lock:
            changed = os.stat(cls.path_of_objects).st_mtime
            if changed != cls.read_at:
                cls.objects, cls.read_at = load(cls.path_of_objects), changed

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.refresh()
        url = urlsplit(self.path)
        match = _PATH.match(url.path)
        kind = match and RESOURCES.get((match["core"] or match["group"], match["resource"]))
        if match is None or kind is None:
            self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                             "code": 404, "message": f"the stand-in does not serve {url.path}"})
            return
        query = {name: values[-1] for name, values in parse_qs(url.query).items()}
        items = [item for item in self.objects if item["kind"] == kind
                 and (match["namespace"] is None or item["metadata"].get("namespace") == match["namespace"])
                 and _selected(item, query.get("labelSelector", ""))]
        if query.get("watch") in ("true", "1"):
            lifetime_s = min(float(query.get("timeoutSeconds") or WATCH_LIFETIME_S), WATCH_LIFETIME_S)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client went away first
                self._watch(items if query.get("sendInitialEvents") == "true" else None, kind,
                            match["core"] or match["group"], lifetime_s)
        else:
            self._send(200, {"kind": f"{kind}List", "apiVersion": match["core"] or match["group"],
                             "metadata": {"resourceVersion": RESOURCE_VERSION}, "items": items})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _watch(self, initial: list[dict[str, Any]] | None, kind: str, api_version: str, lifetime_s: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if initial is not None:
            for item in initial:
                self._event({"type": "ADDED", "object": item})
            self._event({"type": "BOOKMARK", "object": {
                "kind": kind, "apiVersion": api_version,
                "metadata": {"resourceVersion": RESOURCE_VERSION,
                             "annotations": {"k8s.io/initial-events-end": "true"}}}})
        time.sleep(lifetime_s)  # nothing changes; then the client watches again, as against a real API
        self.wfile.write(b"0\r\n\r\n")

    def _event(self, event: dict[str, Any]) -> None:
        data = json.dumps(event).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        sys.stderr.write(f"kubeapi: {self.command} {self.path} {args[1] if len(args) > 1 else ''}\n")


def serve(objects_path: str, port: int = 8080) -> ThreadingHTTPServer:
    Handler.path_of_objects = objects_path
    Handler.refresh()
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    server.daemon_threads = True  # open watches never hold the process up
    return server


if __name__ == "__main__":
    httpd = serve(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 8080)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    sys.stderr.write(f"kubeapi: serving {len(Handler.objects)} objects on :{httpd.server_port}\n")
    threading.Event().wait()
