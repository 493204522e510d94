#!/usr/bin/env bash
# Runs the Compose conformance check and fails if fewer cases pass than the recorded floor
# (tests/conformance-floor), so the count can only go up.
set -uo pipefail
cd "$(dirname "$0")/.."
out="$(python3 "$1" target/release/berth)"; status=$?
echo "$out" | tail -40
line="$(echo "$out" | tail -1)"
passed="$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')"
floor="$(cat tests/conformance-floor)"
echo "conformance: $line (floor $floor)"
[[ -n "$passed" && "$passed" -ge "$floor" ]] || { echo "conformance fell below the floor" >&2; exit 1; }
[[ "$floor" -lt 128 || $status -eq 0 ]]
