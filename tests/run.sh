#!/usr/bin/env bash
# berth's whole test suite: fixture images, unit + integration tests (privileged ones need root),
# and the Compose conformance check against Docker Compose v2's recorded output.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/images/build.sh
cargo build --release --workspace --bins
export BERTH_TEST_IMAGES="$PWD/tests/images/out"
export BERTH_BIN="$PWD/target/release/berth"
# In CI every privileged test must run: a skip becomes a failure.
if [[ "${CI:-}" == "true" ]]; then export BERTH_TEST_REQUIRE_ROOT=1; fi
cargo nextest run --release --workspace --no-fail-fast
conformance="${BERTH_CONFORMANCE:-../shared/conformance/config/check.py}"
if [[ -f "$conformance" ]]; then
  tests/conformance.sh "$conformance"
else
  echo "!!! SKIPPED conformance check: $conformance not found" >&2
  [[ "${CI:-}" != "true" ]] || exit 1
fi
build_conformance="${BERTH_BUILD_CONFORMANCE:-../shared/conformance/build}"
if [[ -f "$build_conformance/check.py" ]]; then
  tests/build_conformance.sh "$build_conformance"
else
  echo "!!! SKIPPED build conformance check: $build_conformance/check.py not found" >&2
  [[ "${CI:-}" != "true" ]] || exit 1
fi
