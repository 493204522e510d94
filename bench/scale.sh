#!/usr/bin/env bash
# Scale benchmark (not run in CI): N busybox services (`sleep 600`, a 1 s healthcheck `["CMD", "true"]`,
# `stop_signal: SIGKILL`, one network) for N in 10 50 100 300, berth on berth's engine and Docker Compose v2 on
# dockerd side by side in one run. Per N and engine:
#   up      `up -d --wait` wall time (ms, and ms per service)
#   down    `down -t 1` wall time (ms, and ms per service)
#   idle%/busy%  host CPU busy (% of all cores, from /proc/stat) over --probe-seconds, with nothing up (just
#           before up) and with the N containers up and probing
#   stack%  the CPU the stack itself used in that window (% of all cores): the engine's processes (berth's
#           engine; dockerd and its containerd) with their reaped children (exec helpers, runc), the per-container
#           holders (monitors; shims with their runc children), and the containers' cgroups (cpuacct: the
#           probes and the workload). On a shared machine busy% counts other work too; stack% does not
#   rss     engine RSS in MB (berth: the engine process; dockerd: dockerd + its containerd)
#   pss     mean PSS per container of what holds it (berth: its `__monitor`; dockerd: containerd-shim-runc-v2),
#           in KB, from /proc/PID/smaps_rollup
#   ps      median of 5 `docker ps` and of 5 `berth ps` against the engine (ms)
#   left    containers, networks and (berth) netns files left after down (must be 0)
# Usage: bench/scale.sh [--sizes "10 50 100 300"] [--probe-seconds 20] [--no-compose]
# Needs root. Docker Compose v2: COMPOSE_BIN, else /opt/compose-venv/bin/docker-compose. berth's engine runs in
# a private network namespace; each engine gets its own temp root and socket; the busybox fixture is loaded
# into both.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sizes="10 50 100 300" probe_s=20 with_compose=1
while (($#)); do
  case "$1" in
    --sizes) sizes="$2"; shift 2 ;;
    --probe-seconds) probe_s="$2"; shift 2 ;;
    --no-compose) with_compose=0; shift ;;
    *) echo "usage: $0 [--sizes \"10 50 100 300\"] [--probe-seconds 20] [--no-compose]" >&2; exit 2 ;;
  esac
done
bench_init busybox.tar
compose=("${COMPOSE_BIN:-/opt/compose-venv/bin/docker-compose}")
[[ -x "${compose[0]}" ]] || with_compose=0

work="$(mktemp -d /tmp/berth-bench-scale.XXXXXX)"
pids=()
cleanup() {
  bench_rm_all "$work/berth.sock"
  if ((with_compose)); then bench_rm_all "$work/dockerd.sock"; fi
  BERTH_ROOT="$work/berth-root" BERTH_HOST="unix://$work/berth.sock" "$berth" engine stop --purge >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  ip netns del "$bench_ns" 2>/dev/null || true
  umount -R "$work/dockerd-exec" 2>/dev/null || true
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_netns "berth-scale-$$"
BERTH_ROOT="$work/berth-root" BERTH_HOST="unix://$work/berth.sock" BERTH_DNS_UPSTREAMS=127.0.0.1:53 \
  inns "$berth" engine run >"$work/berth.log" 2>&1 &
pids+=($!)
engines=(berth)
if ((with_compose)); then
  dockerd --data-root "$work/dockerd-data" --exec-root "$work/dockerd-exec" --pidfile "$work/dockerd.pid" \
    -H "unix://$work/dockerd.sock" --bridge none --iptables=true --ip-masq=false >"$work/dockerd.log" 2>&1 &
  pids+=($!)
  engines+=(dockerd)
fi
bench_ready "${engines[@]}"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Writes the N-service Compose file for size $1.
stack_file() {
  mkdir -p "$work/s$1"
  {
    echo "services:"
    for i in $(seq 1 "$1"); do
      printf '  s%d:\n    image: busybox\n    command: ["sleep", "600"]\n    stop_signal: SIGKILL\n' "$i"
      printf '    healthcheck: {test: ["CMD", "true"], interval: 1s}\n    networks: [net]\n'
    done
    echo "networks:"
    echo "  net: {}"
  } >"$work/s$1/compose.yaml"
  echo "$work/s$1/compose.yaml"
}

# Host CPU busy over $probe_s seconds, in % of all cores (user+nice+system+irq+softirq+steal over all).
host_busy() {
  local a b
  a=$(head -1 /proc/stat)
  sleep "$probe_s"
  b=$(head -1 /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN {
    split(a, x); split(b, y); tot = 0; idle = 0
    for (i = 2; i <= 9; i++) { d = y[i] - x[i]; tot += d; if (i == 5 || i == 6) idle += d }
    printf "%.1f", (tot > 0 ? 100 * (tot - idle) / tot : 0) }'
}

# Pids of engine $1's own processes (berth: the engine; dockerd: dockerd and its containerd).
engine_pids() {
  if [[ "$1" == berth ]]; then
    pgrep -f "^$berth engine run" | head -1
  else
    local d
    d="$(cat "$work/dockerd.pid")"
    echo "$d"
    pgrep -P "$d" -x containerd || true
  fi
}

# Pids of the per-container holders of engine $1 (berth: monitors; dockerd: containerd shims).
holder_pids() {
  if [[ "$1" == berth ]]; then
    # Probe servers (named berth-probe) carry their monitor's command line; they run in the containers'
    # cgroups and are counted there.
    local p
    for p in $(pgrep -f "__monitor $work/berth-root"); do
      [[ "$(cat "/proc/$p/comm" 2>/dev/null)" == berth-probe ]] || echo "$p"
    done
  else
    pgrep -f "containerd-shim-runc-v2 .*-address $work/dockerd-exec" || true
  fi
}

# CPU used so far by engine $1's stack, in ns: utime+stime+cutime+cstime of its processes and holders, plus
# the cpuacct usage of its containers' cgroups.
stack_cpu_ns() {
  local hz ticks=0 x v ns=0 parent id
  hz=$(getconf CLK_TCK)
  for x in $(engine_pids "$1") $(holder_pids "$1"); do
    v=$(sed 's/.*) //' "/proc/$x/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}') || continue
    ticks=$((ticks + ${v:-0}))
  done
  parent=berth
  [[ "$1" == dockerd ]] && parent=docker
  for id in $(docker ps -q --no-trunc); do
    v=$(cat "/sys/fs/cgroup/cpuacct/$parent/$id/cpuacct.usage" 2>/dev/null || echo 0)
    ns=$((ns + v))
  done
  echo $((ticks * 1000000000 / hz + ns))
}

# Engine RSS (KB) for engine $1.
engine_rss() {
  local total=0 x
  for x in $(engine_pids "$1"); do total=$((total + $(awk '/^VmRSS:/ {print $2}' "/proc/$x/status"))); done
  echo "$total"
}

# Mean PSS (KB) of the per-container holders of engine $1, and their count.
holder_pss() {
  local total=0 n=0 x v
  for x in $(holder_pids "$1"); do
    v=$(awk '/^Pss:/ {print $2}' "/proc/$x/smaps_rollup" 2>/dev/null || true)
    [[ -n "$v" ]] || continue
    total=$((total + v)); n=$((n + 1))
  done
  echo "$((n ? total / n : 0)) $n"
}

# Median ms of 5 runs of the command.
latency() {
  local t0 t ts=()
  for _ in 1 2 3 4 5; do
    t0=$(now_ms); "$@" >/dev/null 2>&1; t=$(now_ms); ts+=($((t - t0)))
  done
  printf '%s\n' "${ts[@]}" | median
}

# What a finished down left behind on engine $1: containers, networks beyond the defaults, netns files.
leftovers() {
  local c n ns=0
  c=$(docker ps -aq | wc -l)
  n=$(docker network ls -q --filter label=com.docker.compose.project | wc -l)
  [[ "$1" == berth ]] && ns=$(find "$work/berth-root/netns" -mindepth 1 2>/dev/null | wc -l)
  echo $((c + n + ns))
}

echo "probe window: ${probe_s}s; load before: $(cut -d' ' -f1-3 /proc/loadavg); cores: $(nproc)"
((with_compose)) && echo "compose: $("${compose[@]}" version 2>/dev/null | head -1); dockerd: $(dockerd --version)"
printf '%-5s %-14s %8s %7s %8s %7s %6s %6s %6s %7s %8s %6s %6s %5s\n' N tool/engine "up ms" "ms/svc" "down ms" \
  "ms/svc" "idle%" "busy%" "stack%" "rss MB" "pss KB" "dps" "bps" left
for n in $sizes; do
  file=$(stack_file "$n")
  for e in "${engines[@]}"; do
    export DOCKER_HOST="unix://$work/$e.sock"
    if [[ "$e" == berth ]]; then cmd=("$berth"); tool=berth/berth; else cmd=("${compose[@]}"); tool=compose/dockerd; fi
    project="scale$n"
    idle=$(host_busy)
    t0=$(now_ms)
    if ! "${cmd[@]}" -f "$file" -p "$project" up -d --wait >"$work/last.out" 2>&1; then
      echo "$tool N=$n: up failed: $(tail -3 "$work/last.out")" >&2
      "${cmd[@]}" -f "$file" -p "$project" down -t 0 >/dev/null 2>&1 || true
      continue
    fi
    t1=$(now_ms)
    c0=$(stack_cpu_ns "$e")
    busy=$(host_busy)
    c1=$(stack_cpu_ns "$e")
    stack=$(awk -v d=$((c1 - c0)) -v s="$probe_s" -v n="$(nproc)" 'BEGIN {printf "%.1f", 100 * d / (s * 1e9 * n)}')
    rss=$(engine_rss "$e")
    read -r pss holders < <(holder_pss "$e")
    dps=$(latency docker ps)
    bps=$(latency "$berth" -p "$project" ps)
    t2=$(now_ms)
    "${cmd[@]}" -f "$file" -p "$project" down -t 1 >"$work/last.out" 2>&1 ||
      echo "$tool N=$n: down failed: $(tail -3 "$work/last.out")" >&2
    t3=$(now_ms)
    left=$(leftovers "$e")
    ((holders == n)) || echo "$tool N=$n: found $holders per-container holders, expected $n" >&2
    awk -v n="$n" -v t="$tool" -v u=$((t1 - t0)) -v d=$((t3 - t2)) -v i="$idle" -v b="$busy" -v c="$stack" -v r="$rss" \
      -v p="$pss" -v dp="$dps" -v bp="$bps" -v l="$left" 'BEGIN {
      printf "%-5d %-14s %8d %7.1f %8d %7.1f %6s %6s %6s %7.1f %8d %6d %6d %5d\n", n, t, u, u / n, d, d / n, i, b, c,
        r / 1024, p, dp, bp, l }'
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
