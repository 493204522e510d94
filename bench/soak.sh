#!/usr/bin/env bash
# Health-check soak (not in CI), against a berth engine on a temp root with the real docker CLI:
# N containers (default 100) each with a 1 s health check for D seconds (default 120). Every 10 s it samples
# the engine's RSS and open descriptors, the `berth __exec` helpers alive (probes in flight), the processes
# in the containers beyond their PID 1, and new zombies. At the end it classifies every zombie that appeared
# during the run by its parent:
#   - parent = the engine, an exec helper, a monitor or a container process: a process berth (or the
#     container's init) should have reaped -> a LEAK;
#   - parent = PID 1 and the zombie is a `berth` process (an exited monitor, which setsid()s and reparents to
#     PID 1): the machine's init does not reap (this sandbox's PID 1) -> not berth's leak;
# then removes all containers and checks that no helper, monitor or container process is left alive.
# Usage: bench/soak.sh [N] [DURATION_S]   (root; BERTH_BIN, BERTH_TEST_IMAGES as for the tests)
set -euo pipefail
N=${1:-100}
DUR=${2:-120}
ROOTDIR=$(cd "$(dirname "$0")/.." && pwd)
BERTH=${BERTH_BIN:-$ROOTDIR/target/debug/berth}
IMAGES=${BERTH_TEST_IMAGES:-$ROOTDIR/tests/images/out}
TMP=$(mktemp -d /tmp/berth-bench-soak.XXXXXX)
export BERTH_ROOT=$TMP/root BERTH_HOST=unix://$TMP/s.sock DOCKER_HOST=unix://$TMP/s.sock DOCKER_CONFIG=$TMP/dc
# The engine runs in a private network namespace (entered with nsenter, which keeps /sys and cgroups), so
# other engines on the host (their bridges and DNS listeners) cannot collide with it.
NETNS=berth-bench-$$
cleanup() {
  docker ps -aq | xargs -r docker rm -f >/dev/null 2>&1 || true
  "$BERTH" engine stop >/dev/null 2>&1 || true
  ip netns del "$NETNS" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

zombies() { ps -eo pid=,stat= | awk '$2 ~ /^Z/ {print $1}' | sort -n; }
zombies >"$TMP/z.before"
ip netns add "$NETNS"
nsenter --net="/run/netns/$NETNS" "$BERTH" engine start >/dev/null
EPID=$(cat "$BERTH_ROOT/engine.pid")
docker load -i "$IMAGES/busybox.tar" >/dev/null
rss() { awk '/VmRSS/ {print $2}' "/proc/$EPID/status"; }
fds() { ls "/proc/$EPID/fd" | wc -l; }
helpers() { pgrep -fc "__exec $BERTH_ROOT" || true; }
monitors() { pgrep -fc "__monitor $BERTH_ROOT" || true; }
ids() { docker ps -q --no-trunc; }
# Processes inside our containers (every v1 pids cgroup or the v2 one), minus one PID 1 per container.
extra_in_containers() {
  local total=0 n=0 f
  for id in $(ids); do
    n=$((n + 1))
    for f in /sys/fs/cgroup/pids/berth/$id/cgroup.procs /sys/fs/cgroup/unified/berth/$id/cgroup.procs /sys/fs/cgroup/berth/$id/cgroup.procs; do
      if [ -r "$f" ]; then total=$((total + $(wc -l <"$f"))); break; fi
    done
  done
  echo $((total - n))
}
new_zombies() { zombies | comm -13 "$TMP/z.before" -; }

echo "== $N containers x 1s health checks for ${DUR}s (berth $BERTH, load: $(cut -d' ' -f1-3 /proc/loadavg))"
T_START=$(date +%s)
for i in $(seq 1 "$N"); do
  docker run -d --name hc$i --network none --health-cmd 'true' --health-interval 1s busybox sleep 100000 >/dev/null
done
echo "started $N containers in $(( $(date +%s) - T_START ))s; monitors alive: $(monitors)"
for _ in $(seq 1 60); do
  [ "$(docker ps --format '{{.Status}}' | grep -c '(healthy)' || true)" -ge "$N" ] && break
  sleep 1
done
RSS0=$(rss); FD0=$(fds)
echo "t=0s engine RSS ${RSS0} KiB, fds ${FD0}, healthy $(docker ps --format '{{.Status}}' | grep -c '(healthy)' || true)/$N"
T=$(date +%s)
MAXH=0; MAXX=0
while [ $(( $(date +%s) - T )) -lt "$DUR" ]; do
  sleep 10
  H=$(helpers); X=$(extra_in_containers); Z=$(new_zombies | wc -l); ZO=$(ps -eo stat=,etimes= | awk '$1 ~ /^Z/ && $2 > m {m = $2} END {print m + 0}')
  [ "$H" -gt "$MAXH" ] && MAXH=$H
  [ "$X" -gt "$MAXX" ] && MAXX=$X
  echo "t=$(( $(date +%s) - T ))s RSS $(rss) KiB, fds $(fds), exec helpers alive $H, extra processes in containers $X, zombies $Z (oldest started ${ZO}s ago), load $(cut -d' ' -f1 /proc/loadavg)"
done
RSS1=$(rss); FD1=$(fds)
HEALTHY=$(docker ps --format '{{.Status}}' | grep -c '(healthy)' || true)
PROBES=$(for i in 1 2 3; do docker inspect -f '{{len .State.Health.Log}} {{.State.Health.FailingStreak}}' hc$i; done | tr '\n' ' ')

# Zombies that stay zombies for 5 s: a helper that just exited is a zombie until the engine's wait runs
# (under load that takes a moment), which is not a leak.
lasting_zombies() {
  new_zombies >"$TMP/z.now"
  sleep 5
  new_zombies | comm -12 "$TMP/z.now" -
}

classify() {
  local z pp pcomm comm leak=0 sandbox=0 other=0 transient
  [ -s "$TMP/ids" ] || ids >"$TMP/ids"
  transient=$(new_zombies | wc -l)
  for z in $(lasting_zombies); do
    [ -r "/proc/$z/stat" ] || continue
    comm=$(cut -d' ' -f2 "/proc/$z/stat" 2>/dev/null || echo '?')
    pp=$(awk '{print $4}' "/proc/$z/stat" 2>/dev/null || echo 0)
    pcomm=$(tr '\0' ' ' <"/proc/$pp/cmdline" 2>/dev/null | cut -c1-60 || echo '?')
    if [ "$pp" = "$EPID" ] || tr '\0' ' ' <"/proc/$pp/cmdline" 2>/dev/null | grep -q "$BERTH_ROOT" ||
      grep -qsFf "$TMP/ids" "/proc/$pp/cgroup"; then
      leak=$((leak + 1)); echo "  LEAK zombie $z $comm, parent $pp ($pcomm)"
    elif [ "$pp" = 1 ] && [ "$comm" = "(berth)" ]; then
      sandbox=$((sandbox + 1))
    else
      other=$((other + 1)); echo "  other zombie $z $comm, parent $pp ($pcomm)"
    fi
  done
  echo "$1: zombies at the moment: $transient; lasting 5 s: berth should have reaped: $leak; exited berth processes under PID 1 (this machine's init does not reap): $sandbox; unrelated: $other"
}

echo "== result after ${DUR}s"
echo "engine RSS start ${RSS0} KiB, end ${RSS1} KiB; fds start ${FD0}, end ${FD1}"
echo "max exec helpers alive at a sample: $MAXH (at most one probe per container may be in flight)"
echo "max extra processes in the $N containers at a sample: $MAXX"
echo "healthy containers: $HEALTHY / $N; hc1..3 log length and failing streak: $PROBES"
classify "while running"

echo "== removing the $N containers"
FAILED=0
for id in $(docker ps -aq); do
  for try in 1 2 3; do
    if docker rm -f "$id" >/dev/null 2>"$TMP/rm.err"; then break; fi
    FAILED=$((FAILED + 1)); echo "  rm $id (try $try): $(cat "$TMP/rm.err")"
    sleep 1
  done
done
echo "failed docker rm calls (retried): $FAILED; containers left: $(docker ps -aq | wc -l)"
sleep 2
echo "exec helpers alive: $(helpers); monitors alive (not zombie): $(for p in $(pgrep -f "__monitor $BERTH_ROOT" || true); do awk '$3 != "Z"' "/proc/$p/stat" 2>/dev/null; done | wc -l)"
classify "after removal"
