#!/bin/bash
# Benchmark (not a test): create + start + wait + remove of `busybox true` through the Docker Engine API,
# berth's engine vs dockerd on the same machine, plus `docker run --rm busybox true` on both.
# Needs root, dockerd (Debian's docker.io) and the busybox fixture. Usage: bench/lifecycle.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-50}"
berth="${BERTH_BIN:-$PWD/target/release/berth}"
[[ -x "$berth" ]] || { echo "build berth first (cargo build --release) or set BERTH_BIN" >&2; exit 1; }
images="${BERTH_TEST_IMAGES:-$PWD/tests/images/out}"
[[ -f "$images/busybox.tar" ]] || tests/images/build.sh "$images"

work="$(mktemp -d /tmp/berth-lifecycle.XXXXXX)"
ns="berth-lc-$$"
pids=()
cleanup() {
  BERTH_ROOT="$work/root" BERTH_HOST="unix://$work/berth.sock" nsenter --net="/run/netns/$ns" \
    "$berth" engine stop --purge >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

# Both engines in a private network namespace: a FORWARD-drop policy or leftovers on the host do not matter.
ip netns add "$ns"
nsenter --net="/run/netns/$ns" ip link set lo up
BERTH_ROOT="$work/root" BERTH_HOST="unix://$work/berth.sock" BERTH_DNS_UPSTREAMS=127.0.0.1:53 \
  nsenter --net="/run/netns/$ns" "$berth" engine start >/dev/null
engines=(berth)
if command -v dockerd >/dev/null; then
  nsenter --net="/run/netns/$ns" dockerd --data-root "$work/dockerd-data" --exec-root "$work/dockerd-exec" \
    --pidfile "$work/dockerd.pid" -H "unix://$work/dockerd.sock" >"$work/dockerd.log" 2>&1 &
  pids+=($!)
  engines+=(dockerd)
fi
for e in "${engines[@]}"; do
  for _ in $(seq 150); do DOCKER_HOST="unix://$work/$e.sock" docker version >/dev/null 2>&1 && break; sleep 0.2; done
  DOCKER_HOST="unix://$work/$e.sock" docker load -q -i "$images/busybox.tar" >/dev/null
done

echo "load: $(cut -d' ' -f1-3 /proc/loadavg), cores: $(nproc), n=$n"
for e in "${engines[@]}"; do
  echo "== $e: API create+start+wait+remove"
  for mode in none bridge; do python3 bench/lifecycle.py "$work/$e.sock" "$n" "$mode"; done
  echo "== $e: docker run --rm busybox true"
  ts=()
  for _ in $(seq "$n"); do
    t0=$(date +%s%N)
    DOCKER_HOST="unix://$work/$e.sock" docker run --rm busybox true
    ts+=($((($(date +%s%N) - t0) / 1000)))
  done
  printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {printf "docker run --rm  n=%d median=%.1f ms\n", NR, a[int((NR+1)/2)]/1000}'
done
