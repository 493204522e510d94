#!/usr/bin/env bash
# Builds the Debian bookworm test image (minbase + python3 + redis-server) from Debian packages.
#   tests/images/debian.sh [OUT_DIR]     (default: tests/images/out; needs root and debootstrap)
# Output: debian.tar — a `docker save` tarball of berth-test/debian:bookworm, one layer.
# The mirror comes from this machine's apt configuration (sources.list, sources.list.d/*.list and deb822
# *.sources), so it works wherever apt works. Cached: skipped when debian.tar exists and the inputs
# (this script, the mirror, the package list) are unchanged.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/out}"
mkdir -p "$out"
suite=bookworm
packages=python3,redis-server
tag=berth-test/debian:bookworm

# First http(s) URI of an enabled apt source for $suite (deb822 or one-line format).
apt_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$f" ]] || continue
        awk -v suite="$suite" '
            function flush() { if (uri != "" && suites ~ ("(^| )" suite "( |$)") && types ~ /(^| )deb( |$)/ && enabled != "no") { print uri; exit } }
            /^[[:space:]]*$/ { flush(); uri=""; suites=""; types=""; enabled=""; next }
            /^[[:space:]]*#/ { next }
            tolower($1) == "uris:" { uri=$2 }
            tolower($1) == "suites:" { $1=""; suites=$0; sub(/^ +/, "", suites) }
            tolower($1) == "types:" { $1=""; types=$0; sub(/^ +/, "", types) }
            tolower($1) == "enabled:" { enabled=tolower($2) }
            END { flush() }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f "$f" ]] || continue
        # deb [options] URI SUITE COMPONENTS...
        sed -E 's/\[[^]]*\]//' "$f" | awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2; exit }'
    done
}

mirror="$(apt_mirror | grep -E '^https?://' | head -n1 || true)"
[[ -n "$mirror" ]] || { echo "debian.sh: no apt source for $suite in /etc/apt (sources.list, sources.list.d)" >&2; exit 1; }
inputs="$(printf '%s\n' "$suite" "$packages" "$mirror" "$tag"; cat "$0" "$here/mkarchive.py")"
stamp="$(printf '%s' "$inputs" | sha256sum | cut -d' ' -f1)"
if [[ -f "$out/debian.tar" && "$(cat "$out/debian.tar.inputs" 2>/dev/null)" == "$stamp" ]]; then
    echo "debian.tar is up to date ($out/debian.tar)"
    exit 0
fi
# Another output dir (tests build into temp dirs) reuses an up-to-date default build.
if [[ -f "$here/out/debian.tar" && "$(cat "$here/out/debian.tar.inputs" 2>/dev/null)" == "$stamp" && "$out" != "$here/out" ]]; then
    ln -f "$here/out/debian.tar" "$out/debian.tar" 2>/dev/null || cp "$here/out/debian.tar" "$out/debian.tar"
    printf '%s' "$stamp" >"$out/debian.tar.inputs"
    echo "debian.tar copied from $here/out"
    exit 0
fi
[[ "$(id -u)" == 0 ]] || { echo "debian.sh: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "debian.sh: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/berth-debian.XXXXXX")"
cleanup() {
    # debootstrap may leave proc/sys mounted on failure.
    for m in proc sys dev/pts dev; do umount -l "$work/rootfs/$m" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
echo "debootstrap $suite from $mirror (packages: $packages)"
debootstrap --variant=minbase --include="$packages" "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
for m in proc sys dev/pts dev; do umount -l "$work/rootfs/$m" 2>/dev/null || true; done
# Slim the image the way Debian's official images do: no apt lists, caches or logs.
rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin "$work/rootfs/var/cache/apt/archives/"*.deb \
    "$work/rootfs/var/log/"*.log "$work/rootfs/var/log/apt/"* "$work/rootfs/dev/"* "$work/rootfs/proc/"* "$work/rootfs/sys/"*
# Container images carry no device nodes: the runtime makes /dev.
tar --numeric-owner --sort=name --mtime=@1700000000 --xattrs -C "$work/rootfs" -cf "$work/layer.tar" .
python3 "$here/mkarchive.py" --layer "$work/layer.tar" --tag "$tag" --out "$out/debian.tar" \
    --cmd python3 --env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" --env LANG=C.UTF-8 \
    --created-by "berth tests/images/debian.sh: debootstrap --variant=minbase $suite + $packages"
printf '%s' "$stamp" >"$out/debian.tar.inputs"
echo "built $out/debian.tar ($(du -h "$out/debian.tar" | cut -f1))"
