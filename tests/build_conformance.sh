#!/usr/bin/env bash
# Runs the Dockerfile build conformance check (the shared corpus's check.py, the docker CLI with
# DOCKER_BUILDKIT=0) against a berth engine in a throwaway root, and fails if fewer cases pass than
# tests/build-conformance-floor, so the count can only go up; then the same for the project's own cases in
# tests/build-cases (floor tests/build-cases-floor).
# usage: tests/build_conformance.sh PATH/TO/conformance/build
set -uo pipefail
cd "$(dirname "$0")/.."
cases="$1"
berth="$PWD/target/release/berth"
dir="$(mktemp -d /tmp/berth-build-conformance.XXXXXX)"
export BERTH_ROOT="$dir/root" BERTH_HOST="unix://$dir/berth.sock" DOCKER_HOST="unix://$dir/berth.sock"
export DOCKER_CONFIG="$dir/docker-config"
unset DOCKER_CONTEXT
# The corpus's refusals name images that do not exist: the engine must not try Docker Hub for them.
export BERTH_BUILD_PULL=never
cleanup() {
  "$berth" engine stop --purge >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
"$berth" engine start >/dev/null || { echo "build conformance: the engine did not start" >&2; exit 1; }
# check DIR FLOOR_FILE NAME: runs check.py on DIR's cases; fails below the floor (or, at the full count, on any failure).
check() {
  local dir="$1" floor_file="$2" name="$3" out status line passed floor total
  out="$(python3 "$cases/check.py" "$dir")"; status=$?
  echo "$out" | tail -70
  line="$(echo "$out" | tail -1)"
  passed="$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')"
  floor="$(cat "$floor_file")"
  echo "$name: $line (floor $floor)"
  [[ -n "$passed" && "$passed" -ge "$floor" ]] || { echo "$name fell below the floor" >&2; return 1; }
  total="$(find "$dir/cases" -mindepth 1 -maxdepth 1 -type d | wc -l)"
  [[ "$floor" -lt "$total" || $status -eq 0 ]]
}
check "$cases" tests/build-conformance-floor "build conformance"; shared=$?
# berth's own cases (tests/build-cases: differences from dockerd fixed once, expectations recorded from dockerd).
check tests/build-cases tests/build-cases-floor "build cases"; own=$?
[[ $shared -eq 0 && $own -eq 0 ]]
