"""testcontainers-python (PyPI `testcontainers`) as its users write tests, against the engine in DOCKER_HOST:
`DockerContainer` with ports, env, volumes, wait strategies, exec and logs, and the Compose module driving
berth's CLI (BERTH_BIN; a two-line `compose` shim stands in for `docker compose`)."""

import os
import stat
import time
import urllib.request

import pytest
from testcontainers.compose import DockerCompose
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network
from testcontainers.core.waiting_utils import wait_for_logs

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
LABELS = {"berth-client-test": "1"}


def busybox():
    return DockerContainer("busybox").with_kwargs(labels=LABELS)


def test_container_env_logs_exec():
    with busybox().with_env("GREETING", "hello").with_command(
        ["sh", "-c", "echo $GREETING ready; exec sleep 300"]
    ).with_kwargs(network_mode="none") as c:
        wait_for_logs(c, "hello ready", timeout=30)
        code, out = c.exec(["sh", "-c", "echo $GREETING from exec"])
        assert code == 0 and out == b"hello from exec\n"
        stdout, stderr = c.get_logs()
        assert stdout == b"hello ready\n" and stderr == b""


def test_container_port_is_reachable():
    with Network() as net:
        web = (
            busybox()
            .with_command(["sh", "-c", "mkdir /tmp/www; echo served > /tmp/www/index.html; exec httpd -f -p 8080 -h /tmp/www"])
            .with_exposed_ports(8080)
            .with_network(net)
            .with_kwargs(labels=LABELS)
        )
        with web as c:
            port = c.get_exposed_port(8080)
            url = f"http://127.0.0.1:{port}/index.html"
            body = None
            for _ in range(100):
                try:
                    body = urllib.request.urlopen(url, timeout=2).read()
                    break
                except OSError:
                    time.sleep(0.1)
            assert body == b"served\n"


def test_volume_mapping(tmp_path):
    (tmp_path / "in.txt").write_text("from host\n")
    with busybox().with_volume_mapping(str(tmp_path), "/data", "rw").with_command(
        ["sh", "-c", "cat /data/in.txt; echo written > /data/out.txt; echo done"]
    ).with_kwargs(network_mode="none") as c:
        wait_for_logs(c, "done", timeout=30)
        assert c.get_logs()[0] == b"from host\ndone\n"
    assert (tmp_path / "out.txt").read_text() == "written\n"


@pytest.fixture
def berth_compose_shim(tmp_path):
    berth = os.environ.get("BERTH_BIN")
    if not berth:
        pytest.skip("BERTH_BIN not set")
    shim = tmp_path / "berth-compose"
    shim.write_text(f'#!/bin/sh\n[ "$1" = compose ] && shift\nexec "{berth}" "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    return str(shim)


def test_compose_module(tmp_path, berth_compose_shim):
    (tmp_path / "compose.yaml").write_text(
        "services:\n"
        "  app:\n"
        "    image: busybox\n"
        "    command: [sh, -c, 'echo compose-up; exec sleep 300']\n"
        "    labels: {berth-client-test: '1'}\n"
    )
    compose = DockerCompose(tmp_path, docker_command_path=berth_compose_shim, wait=False)
    with compose:
        c = compose.get_container("app")
        assert c.Service == "app"
        out, _, code = compose.exec_in_container(["echo", "inside"], service_name="app")
        assert (out.strip(), code) == ("inside", 0)
        stdout, _ = compose.get_logs("app")
        assert "compose-up" in stdout
