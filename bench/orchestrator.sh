#!/usr/bin/env bash
# Benchmark of the orchestrator (not run in CI): `up -d --wait` and `down` medians for
#   - examples/three-tier, - 10 independent busybox services, - a 10-deep service_healthy chain,
# with berth on the chosen engine, and the same files with Docker Compose v2 / podman-compose when installed.
#   bench/orchestrator.sh [--engine dockerd|berth] [--runs N]
# Needs root (starts a private engine in a temp dir) and the busybox fixture (tests/images/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
engine=dockerd runs=5
while (($#)); do
  case "$1" in
    --engine) engine="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    *) echo "usage: $0 [--engine dockerd|berth] [--runs N]" >&2; exit 2 ;;
  esac
done
berth="${BERTH_BIN:-$PWD/target/release/berth}"
[[ -x "$berth" ]] || { echo "build berth first (cargo build --release) or set BERTH_BIN" >&2; exit 1; }
images="${BERTH_TEST_IMAGES:-$PWD/tests/images/out}"
[[ -f "$images/busybox.tar" ]] || tests/images/build.sh "$images"

work="$(mktemp -d /tmp/berth-bench.XXXXXX)"
sock="$work/engine.sock"
pid=""
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

case "$engine" in
  dockerd)
    dockerd --data-root "$work/data" --exec-root "$work/exec" --pidfile "$work/pid" -H "unix://$sock" \
      --bridge none --iptables=true --ip-masq=false >"$work/engine.log" 2>&1 &
    pid=$! ;;
  berth)
    BERTH_ROOT="$work/root" BERTH_HOST="unix://$sock" "$berth" engine run >"$work/engine.log" 2>&1 &
    pid=$! ;;
  *) echo "unknown engine $engine" >&2; exit 2 ;;
esac
export DOCKER_HOST="unix://$sock"
for _ in $(seq 100); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
docker load -i "$images/busybox.tar" >/dev/null

# Stacks.
mkdir -p "$work/ten" "$work/chain"
{
  echo "services:"
  for i in $(seq 1 10); do
    printf '  s%d:\n    image: busybox\n    stop_signal: SIGKILL\n    command: ["sleep", "2147483647"]\n' "$i"
  done
} >"$work/ten/compose.yaml"
{
  echo "services:"
  for i in $(seq 0 9); do
    printf '  c%d:\n    image: busybox\n    stop_signal: SIGKILL\n    command: ["sh", "-c", "touch /tmp/ok; exec sleep 2147483647"]\n' "$i"
    printf '    healthcheck: {test: ["CMD", "test", "-f", "/tmp/ok"], interval: 200ms, start_interval: 100ms, start_period: 5s, retries: 50}\n'
    ((i > 0)) && printf '    depends_on: {c%d: {condition: service_healthy}}\n' $((i - 1))
  done
} >"$work/chain/compose.yaml"

ms() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

# bench TOOL FILE PROJECT -> "up_median down_median" in ms
bench() {
  local tool="$1" file="$2" project="$3" ups=() downs=() t0 t1 t2
  for _ in $(seq "$runs"); do
    t0=$(ms)
    case "$tool" in
      berth) "$berth" -f "$file" -p "$project" up -d --wait >/dev/null 2>"$work/last.err" || { echo "berth up failed: $(tail -1 "$work/last.err")" >&2; } ;;
      compose) docker compose -f "$file" -p "$project" up -d --wait >/dev/null 2>&1 ;;
      podman-compose) podman-compose -f "$file" -p "$project" up -d >/dev/null 2>&1 ;;
    esac
    t1=$(ms)
    case "$tool" in
      berth) "$berth" -f "$file" -p "$project" down -v -t 0 >/dev/null 2>&1 ;;
      compose) docker compose -f "$file" -p "$project" down -v -t 0 >/dev/null 2>&1 ;;
      podman-compose) podman-compose -f "$file" -p "$project" down -v -t 0 >/dev/null 2>&1 ;;
    esac
    t2=$(ms)
    ups+=($(((t1 - t0) / 1000000))); downs+=($(((t2 - t1) / 1000000)))
  done
  echo "$(printf '%s\n' "${ups[@]}" | median) $(printf '%s\n' "${downs[@]}" | median)"
}

tools=(berth)
docker compose version >/dev/null 2>&1 && tools+=(compose)
command -v podman-compose >/dev/null 2>&1 && tools+=(podman-compose)

printf 'engine: %s, runs: %s, medians in ms\n' "$engine" "$runs"
printf '%-14s %-16s %10s %10s\n' stack tool "up --wait" down
declare -A up
for stack in three-tier ten chain; do
  file="$work/$stack/compose.yaml"
  [[ "$stack" == three-tier ]] && file="$PWD/examples/three-tier/compose.yaml"
  for tool in "${tools[@]}"; do
    read -r u d < <(bench "$tool" "$file" "bench$stack")
    up[$stack.$tool]=$u
    printf '%-14s %-16s %10s %10s\n' "$stack" "$tool" "$u" "$d"
  done
  if [[ -n "${up[$stack.compose]:-}" ]]; then
    awk -v b="${up[$stack.berth]}" -v c="${up[$stack.compose]}" -v s="$stack" 'BEGIN {printf "%-14s compose/berth up ratio: %.1fx\n", s, (b > 0 ? c / b : 0)}'
  fi
done
