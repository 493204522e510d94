#!/usr/bin/env bash
# Benchmark (not run in CI): pull + unpack of the Debian fixture image from a local docker-registry,
#   berth  vs  `skopeo copy docker://… oci:…` followed by unpacking the layers with tar,
# and the disk use of a second image that shares the Debian layer.
#   bench/pull.sh [RUNS]        (root; needs docker-registry, skopeo, debootstrap for the fixture)
# Prints the median wall time of each and the disk figures. BERTH_BASELINE_BIN=<another berth binary>
# adds its pulls to every run (before/after comparisons of berth itself, interleaved under the same load).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
berth="${BERTH_BIN:-$PWD/target/release/berth}"
[[ -x "$berth" ]] || { echo "bench/pull.sh: build first (cargo build --release -p berth) or set BERTH_BIN" >&2; exit 1; }
tests/images/debian.sh >/dev/null
fixture="$PWD/tests/images/out/debian.tar"
work="$(mktemp -d "${TMPDIR:-/tmp}/berth-bench.XXXXXX")"
baseline="${BERTH_BASELINE_BIN:-}"
engines=()
cleanup() {
    for r in "${engines[@]}"; do BERTH_ROOT="$r" BERTH_HOST="unix://$r.sock" "$berth" engine stop --purge >/dev/null 2>&1 || true; done
    tests/registry.sh stop "$work/registry" || true
    rm -rf "$work"
}
trap cleanup EXIT
reg="$(tests/registry.sh start "$work/registry")"
b() { local root="$1"; shift; BERTH_ROOT="$root" BERTH_HOST="unix://$root.sock" DOCKER_CONFIG="$work/docker" "$berth" "$@"; }
start_engine() { engines+=("$1"); b "$1" engine start >/dev/null; }
# Seconds of one pull into a fresh engine run by binary $1 on root $2 (left stopped, store kept).
timed_pull() {
    local bin="$1" root="$2" t0 t1
    engines+=("$root")
    BERTH_ROOT="$root" BERTH_HOST="unix://$root.sock" "$bin" engine start >/dev/null
    # Every contender starts with no dirty pages of an earlier one still being written back.
    sync
    t0="$(now)"; BERTH_ROOT="$root" BERTH_HOST="unix://$root.sock" DOCKER_CONFIG="$work/docker" "$bin" image pull -q "$reg/bench/debian:bookworm" >/dev/null; t1="$(now)"
    BERTH_ROOT="$root" BERTH_HOST="unix://$root.sock" "$bin" engine stop >/dev/null
    echo "$t1 - $t0" | bc
}
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# Publish the fixture and a derived image (the Debian layer plus one small layer of its own).
src="$work/src"
start_engine "$src"
b "$src" image load -i "$fixture" >/dev/null
DOCKER_HOST="unix://$src.sock" DOCKER_CONFIG="$work/docker" docker tag berth-test/debian:bookworm "$reg/bench/debian:bookworm"
b "$src" image push "$reg/bench/debian:bookworm" >/dev/null
mkdir -p "$work/derived/extra/srv"
head -c $((2 * 1024 * 1024)) /dev/urandom >"$work/derived/extra/srv/app.bin"
tar -C "$work/derived" -xf "$fixture" --wildcards '*/layer.tar'
base_layer="$(ls "$work"/derived/*/layer.tar)"
tar --sort=name --mtime=@1700000000 --owner=0 --group=0 -C "$work/derived/extra" -cf "$work/derived/extra.tar" .
python3 tests/images/mkarchive.py --layer "$base_layer" --layer "$work/derived/extra.tar" --tag bench/derived:1 --out "$work/derived.tar" --cmd python3
b "$src" image load -i "$work/derived.tar" >/dev/null
DOCKER_HOST="unix://$src.sock" DOCKER_CONFIG="$work/docker" docker tag bench/derived:1 "$reg/bench/derived:1"
b "$src" image push "$reg/bench/derived:1" >/dev/null
manifest="$(curl -s -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "http://$reg/v2/bench/debian/manifests/bookworm")"
compressed="$(python3 -c 'import json,sys; print(sum(l["size"] for l in json.loads(sys.argv[1])["layers"]))' "$manifest")"
echo "fixture: $(du -h "$fixture" | cut -f1) uncompressed, $((compressed / 1000000)) MB compressed in the registry ($reg)"

berth_times=(); skopeo_times=(); baseline_times=()
loads=()
for i in $(seq "$runs"); do
    loads+=("$(cut -d' ' -f1 /proc/loadavg)")
    berth_times+=("$(timed_pull "$berth" "$work/pull-$i")")
    if [[ "$i" != 1 ]]; then
        # Only pull-1 is kept (for the disk-use check below).
        BERTH_ROOT="$work/pull-$i" BERTH_HOST="unix://$work/pull-$i.sock" "$berth" engine stop --purge >/dev/null 2>&1 || true
        rm -rf "$work/pull-$i"
    fi
    if [[ -n "$baseline" ]]; then
        baseline_times+=("$(timed_pull "$baseline" "$work/base-$i")")
        BERTH_ROOT="$work/base-$i" BERTH_HOST="unix://$work/base-$i.sock" "$baseline" engine stop --purge >/dev/null 2>&1 || true
        rm -rf "$work/base-$i"
    fi

    oci="$work/oci-$i"; rootfs="$work/rootfs-$i"; mkdir -p "$rootfs"
    sync
    t0="$(now)"
    skopeo copy -q --src-tls-verify=false "docker://$reg/bench/debian:bookworm" "oci:$oci:latest"
    mdigest="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"].split(":")[1])' "$oci/index.json")"
    for layer in $(python3 -c 'import json,sys; [print(l["digest"].split(":")[1]) for l in json.load(open(sys.argv[1]))["layers"]]' "$oci/blobs/sha256/$mdigest"); do
        tar -xzf "$oci/blobs/sha256/$layer" -C "$rootfs" --no-same-owner 2>/dev/null || tar -xf "$oci/blobs/sha256/$layer" -C "$rootfs"
    done
    t1="$(now)"
    skopeo_times+=("$(echo "$t1 - $t0" | bc)")
    rm -rf "$oci" "$rootfs"
done
bm="$(printf '%s\n' "${berth_times[@]}" | median)"
sm="$(printf '%s\n' "${skopeo_times[@]}" | median)"
echo "load (1 min) at each run: ${loads[*]}"
echo "berth pull+unpack:            median ${bm}s  (runs: ${berth_times[*]})"
if [[ -n "$baseline" ]]; then
    basem="$(printf '%s\n' "${baseline_times[@]}" | median)"
    echo "baseline berth ($baseline): median ${basem}s  (runs: ${baseline_times[*]})"
fi
echo "skopeo copy + tar unpack:     median ${sm}s  (runs: ${skopeo_times[*]})"
echo "speedup: $(echo "scale=2; $sm / $bm" | bc)x"

# Disk use: pull the derived image into an engine that has the Debian image.
root="$work/pull-1"
engines+=("$root")  # timed_pull ran in a subshell: record it here so cleanup stops and purges it
b "$root" engine start >/dev/null
use() { du -sb "$root/blobs" "$root/layers" | awk '{s+=$1} END {print s}'; }
before="$(use)"
b "$root" image pull -q "$reg/bench/derived:1" >/dev/null
after="$(use)"
own="$(du -sb "$work/derived/extra/srv/app.bin" | cut -f1)"
echo "second image sharing the Debian layer added $(( (after - before) / 1000 )) kB on disk (its own layer holds $(( own / 1000 )) kB; store before: $(( before / 1000000 )) MB)"
