"""Shared fixtures of the client tests: a docker SDK client of the engine under test (DOCKER_HOST), a user
network (the harness's dockerd has no default bridge) and unique names, with everything made removed after."""

import os
import uuid

import docker
import pytest


@pytest.fixture(scope="session")
def client():
    c = docker.DockerClient(base_url=os.environ["DOCKER_HOST"], version="auto", timeout=120)
    yield c
    c.close()


@pytest.fixture
def name():
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def network(client, name):
    net = client.networks.create(name + "-net", driver="bridge")
    yield net
    for c in client.containers.list(all=True, filters={"network": net.id}):
        c.remove(force=True)
    net.remove()


@pytest.fixture(autouse=True)
def cleanup(client):
    yield
    for c in client.containers.list(all=True, filters={"label": "berth-client-test"}):
        c.remove(force=True, v=True)
