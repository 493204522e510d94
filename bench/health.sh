#!/usr/bin/env bash
# Health-check benchmark (not in CI), against a berth engine on a temp root with the real docker CLI:
#  1. detection latency: from the moment a probe would succeed (file created) to the `health_status: healthy`
#     event, with a 1 s interval (expected: at most one interval);
#  2. N containers (default 100) each with a 1 s health check for D seconds (default 120): zombie and leaked
#     process counts and the engine's RSS at start and end.
# Usage: bench/health.sh [N] [DURATION_S]   (root; BERTH_BIN, BERTH_TEST_IMAGES as for the tests)
set -euo pipefail
N=${1:-100}
DUR=${2:-120}
ROOTDIR=$(cd "$(dirname "$0")/.." && pwd)
BERTH=${BERTH_BIN:-$ROOTDIR/target/debug/berth}
IMAGES=${BERTH_TEST_IMAGES:-$ROOTDIR/tests/images/out}
TMP=$(mktemp -d /tmp/berth-bench-health.XXXXXX)
export BERTH_ROOT=$TMP/root BERTH_HOST=unix://$TMP/s.sock DOCKER_HOST=unix://$TMP/s.sock DOCKER_CONFIG=$TMP/dc
cleanup() {
  docker ps -aq | xargs -r docker rm -f >/dev/null 2>&1 || true
  "$BERTH" engine stop >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
"$BERTH" engine start >/dev/null
docker load -i "$IMAGES/busybox.tar" >/dev/null
rss() { awk '/VmRSS/ {print $2}' "/proc/$(cat "$BERTH_ROOT/engine.pid")/status"; }
now_ns() { date +%s%N; }

echo "== detection latency (interval 1s, 5 runs)"
for i in 1 2 3 4 5; do
  docker run -d --name lat$i --network none --health-cmd 'test -f /tmp/ok' --health-interval 1s --health-retries 1 busybox sleep 600 >/dev/null
  sleep 1.5
  docker events --filter container=lat$i --filter event=health_status --format '{{.Action}} {{.TimeNano}}' > "$TMP/ev$i" &
  EP=$!
  sleep 0.3
  T0=$(now_ns)
  docker exec lat$i touch /tmp/ok
  for _ in $(seq 1 50); do grep -q 'healthy [0-9]' <(grep -v unhealthy "$TMP/ev$i") && break; sleep 0.1; done
  kill $EP 2>/dev/null || true
  T1=$(grep -v unhealthy "$TMP/ev$i" | awk '/healthy/ {print $NF; exit}')
  if [ -n "$T1" ]; then echo "run $i: $(( (T1 - T0) / 1000000 )) ms"; else echo "run $i: no healthy event"; fi
  docker rm -f lat$i >/dev/null
done

echo "== $N containers x 1s health checks for ${DUR}s"
for i in $(seq 1 "$N"); do
  docker run -d --name hc$i --network none --health-cmd 'true' --health-interval 1s busybox sleep 100000 >/dev/null
done
sleep 3
RSS0=$(rss)
T=$(date +%s)
while [ $(( $(date +%s) - T )) -lt "$DUR" ]; do sleep 10; done
RSS1=$(rss)
ZOMBIES=$(ps -eo stat= | grep -c '^Z' || true)
EXEC_HELPERS=$(pgrep -fc "__exec $BERTH_ROOT" || true)
PROCS_IN=$(for i in $(seq 1 "$N"); do docker top hc$i -o pid | tail -n +2; done | wc -l)
HEALTHY=$(docker ps --format '{{.Status}}' | grep -c '(healthy)' || true)
echo "engine RSS start ${RSS0} KiB, end ${RSS1} KiB"
echo "zombies on the host: $ZOMBIES"
echo "exec helpers alive at the end (at most one probe per container may be in flight): $EXEC_HELPERS"
echo "processes inside the $N containers: $PROCS_IN (expected $N plus in-flight probes)"
echo "healthy containers: $HEALTHY / $N"
