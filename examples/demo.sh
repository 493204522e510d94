#!/usr/bin/env bash
# README's main job: build berth and the fixture images (busybox from Debian's busybox-static; Debian bookworm
# with python3 + redis-server through debootstrap from this machine's apt mirror), bring the three-tier example
# up on berth's own engine, show it answering with data from the API and redis, and take it down again.
#   examples/demo.sh [--keep]      (root; --keep leaves the stack running)
set -euo pipefail
cd "$(dirname "$0")/.."
berth="${BERTH_BIN:-}"
if [[ -z "$berth" ]]; then cargo build --release --bin berth; berth=target/release/berth; fi
tests/images/build.sh
"$berth" image load -i tests/images/out/busybox.tar
"$berth" image load -i tests/images/out/debian.tar
compose=(-f examples/three-tier/compose.yaml)
"$berth" "${compose[@]}" up -d --wait
"$berth" "${compose[@]}" ps
# Each answer: the front (busybox httpd) asked the API (Python), which counted the visit in redis.
for _ in 1 2; do curl -fsS "http://127.0.0.1:${FRONT_PORT:-18080}/cgi-bin/visits"; done
if [[ "${1:-}" != "--keep" ]]; then "$berth" "${compose[@]}" down -v; fi
