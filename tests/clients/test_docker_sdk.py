"""The Docker SDK for Python (PyPI `docker`) used as its users use it, against the engine in DOCKER_HOST."""

import io
import tarfile
import time

import docker
import pytest

LABELS = {"berth-client-test": "1"}


def run(client, *args, **kw):
    kw.setdefault("labels", LABELS)
    kw.setdefault("network_mode", "none")
    return client.containers.run("busybox", *args, **kw)


def test_ping_version_info(client):
    assert client.ping()
    assert client.version()["ApiVersion"]
    info = client.info()
    assert info["Swarm"]["LocalNodeState"] == "inactive"
    assert "Images" in info and "Containers" in info


def test_run_returns_output(client):
    out = run(client, ["sh", "-c", "echo out; echo err >&2"], remove=True, stderr=True)
    assert b"out\n" in out and b"err\n" in out


def test_run_failure_raises_container_error(client):
    with pytest.raises(docker.errors.ContainerError) as e:
        run(client, ["sh", "-c", "exit 3"], remove=True)
    assert e.value.exit_status == 3


def test_missing_image_raises_image_not_found(client):
    with pytest.raises(docker.errors.ImageNotFound):
        client.containers.create("nosuch-image:1")


def test_detached_lifecycle_and_attrs(client, name):
    c = run(client, ["sleep", "300"], detach=True, name=name, environment={"A": "1"})
    c.reload()
    assert c.status == "running"
    a = c.attrs
    assert a["Name"] == "/" + name
    assert "A=1" in a["Config"]["Env"]
    assert a["HostConfig"]["LogConfig"]["Type"] == "json-file"
    assert a["HostConfig"]["NetworkMode"] == "none"
    assert isinstance(a["Mounts"], list)
    assert a["State"]["Pid"] > 0
    c.pause()
    c.reload()
    assert c.status == "paused"
    c.unpause()
    c.stop(timeout=1)
    assert c.wait()["StatusCode"] in (137, 143)
    c.reload()
    assert c.status == "exited"
    c.remove()
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(name)


def test_exec_run(client):
    c = run(client, ["sleep", "300"], detach=True)
    code, out = c.exec_run(["sh", "-c", "echo hi; exit 4"])
    assert code == 4 and out == b"hi\n"
    code, (so, se) = c.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
    assert (so, se) == (b"o\n", b"e\n")
    code, out = c.exec_run("env", environment={"X": "y"}, workdir="/tmp")
    assert b"X=y" in out
    c.remove(force=True)


def test_logs_with_flags(client):
    c = run(client, ["sh", "-c", "for i in 1 2 3; do echo line$i; done; echo err >&2"], detach=True)
    assert c.wait()["StatusCode"] == 0
    # stdout and stderr are two pipes: their order relative to each other in the log is not defined.
    assert sorted(c.logs().splitlines()) == [b"err", b"line1", b"line2", b"line3"]
    assert c.logs(stderr=False) == b"line1\nline2\nline3\n"
    assert c.logs(stdout=False) == b"err\n"
    # tail counts the lines of both streams (as dockerd does), whichever came last.
    assert len(c.logs(tail=2).splitlines()) == 2
    stamped = c.logs(timestamps=True, stderr=False).decode().splitlines()
    assert len(stamped) == 3 and stamped[0].endswith(" line1") and "T" in stamped[0]
    assert c.logs(since=int(time.time()) + 60) == b""
    assert list(c.logs(stream=True, follow=True)) != []


def test_list_filters_and_names(client, name):
    c = run(client, ["sleep", "300"], detach=True, name=name, labels={**LABELS, "role": "x"})
    assert [x.name for x in client.containers.list(filters={"label": "role=x"})] == [name]
    assert client.containers.list(filters={"label": "role=nope"}) == []
    assert client.containers.get(c.id[:12]).name == name
    c.remove(force=True)


def test_top_stats_update(client):
    c = run(client, ["sleep", "300"], detach=True)
    top = c.top()
    assert top["Titles"] and any("sleep" in " ".join(p) for p in top["Processes"])
    stats = c.stats(stream=False)
    assert "memory_stats" in stats and "cpu_stats" in stats
    c.update(mem_limit="64m", memswap_limit="128m", cpu_shares=512)
    c.reload()
    assert c.attrs["HostConfig"]["Memory"] == 64 * 1024 * 1024
    assert c.attrs["HostConfig"]["CpuShares"] == 512
    c.remove(force=True)


def test_archive_put_get_and_export(client):
    c = run(client, ["sleep", "300"], detach=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = b"hello\n"
        info = tarfile.TarInfo("greeting.txt")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    assert c.put_archive("/tmp", buf.getvalue())
    stream, stat = c.get_archive("/tmp/greeting.txt")
    assert stat["name"] == "greeting.txt" and stat["size"] == 6
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as t:
        assert t.extractfile("greeting.txt").read() == b"hello\n"
    exported = io.BytesIO(b"".join(c.export()))
    with tarfile.open(fileobj=exported) as t:
        names = {n.lstrip("./") for n in t.getnames()}
    assert "bin/busybox" in names and "tmp/greeting.txt" in names
    c.remove(force=True)


def test_images(client, name):
    img = client.images.get("busybox")
    assert "busybox:latest" in img.tags
    assert img.attrs["Os"] == "linux"
    assert img.tag(name, "v1")
    assert f"{name}:v1" in client.images.get(f"{name}:v1").tags
    client.images.remove(f"{name}:v1")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(f"{name}:v1")
    assert any("busybox:latest" in i.tags for i in client.images.list())
    assert "ImagesDeleted" in client.images.prune()


def test_import_image(client, name):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = b"imported\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    client.api.import_image_from_data(buf.getvalue(), repository=name, tag="v1", changes=['CMD ["/x"]'])
    img = client.images.get(f"{name}:v1")
    assert img.attrs["Config"]["Cmd"] == ["/x"]
    client.images.remove(f"{name}:v1")


def test_volumes_and_prunes(client, name):
    v = client.volumes.create(name, labels={"k": "v"})
    assert client.volumes.get(name).attrs["Labels"] == {"k": "v"}
    c = run(client, ["sh", "-c", "echo data > /v/f"], volumes={name: {"bind": "/v", "mode": "rw"}}, detach=True)
    assert c.wait()["StatusCode"] == 0
    out = run(client, ["cat", "/v/f"], volumes={name: {"bind": "/v", "mode": "ro"}}, remove=True)
    assert out == b"data\n"
    pruned = client.containers.prune(filters={"label": "berth-client-test"})
    assert c.id in (pruned["ContainersDeleted"] or [])
    v.remove()
    assert name not in [x.name for x in client.volumes.list()]
    assert "VolumesDeleted" in client.volumes.prune()
    df = client.df()
    assert {"Images", "Containers", "Volumes", "LayersSize"} <= set(df)


def test_networks_and_connect(client, network, name):
    c = client.containers.run("busybox", ["sleep", "300"], detach=True, name=name, labels=LABELS, network=network.name)
    c.reload()
    ep = c.attrs["NetworkSettings"]["Networks"][network.name]
    assert ep["IPAddress"] and ep["MacAddress"] is not None and "Aliases" in ep
    code, out = c.exec_run(["hostname"])
    assert code == 0
    c.remove(force=True)


def test_swarm_calls_fail_like_a_node_outside_a_swarm(client):
    with pytest.raises(docker.errors.APIError) as e:
        client.services.list()
    assert e.value.status_code == 503
    assert "not a swarm manager" in str(e.value)
    assert client.plugins.list() == []
