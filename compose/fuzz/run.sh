#!/usr/bin/env bash
# Fuzzes the loader (or target $2: loader | yaml): seeds the corpus from the conformance cases, then runs for
# $1 seconds (default 120).
# Needs cargo-fuzz (`cargo install cargo-fuzz`); nightly features come from RUSTC_BOOTSTRAP.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/loader
for f in ../../../shared/conformance/config/cases/*/*.yaml; do
  [[ -f "$f" ]] && cp "$f" "corpus/loader/$(basename "$(dirname "$f")")-$(basename "$f")"
done
# 1 GiB: the loader must stay within it on any input (alias bombs included).
RUSTC_BOOTSTRAP=1 cargo fuzz run "${2:-loader}" corpus/loader -- -max_total_time="${1:-120}" -rss_limit_mb=1024
