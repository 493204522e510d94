#!/usr/bin/env bash
# Health detection latency benchmark (not in CI), against a berth engine on a temp root with the real docker
# CLI: from the moment a probe would succeed to the `health_status: healthy` event in `docker events`.
# Each container creates /tmp/ok itself at a random moment (2-3 s after it starts, so at a random phase of
# the probe schedule); the moment is the file's mtime (read from the host through /proc/<pid>/root), the
# event time is the event's TimeNano. Two settings:
#   interval: --health-interval 1s                        (expected: at most 1 s + one probe's run time)
#   start:    --health-start-period 60s --health-start-interval 500ms --health-interval 30s
#                                                         (expected: at most 0.5 s + one probe's run time)
# Usage: bench/health.sh [CONTAINERS_PER_RUN] [RUNS]   (default 10 x 3; root; BERTH_BIN, BERTH_TEST_IMAGES)
# The soak (N containers x 1 s probes: zombies, leaks, RSS) is bench/soak.sh.
set -euo pipefail
K=${1:-10}
RUNS=${2:-3}
ROOTDIR=$(cd "$(dirname "$0")/.." && pwd)
BERTH=${BERTH_BIN:-$ROOTDIR/target/debug/berth}
IMAGES=${BERTH_TEST_IMAGES:-$ROOTDIR/tests/images/out}
TMP=$(mktemp -d /tmp/berth-bench-health.XXXXXX)
export BERTH_ROOT=$TMP/root BERTH_HOST=unix://$TMP/s.sock DOCKER_HOST=unix://$TMP/s.sock DOCKER_CONFIG=$TMP/dc
EVP=
# The engine runs in a private network namespace (entered with nsenter, which keeps /sys and cgroups), so
# other engines on the host (their bridges and DNS listeners) cannot collide with it.
NETNS=berth-bench-$$
cleanup() {
  [ -n "$EVP" ] && kill "$EVP" 2>/dev/null || true
  docker ps -aq | xargs -r docker rm -f >/dev/null 2>&1 || true
  "$BERTH" engine stop >/dev/null 2>&1 || true
  ip netns del "$NETNS" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
ip netns add "$NETNS"
nsenter --net="/run/netns/$NETNS" "$BERTH" engine start >/dev/null
docker load -i "$IMAGES/busybox.tar" >/dev/null

# run <label> <run no> <docker run health flags...>: prints one latency (ms) per container, sorted.
run() {
  local label=$1 r=$2; shift 2
  local ev=$TMP/ev-$label-$r
  docker events --filter event=health_status --format '{{.Actor.Attributes.name}} {{.Action}} {{.TimeNano}}' >"$ev" &
  EVP=$!
  sleep 0.5
  for i in $(seq 1 "$K"); do
    local delay
    delay=$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.3f", 2 + rand() }')
    docker run -d --name "$label$r-$i" --network none --health-cmd 'test -f /tmp/ok' "$@" busybox \
      sh -c "sleep $delay; touch /tmp/ok; exec sleep 600" >/dev/null
  done
  local deadline=$(( $(date +%s) + 30 ))
  while [ "$(grep -c ' health_status: healthy ' "$ev" || true)" -lt "$K" ] && [ "$(date +%s)" -lt "$deadline" ]; do
    sleep 0.5
  done
  kill "$EVP" 2>/dev/null || true; EVP=
  for i in $(seq 1 "$K"); do
    local name=$label$r-$i pid t_ok t_ev
    pid=$(docker inspect -f '{{.State.Pid}}' "$name")
    t_ok=$(python3 -c "import os,sys; print(os.stat(sys.argv[1]).st_mtime_ns)" "/proc/$pid/root/tmp/ok")
    t_ev=$(awk -v n="$name" '$1 == n && $3 == "healthy" {print $4; exit}' "$ev")
    if [ -n "$t_ev" ]; then echo $(( (t_ev - t_ok) / 1000000 )); else echo "missing"; fi
  done | sort -n
  # Retried: removal can fail transiently (netstack's netlink dump answering EBUSY while links change).
  for id in $(docker ps -aq --filter "name=$label$r-"); do
    for _ in 1 2 3; do docker rm -f "$id" >/dev/null 2>&1 && break; sleep 1; done
  done
}

summary() { # <label> <latencies file> <interval ms>
  awk -v l="$1" -v iv="$3" '{a[NR]=$1; if ($1 > iv) over++} END { if (NR == 0) { print l ": no samples"; exit }
    m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2;
    printf "%s: n=%d min %d ms, median %d ms, max %d ms, over %d ms: %d\n", l, NR, a[1], m, a[NR], iv, over }' "$2"
}

echo "== health detection latency, $K containers x $RUNS runs per setting (load: $(cut -d' ' -f1-3 /proc/loadavg))"
for setting in interval start; do
  : >"$TMP/all-$setting"
  if [ "$setting" = interval ]; then IV=1000; else IV=500; fi
  for r in $(seq 1 "$RUNS"); do
    if [ "$setting" = interval ]; then
      run iv "$r" --health-interval 1s --health-retries 100 >"$TMP/lat"
    else
      run st "$r" --health-start-period 60s --health-start-interval 500ms --health-interval 30s >"$TMP/lat"
    fi
    summary "$setting run $r (load $(cut -d' ' -f1 /proc/loadavg))" <(grep -v missing "$TMP/lat") "$IV"
    awk '$1 == "missing" {n++} END {if (n) print "  containers without a healthy event: " n}' "$TMP/lat"
    grep -v missing "$TMP/lat" >>"$TMP/all-$setting" || true
  done
  sort -n "$TMP/all-$setting" -o "$TMP/all-$setting"
  summary "$setting all runs" "$TMP/all-$setting" "$IV"
done
