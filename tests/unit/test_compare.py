"""compare-ingress without an engine: reading a user's Ingress, what it says of each annotation, the probes."""

from __future__ import annotations

from pathlib import Path

import pytest

from faultlab.errors import InputError
from faultlab.tools import compare

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ingress.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "phrase"), [
    ("apiVersion: v1\nkind: Service\nmetadata: {name: web}\n", "not an Ingress (kind: Service)"),
    ("- a\n- b\n", "not an Ingress (kind: list)"),
    ("apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: web}\n", "removed in Kubernetes 1.22"),
    ("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\n  annotations:\n"
     "    nginx.ingress.kubernetes.io/proxy-read-timeout: 600\n", "600 is not a string"),
    ("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  annotations: [a]\n", "not a mapping"),
])
def test_what_is_not_an_ingress_is_refused_with_its_reason(tmp_path, text, phrase):
    with pytest.raises(InputError) as caught:
        compare.read(_write(tmp_path, text))
    assert phrase in caught.value.message


def test_the_example_ingresses_read_and_say_what_each_side_reads():
    shop = compare.read(ROOT / "examples" / "ingress-shop.yaml")
    assert shop.name == "storefront" and len(shop.annotations) == 13
    rows = {row.name: row for row in compare.inventory(shop)}
    assert not rows["client-header-buffer-size"].traefik_reads  # not in the provider's annotations.go
    assert rows["enable-cors"].traefik_reads and rows["enable-cors"].ingress_nginx_reads
    assert not rows["enable-cors"].lab_models
    assert rows["proxy-body-size"].lab_models and rows["proxy-body-size"].probe == "upload"
    said = compare.notes(shop)
    assert any(note.startswith("configuration-snippet: traefik skips the whole Ingress") for note in said)
    assert any(note.startswith("proxy-connect-timeout: '10s' is not a whole number") for note in said)


def test_the_probes_are_sized_from_the_annotations():
    path = ROOT / "examples" / "ingress.yaml"
    plan = compare.plan(compare.read(path), path)
    assert plan.twin is not None and plan.twin.topology.name == "traefik-ingress"
    upload, slow, header, post, race, burst = plan.steps
    assert upload.traffic.size == (8 << 20) + (1 << 20)  # proxy-body-size 8m, and a MiB more
    assert slow.traffic.app_work == 150 and post.traffic.app_work == 150  # proxy-read-timeout 120, and 30 s more
    assert post.traffic.method == "POST"
    assert burst.traffic.requests == compare.BURST and burst.step.name == "burst"  # last: it drains the bucket
    assert header.knobs["ingress"].annotations == upload.knobs["ingress"].annotations  # the Ingress, unchanged
    # The race runs without the Ingress's rate limit (40 POSTs at once would meet it), the burst with it again.
    limit = "nginx.ingress.kubernetes.io/limit-rps"
    assert limit not in race.knobs["ingress"].annotations and race.knobs["app"].worker_class == "gthread"
    assert burst.knobs["ingress"].annotations == upload.knobs["ingress"].annotations
    assert race.traffic.batches == compare.RACE_BURSTS
    assert "upstreamKeepaliveTimeout" in race.step.twin_fix and "proxy-request-buffering" in upload.step.twin_fix


def test_with_a_snippet_annotation_every_fix_starts_with_dropping_it():
    path = ROOT / "examples" / "ingress-shop.yaml"
    plan = compare.plan(compare.read(path), path)
    assert {step.step.twin_fix for step in plan.steps} == {
        "first drop the *-snippet annotations: traefik skips the whole Ingress"}
