# Shared set-up of the bench scripts (sourced): the berth binary, the fixture images, a private network
# namespace for the engines under test, waiting for an engine's socket, medians.

# Sets $berth and $images; builds the fixture images that are missing (names: busybox.tar, debian.tar).
bench_init() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  berth="${BERTH_BIN:-$PWD/target/release/berth}"
  [[ -x "$berth" ]] || { echo "build berth first (cargo build --release -p berth) or set BERTH_BIN" >&2; exit 1; }
  images="${BERTH_TEST_IMAGES:-$PWD/tests/images/out}"
  local tar
  for tar in "$@"; do
    [[ -f "$images/$tar" ]] || { tests/images/build.sh "$images" >/dev/null; break; }
  done
}

# Makes network namespace $1 with lo up; `inns CMD...` runs a command in it. Engines there are safe from a
# FORWARD-drop firewall or leftovers on the host, and touch nothing of the host's interfaces.
bench_netns() {
  bench_ns="$1"
  ip netns add "$bench_ns"
  inns ip link set lo up
}
inns() { nsenter --net="/run/netns/$bench_ns" "$@"; }

# Waits (up to 30 s) until the engine on unix socket $1 answers the docker CLI.
bench_wait_engine() {
  local _
  for _ in $(seq 150); do DOCKER_HOST="unix://$1" docker version >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "engine on $1 did not answer" >&2
  return 1
}

# Median of the integers on stdin (one per line), as an integer.
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

# Waits for each engine in "$@" (names: the socket is $work/<name>.sock) and loads the fixture $images/$tar
# for every tar in $bench_tars (default busybox.tar) into it.
bench_ready() {
  local e tar
  for e in "$@"; do
    bench_wait_engine "$work/$e.sock"
    for tar in ${bench_tars:-busybox.tar}; do
      DOCKER_HOST="unix://$work/$e.sock" docker load -q -i "$images/$tar" >/dev/null
    done
  done
}

# Removes every container (and its anonymous volumes) of the engine on unix socket $1; quiet when it is gone.
bench_rm_all() {
  local ids
  ids="$(DOCKER_HOST="unix://$1" docker ps -aq 2>/dev/null || true)"
  # shellcheck disable=SC2086 # one word per id
  [[ -z "$ids" ]] || DOCKER_HOST="unix://$1" docker rm -f -v $ids >/dev/null 2>&1 || true
}
