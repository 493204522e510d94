#!/usr/bin/env python3
"""create + start + wait + remove of `busybox true` through the Docker Engine API on a unix socket; prints the median.

usage: lifecycle.py SOCKET N NETWORK_MODE  (NETWORK_MODE: none, bridge, default)
"""
import http.client
import json
import socket
import statistics
import sys
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.unix_path)


def call(conn, method, url, body=None):
    conn.request(method, url, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status >= 300:
        raise SystemExit(f"{method} {url}: {resp.status} {data[:200]!r}")
    return json.loads(data) if data else None


def main():
    sock, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    conn = UnixConnection(sock)
    body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": mode}}
    times = []
    for _ in range(n + 3):
        t = time.perf_counter()
        cid = call(conn, "POST", "/v1.41/containers/create", body)["Id"]
        call(conn, "POST", f"/v1.41/containers/{cid}/start")
        call(conn, "POST", f"/v1.41/containers/{cid}/wait")
        call(conn, "DELETE", f"/v1.41/containers/{cid}?force=1")
        times.append((time.perf_counter() - t) * 1000)
    times = times[3:]  # warm-up
    print(f"network {mode:7} n={n} median={statistics.median(times):.1f} ms "
          f"p10={statistics.quantiles(times, n=10)[0]:.1f} p90={statistics.quantiles(times, n=10)[-1]:.1f}")


main()
