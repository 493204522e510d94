#!/usr/bin/env bash
# Builds berth's test images from Debian packages, without the internet.
#   tests/images/build.sh [OUT_DIR]      (default: tests/images/out)
# Output: busybox.tar — a `docker save` (docker-archive) tarball of busybox:latest,
# made from Debian's busybox-static: the static binary, its applet links, passwd/group.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/out}"
mkdir -p "$out"
busybox_bin="$(command -v busybox || true)"
if [[ -z "$busybox_bin" ]] || ! file -L "$busybox_bin" 2>/dev/null | grep -q 'statically linked'; then
    busybox_bin=/bin/busybox
fi
[[ -x "$busybox_bin" ]] || { echo "build.sh: busybox-static is not installed (apt-get install busybox-static)" >&2; exit 1; }
python3 "$here/mkimage.py" busybox --busybox "$busybox_bin" --out "$out/busybox.tar" --tag busybox:latest
echo "built $out/busybox.tar"
# Debian bookworm (minbase + python3 + redis-server) for the registry tests and benchmark: needs root and the
# machine's apt mirror; cached (skipped when debian.tar is up to date). BERTH_IMAGES_NO_DEBIAN=1 skips it.
if [[ "${BERTH_IMAGES_NO_DEBIAN:-}" != 1 ]]; then
    "$here/debian.sh" "$out"
fi
