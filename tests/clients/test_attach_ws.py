"""Attach over a WebSocket (`GET /containers/{id}/attach/ws`), as browser consoles and websocket-client users
reach it: raw output in each message (binary frames from API 1.28, text before), the client's messages as
stdin, detach keys on a terminal, and a plain HTTP error for a missing container."""

import os
import socket

import pytest
import websocket
from websocket import ABNF

LABELS = {"berth-client-test": "1"}


def connect(client, path, version=None):
    """A websocket-client connection to the engine's Unix socket (its own TCP URL would not reach it)."""
    host = os.environ["DOCKER_HOST"]
    assert host.startswith("unix://"), host
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(host[len("unix://"):])
    v = version or client.api.api_version
    return websocket.create_connection(f"ws://localhost/v{v}{path}", socket=sock, timeout=30)


def frames(ws):
    """Every data message until the engine ends the attach: [(opcode, payload)]."""
    got = []
    while True:
        try:
            op, data = ws.recv_data(control_frame=False)
        # dockerd closes the connection right after its close frame, so the reply may meet a closed socket.
        except (websocket.WebSocketConnectionClosedException, BrokenPipeError, ConnectionResetError):
            break
        if op == ABNF.OPCODE_CLOSE:
            break
        got.append((op, data))
    return got


def read_until(ws, want):
    """The output received until `want` appears in it."""
    seen = b""
    while want not in seen:
        op, data = ws.recv_data(control_frame=False)
        assert op != ABNF.OPCODE_CLOSE, f"closed before {want!r}; got {seen!r}"
        seen += data
    return seen


def exited(client, name, script):
    c = client.containers.run("busybox", ["sh", "-c", script], detach=True, name=name, labels=LABELS,
                              network_mode="none")
    assert c.wait(timeout=60)["StatusCode"] == 0
    return c


def lines(got):
    return sorted(b"".join(d for _, d in got).splitlines(keepends=True))


def test_logs_replay_raw_in_binary_frames(client, name):
    c = exited(client, name, "echo out; echo err >&2")
    got = frames(connect(client, f"/containers/{c.id}/attach/ws?logs=1&stream=0&stdout=1"))
    assert got, "no message"
    assert {op for op, _ in got} == {ABNF.OPCODE_BINARY}
    # Not multiplexed: no 8-byte stream headers. API 1.42 made the stream flags count.
    version = tuple(int(p) for p in client.api.api_version.split("."))
    assert lines(got) == ([b"out\n"] if version >= (1, 42) else [b"err\n", b"out\n"])
    # Before 1.42 every stream is attached, whatever the flags say.
    got = frames(connect(client, f"/containers/{c.id}/attach/ws?logs=1&stream=0&stdout=1", version="1.41"))
    assert lines(got) == [b"err\n", b"out\n"]


def test_old_api_versions_get_text_frames(client, name):
    c = exited(client, name, "echo old")
    got = frames(connect(client, f"/containers/{c.id}/attach/ws?logs=1&stdout=1", version="1.25"))
    assert {op for op, _ in got} == {ABNF.OPCODE_TEXT}
    assert b"".join(d for _, d in got) == b"old\n"


def test_messages_are_stdin_and_output_streams_back(client, name):
    c = client.containers.run("busybox", ["cat"], detach=True, name=name, labels=LABELS, network_mode="none",
                              stdin_open=True)
    ws = connect(client, f"/containers/{c.id}/attach/ws?stdin=1&stdout=1&stream=1")
    ws.send_binary(b"first line\n")
    assert read_until(ws, b"first line\n") == b"first line\n"
    ws.send(b"second\n", opcode=ABNF.OPCODE_TEXT)
    assert read_until(ws, b"second\n") == b"second\n"
    # Without a terminal the detach keys are ordinary input (dockerd copies them through).
    ws.send_binary(b"\x10\x11third\n")
    assert read_until(ws, b"third\n") == b"\x10\x11third\n"
    ws.close()
    c.reload()
    assert c.status == "running"


def test_detach_keys_on_a_terminal_end_the_attach(client, name):
    c = client.containers.run("busybox", ["sh"], detach=True, name=name, labels=LABELS, network_mode="none",
                              stdin_open=True, tty=True)
    ws = connect(client, f"/containers/{c.id}/attach/ws?stdin=1&stdout=1&stream=1&detachKeys=ctrl-x")
    ws.send_binary(b"echo mark$((40+2))\n")
    read_until(ws, b"mark42")
    ws.send_binary(b"\x18")
    frames(ws)  # returns when the engine ends the attach; the connection's timeout fails the test otherwise
    c.reload()
    assert c.status == "running", "detaching stopped the container"


def test_missing_container_is_a_plain_404(client):
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        connect(client, "/containers/no-such-container-ws/attach/ws?stdout=1")
    assert e.value.status_code == 404


def test_bad_detach_keys_are_refused_before_the_handshake(client, name):
    c = exited(client, name, "true")
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        connect(client, f"/containers/{c.id}/attach/ws?stdout=1&detachKeys=shift-a")
    assert e.value.status_code == 400
