"""A bounded schemathesis run over the Engine API description against one engine socket.

Usage: run.py SOCKET TMPDIR SECONDS SPEC. schemathesis speaks HTTP over TCP, so a forwarder on 127.0.0.1
(inside the caller's network namespace) relays to the unix socket. Prints one JSON summary line: requests,
network errors, statuses, and every 5xx with its operation and message."""

import collections
import json
import os
import socket
import subprocess
import sys
import threading

sock_path, tmp, seconds, spec = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


def pipe(a, b):
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(listener):
    while True:
        client, _ = listener.accept()
        upstream = socket.socket(socket.AF_UNIX)
        upstream.connect(sock_path)
        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()


listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(64)
port = listener.getsockname()[1]
threading.Thread(target=serve, args=(listener,), daemon=True).start()

log = os.path.join(tmp, "responses.ndjson")
env = dict(os.environ, FUZZ_TMP=tmp, FUZZ_LOG=log,
           SCHEMATHESIS_HOOKS=os.path.join(os.path.dirname(os.path.abspath(__file__)), "hooks.py"))
cmd = [
    os.path.join(os.path.dirname(sys.executable), "schemathesis"), "run", spec,
    "--url", f"http://127.0.0.1:{port}/v1.47",
    "--max-time", str(seconds), "--workers", "2",
    "--checks", "not_a_server_error",
    "--request-timeout", "5", "--max-failures", "100000",
    "--suppress-health-check", "all", "--warnings", "off",
    "--exclude-path-regex", "^/(session|grpc)$",
]
# BERTH_FUZZ_SEED replays a run (schemathesis prints the seed it chose otherwise).
if os.environ.get("BERTH_FUZZ_SEED"):
    cmd += ["--seed", os.environ["BERTH_FUZZ_SEED"]]
run = subprocess.run(cmd, env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=seconds + 300)
tail = run.stdout.decode("utf-8", "replace")[-3000:]

entries = []
if os.path.exists(log):
    with open(log) as f:
        entries = [json.loads(line) for line in f if line.strip()]
statuses = collections.Counter(e["status"] for e in entries)
errors = collections.Counter((e["op"], e["status"], e["message"][:160]) for e in entries if e["status"] >= 500)
print(json.dumps({
    "requests": sum(1 for e in entries if e["status"]),
    "network_errors": statuses.pop(0, 0),
    "statuses": {str(k): v for k, v in sorted(statuses.items())},
    "server_errors": [{"op": op, "status": s, "message": m, "count": n} for (op, s, m), n in errors.items()],
    "schemathesis_tail": tail,
}))
