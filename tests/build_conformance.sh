#!/usr/bin/env bash
# Runs the Dockerfile build conformance check (the shared corpus's check.py, the docker CLI with
# DOCKER_BUILDKIT=0) against a berth engine in a throwaway root, and fails if fewer cases pass than
# tests/build-conformance-floor, so the count can only go up.
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
out="$(python3 "$cases/check.py" "$cases")"; status=$?
echo "$out" | tail -70
line="$(echo "$out" | tail -1)"
passed="$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')"
floor="$(cat tests/build-conformance-floor)"
echo "build conformance: $line (floor $floor)"
[[ -n "$passed" && "$passed" -ge "$floor" ]] || { echo "build conformance fell below the floor" >&2; exit 1; }
total="$(find "$cases/cases" -mindepth 1 -maxdepth 1 -type d | wc -l)"
[[ "$floor" -lt "$total" || $status -eq 0 ]]
