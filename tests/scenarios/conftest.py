"""Real-engine tests: they need a Docker engine and the lab's images, and fail loudly without them
(`make test` provides both; skipping would let a broken setup pass as green)."""

from __future__ import annotations

import docker
import pytest

from faultlab.infra import engine, images


@pytest.fixture(scope="session")
def client() -> docker.DockerClient:
    return engine.connect()


@pytest.fixture(scope="session")
def image_tags(client: docker.DockerClient) -> dict[str, str]:
    return images.ensure(client, print)


def leftovers(client: docker.DockerClient, project: str) -> list[str]:
    label = {"label": f"com.docker.compose.project={project}"}
    return ([c.name for c in client.containers.list(all=True, filters=label)]
            + [n.name for n in client.networks.list(filters=label)]
            + [v.name for v in client.volumes.list(filters=label)])
