#!/bin/bash
# Benchmark (not a test): create + start + wait + remove of `busybox true` through the Docker Engine API,
# berth's engine vs dockerd on the same machine, plus `docker run --rm busybox true` on both.
# Needs root, dockerd (Debian's docker.io) and the busybox fixture. Usage: bench/lifecycle.sh [N]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
n="${1:-50}"
bench_init busybox.tar

work="$(mktemp -d /tmp/berth-lifecycle.XXXXXX)"
pids=()
cleanup() {
  BERTH_ROOT="$work/root" BERTH_HOST="unix://$work/berth.sock" inns "$berth" engine stop --purge >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  # dockerd runs under nsenter in a background subshell: stop it by its own pid and wait, or it outlives us
  # with its data root still mounted.
  local d
  d="$(cat "$work/dockerd.pid" 2>/dev/null || true)"
  if [[ -n "$d" ]] && kill "$d" 2>/dev/null; then
    for _ in $(seq 100); do kill -0 "$d" 2>/dev/null || break; sleep 0.1; done
  fi
  umount "$work/dockerd-data" 2>/dev/null || true
  ip netns del "$bench_ns" 2>/dev/null || true
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

bench_netns "berth-lc-$$"
BERTH_ROOT="$work/root" BERTH_HOST="unix://$work/berth.sock" BERTH_DNS_UPSTREAMS=127.0.0.1:53 \
  inns "$berth" engine start >/dev/null
engines=(berth)
if command -v dockerd >/dev/null; then
  inns dockerd --data-root "$work/dockerd-data" --exec-root "$work/dockerd-exec" \
    --pidfile "$work/dockerd.pid" -H "unix://$work/dockerd.sock" >"$work/dockerd.log" 2>&1 &
  pids+=($!)
  engines+=(dockerd)
fi
for e in "${engines[@]}"; do
  bench_wait_engine "$work/$e.sock"
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
  echo "docker run --rm  n=$n median=$(printf '%s\n' "${ts[@]}" | median | awk '{printf "%.1f", $1 / 1000}') ms"
done
