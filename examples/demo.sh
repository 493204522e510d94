#!/usr/bin/env bash
# README's main job: build berth and the busybox fixture image (offline, from Debian's busybox-static),
# bring the three-tier example up on berth's own engine, show it answering, and take it down again.
set -euo pipefail
cd "$(dirname "$0")/.."
berth="${BERTH_BIN:-}"
if [[ -z "$berth" ]]; then cargo build --release --bin berth; berth=target/release/berth; fi
BERTH_IMAGES_NO_DEBIAN=1 tests/images/build.sh
"$berth" image load -i tests/images/out/busybox.tar
"$berth" -f examples/three-tier/compose.yaml up -d --wait
"$berth" -f examples/three-tier/compose.yaml ps
for _ in 1 2; do curl -fsS http://127.0.0.1:18080/cgi-bin/index; done
if [[ "${1:-}" != "--keep" ]]; then "$berth" -f examples/three-tier/compose.yaml down -v; fi
