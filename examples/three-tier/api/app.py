"""three-tier API: counts visits in the redis cache and answers JSON.

Standard library only (no pip in the fixture image): a tiny RESP client over a socket talks to redis.
"""

import json
import os
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REDIS = (os.environ.get("REDIS_HOST", "cache"), int(os.environ.get("REDIS_PORT", "6379")))
GREETING = os.environ.get("GREETING", "hello")


def encode(args):
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def read_reply(f):
    """Reads one RESP reply (simple string, error, integer, bulk string, array)."""
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError("redis: " + rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2].decode()
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [read_reply(f) for _ in range(n)]
    raise RuntimeError("redis: unexpected reply %r" % line)


def redis(*commands):
    """Sends commands in one round trip (pipelined) and returns their replies."""
    with socket.create_connection(REDIS, timeout=2) as sock:
        sock.sendall(b"".join(encode(c) for c in commands))
        f = sock.makefile("rb")
        return [read_reply(f) for _ in commands]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            if self.path == "/health":
                (pong,) = redis(["PING"])
                self.reply(200, {"redis": pong})
            elif self.path == "/visits":
                visits, _, last = redis(["INCR", "visits"], ["SET", "last_host", socket.gethostname()], ["GET", "last_host"])
                self.reply(200, {"message": GREETING, "visits": visits, "api": last})
            else:
                self.reply(404, {"error": "no such path: " + self.path})
        except (OSError, RuntimeError) as err:
            self.reply(502, {"error": str(err)})

    def reply(self, status, body):
        data = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stderr.write("api: " + (fmt % args) + "\n")


def main():
    # PID 1 ignores SIGTERM unless it handles it: exit at once when the engine stops the container.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = ThreadingHTTPServer(("0.0.0.0", 8000), Handler)
    print("api listening on :8000, redis at %s:%d" % REDIS, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
