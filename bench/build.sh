#!/bin/bash
# Benchmark (not a test): a 10-step Dockerfile (busybox fixture base, a 50 MB COPY, several RUNs) built cold
# (--no-cache), rebuilt fully cached, and rebuilt after one changed file; berth's engine vs dockerd's classic
# builder (DOCKER_BUILDKIT=0) vs Debian's buildah (bud --layers). Prints a table of medians (ms).
# Rows: `berth` is berth's engine driven by berth's own client (`berth build` of a Compose service whose build
# context is the directory: berth's context sync sends only changed files, see engine/src/build/sync.rs; its
# "cold" rebuilds without the layer cache but with the context the engine kept), `berth+docker` the same engine
# driven by `docker build` (the whole context every time), `dockerd` and `buildah` with their own clients.
# `first` is the very first build of the context (nothing kept, no layer cache), once per engine.
# Needs root, dockerd (Debian's docker.io), buildah (apt-get install buildah; skipped when missing) and the
# busybox fixture. Every engine runs in a private network namespace. Usage: bench/build.sh [N]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
n="${1:-5}"
bench_init busybox.tar

work="$(mktemp -d /tmp/berth-build.XXXXXX)"
pids=()
cleanup() {
  BERTH_ROOT="$work/root" BERTH_HOST="unix://$work/berth.sock" inns "$berth" engine stop --purge >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  local d
  d="$(cat "$work/dockerd.pid" 2>/dev/null || true)"
  if [[ -n "$d" ]] && kill "$d" 2>/dev/null; then
    for _ in $(seq 100); do kill -0 "$d" 2>/dev/null || break; sleep 0.1; done
  fi
  buildah_ rm --all >/dev/null 2>&1 || true
  umount "$work/buildah-root/overlay" 2>/dev/null || true
  umount "$work/dockerd-data" 2>/dev/null || true
  ip netns del "$bench_ns" 2>/dev/null || true
  rm -rf "$work" 2>/dev/null || true
}
buildah_() { inns buildah --root "$work/buildah-root" --runroot "$work/buildah-run" --storage-driver overlay "$@"; }
trap cleanup EXIT

# The context: 10 steps; src/a.txt is the file the third build changes (steps 6-10 then rebuild).
ctx="$work/ctx"
mkdir -p "$ctx/src"
head -c 50M /dev/urandom >"$ctx/big.bin"
for f in a b c; do echo "$f" >"$ctx/src/$f.txt"; done
cat >"$ctx/Dockerfile" <<'DF'
FROM busybox
ENV APP=/app
WORKDIR /app
COPY big.bin /app/big.bin
RUN mkdir -p /app/data && echo one > /app/data/one
COPY src/ /app/src/
RUN cat /app/src/* > /app/all.txt
RUN sha256sum /app/big.bin > /app/big.sum
RUN ls -l /app > /app/listing
CMD ["cat", "/app/all.txt"]
DF

# berth's client builds the same directory as a Compose service (the file lies outside the context).
cat >"$work/compose.yaml" <<'YML'
services:
  app:
    image: bench:1
    build:
      context: ctx
YML
export XDG_CACHE_HOME="$work/cache"

bench_netns "berth-bld-$$"
BERTH_ROOT="$work/root" BERTH_HOST="unix://$work/berth.sock" BERTH_DNS_UPSTREAMS=127.0.0.1:53 \
  inns "$berth" engine start >/dev/null
engines=(berth berth+docker)
if command -v dockerd >/dev/null; then
  inns dockerd --data-root "$work/dockerd-data" --exec-root "$work/dockerd-exec" \
    --pidfile "$work/dockerd.pid" -H "unix://$work/dockerd.sock" >"$work/dockerd.log" 2>&1 &
  pids+=($!)
  engines+=(dockerd)
fi
bench_ready berth "${engines[@]:2}"
if command -v buildah >/dev/null; then
  buildah_ pull -q "docker-archive:$images/busybox.tar" >/dev/null
  buildah_ tag "$(buildah_ images -q | head -1)" busybox:latest
  engines+=(buildah)
fi

# Builds the context once with engine $1 (extra flags after it); prints the elapsed ms.
build_once() {
  local e="$1" t0
  shift
  t0=$(date +%s%N)
  if [[ "$e" == buildah ]]; then
    buildah_ bud -q --layers --pull-never --isolation chroot --network host "$@" -t bench:1 "$ctx" >/dev/null
  elif [[ "$e" == berth ]]; then
    DOCKER_HOST="unix://$work/berth.sock" inns "$berth" -f "$work/compose.yaml" build -q "$@" >/dev/null 2>"$work/cli.err" || { cat "$work/cli.err" >&2; return 1; }
  elif [[ "$e" == berth+docker ]]; then
    DOCKER_BUILDKIT=0 DOCKER_HOST="unix://$work/berth.sock" inns docker build -q "$@" -t bench:1 "$ctx" >/dev/null 2>"$work/cli.err" || { cat "$work/cli.err" >&2; return 1; }
  else
    DOCKER_BUILDKIT=0 DOCKER_HOST="unix://$work/$e.sock" inns docker build -q "$@" -t bench:1 "$ctx" >/dev/null 2>"$work/cli.err" || { cat "$work/cli.err" >&2; return 1; }
  fi
  echo $((($(date +%s%N) - t0) / 1000000))
}

echo "load: $(cut -d' ' -f1-3 /proc/loadavg), cores: $(nproc), n=$n, context: $(du -sm "$ctx" | cut -f1) MB"
declare -A first cold cached changed
for e in "${engines[@]}"; do
  [[ "$e" == berth+docker ]] || first[$e]="$(build_once "$e" --no-cache)"
  c=() k=() m=()
  for i in $(seq "$n"); do
    c+=("$(build_once "$e" --no-cache)")
    k+=("$(build_once "$e")")
    echo "round $i" >>"$ctx/src/a.txt"
    m+=("$(build_once "$e")")
  done
  cold[$e]=$(printf '%s\n' "${c[@]}" | median)
  cached[$e]=$(printf '%s\n' "${k[@]}" | median)
  changed[$e]=$(printf '%s\n' "${m[@]}" | median)
done
printf '%-13s %10s %10s %10s %14s\n' engine "first ms" "cold ms" "cached ms" "one-change ms"
for e in "${engines[@]}"; do
  printf '%-13s %10s %10s %10s %14s\n' "$e" "${first[$e]:--}" "${cold[$e]}" "${cached[$e]}" "${changed[$e]}"
done
