"""`lab images save/load`: one file carries every image the lab needs to a machine without a registry.

The engine and its images are shared while these tests run, so the images are never removed from it
by default. Instead the bundle is loaded into a second, private and empty dockerd (its own data root
and socket, no bridge, no iptables: it cannot touch the shared engine's networks), where the lab must
find every image without building and each image's programs must run. The full round trip on the
real engine (remove the images, load the bundle, run a scenario with no build) removes the shared
images, so it runs only with FAULTLAB_BUNDLE_ROUNDTRIP=1 on a machine where nothing else uses them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from faultlab.infra import bundle, images
from faultlab.infra.engine import system_program
from faultlab.model import scenario
from faultlab.run import runner
from faultlab.run.events import ImageProgress, Recorder

pytestmark = pytest.mark.engine

# A program of each image, run with no network: the loaded layers are whole, not just the tags.
SMOKE = {
    "nginx": ["nginx", "-v"],
    "python": ["sh", "-c", "python -c 'import flask, gunicorn, uvicorn, a2wsgi' && uwsgi --version"],
    "traefik": ["traefik", "version"],
    "haproxy": ["haproxy", "-v"],
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, client: docker.DockerClient,
          image_tags: dict[str, str]) -> Iterator[bundle.BundleInfo]:
    info = bundle.save(client, tmp_path_factory.mktemp("bundle") / "faultlab-bundle.tar", print)
    print(f"bundle: {info.size_bytes / 1e6:.0f} MB, saved in {info.seconds:.1f} s")
    yield info
    info.path.unlink()  # most of a gigabyte; pytest would keep it with its last three tmp directories


def test_the_bundle_holds_the_base_and_every_image_under_its_hash_tag(saved, client, image_tags):
    base = images.base_image(client, print)
    assert sorted(bundle.contents(saved.path)) == sorted([base, *image_tags.values()])
    with tarfile.open(saved.path) as archive:
        member = archive.extractfile("manifest.json")
        assert member is not None
        manifest = json.load(member)
    configs = {tag: entry["Config"] for entry in manifest for tag in entry["RepoTags"]}
    for name in [base, *image_tags.values()]:
        image_id = client.images.get(name).id.removeprefix("sha256:")
        assert image_id in configs[name], f"{name} in the bundle is not the image this engine runs"


@pytest.fixture(scope="module")
def empty_engine() -> Iterator[docker.DockerClient]:
    """A private dockerd with an empty data root, stopped (by its pid) and removed afterwards."""
    dockerd = system_program("dockerd")
    if os.geteuid() != 0 or dockerd is None:
        pytest.skip("loading into an empty engine starts a private dockerd: needs root and dockerd")
    root = Path(tempfile.mkdtemp(prefix="faultlab-empty-engine-"))
    socket = root / "docker.sock"
    # A bridge of its own: with --bridge=none dockerd deletes the host's docker0 on start (shared by
    # the host's real engine, whose builds then fail with "could not find bridge docker0").
    bridge = f"flb{os.getpid() % 100000}"
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    with open(root / "dockerd.log", "wb") as log:
        process = subprocess.Popen(
            [dockerd, f"--data-root={root / 'data'}", f"--exec-root={root / 'exec'}",
             f"--pidfile={root / 'dockerd.pid'}", f"--host=unix://{socket}",
             f"--bridge={bridge}", "--iptables=false", "--ip-masq=false"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                client = docker.DockerClient(base_url=f"unix://{socket}", timeout=300)
                break
            except docker.errors.DockerException:
                assert process.poll() is None, (root / "dockerd.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "the private dockerd did not answer within 60 s"
                time.sleep(0.5)
        assert client.images.list() == []
        yield client
        client.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        subprocess.run(["ip", "link", "delete", bridge], check=False)
        shutil.rmtree(root, ignore_errors=True)


def remove_lab_images(client: docker.DockerClient, tags: dict[str, str]) -> None:
    """Untag the lab's images and its base until the lab's images are gone (a real `docker rmi`, not forced:
    an image a container still uses stays, and this fails)."""
    base = images.base_image(client, print)
    lab_images = [client.images.get(tag) for tag in tags.values()]
    for image in [*lab_images, client.images.get(base)]:  # the base last: the others are its children
        for tag in image.tags:  # every tag (hash, latest): an image goes with its last one
            client.images.remove(tag)
    for image in lab_images:
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get(image.id)
    with pytest.raises(docker.errors.ImageNotFound):  # its id may stay as the parent of older builds
        client.images.get(base)


def test_an_empty_engine_gets_everything_from_the_bundle_and_builds_nothing(saved, client, empty_engine):
    said: list[str] = []
    info = bundle.load(empty_engine, saved.path, said.append)
    print(f"loaded {info.size_bytes / 1e6:.0f} MB into an empty engine in {info.seconds:.1f} s")

    tags = images.ensure(empty_engine, said.append)
    assert not [line for line in said if "building" in line or "debootstrap" in line], said
    for name, tag in tags.items():
        assert empty_engine.images.get(tag).id == client.images.get(tag).id
        assert empty_engine.images.get(f"faultlab/{name}:latest").id == client.images.get(tag).id
        output = empty_engine.containers.run(tag, SMOKE[name], network_mode="none", remove=True, stderr=True)
        assert output.strip(), f"{tag}: {SMOKE[name]} printed nothing"

    # The round trip on this private engine: remove everything, load again, nothing to build.
    remove_lab_images(empty_engine, tags)
    assert empty_engine.images.list() == []
    bundle.load(empty_engine, saved.path, said.append)
    assert images.ensure(empty_engine, said.append) == tags
    assert not [line for line in said if "building" in line or "debootstrap" in line], said


@pytest.mark.skipif(os.environ.get("FAULTLAB_BUNDLE_ROUNDTRIP") != "1",
                    reason="removes the shared images: set FAULTLAB_BUNDLE_ROUNDTRIP=1 where nothing else uses them")
def test_round_trip_on_this_engine_remove_load_and_run_without_a_build(saved, client, image_tags):
    remove_lab_images(client, image_tags)
    bundle.load(client, saved.path, print)

    recorder = Recorder()
    result = runner.run(scenario.load("502-connection-refused"), [recorder])
    progress = [event.text for event in recorder.events if isinstance(event, ImageProgress)]
    assert not [text for text in progress if "building" in text], progress
    assert result.ok
