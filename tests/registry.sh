#!/usr/bin/env bash
# Runs Debian's docker-registry on 127.0.0.1 for tests, with its own config and filesystem storage.
#   tests/registry.sh start DIR [USER:PASSWORD]   → prints 127.0.0.1:PORT (htpasswd auth when USER given)
#   tests/registry.sh stop DIR
# DIR holds config.yml, storage/, htpasswd, registry.log (JSON access log: one line per request) and registry.pid.
set -euo pipefail
cmd="${1:?usage: registry.sh start|stop DIR [USER:PASSWORD]}"
dir="${2:?usage: registry.sh start|stop DIR [USER:PASSWORD]}"
case "$cmd" in
stop)
    if [[ -f "$dir/registry.pid" ]]; then
        pid="$(cat "$dir/registry.pid")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        rm -f "$dir/registry.pid"
    fi
    exit 0 ;;
start) ;;
*) echo "registry.sh: unknown command $cmd" >&2; exit 2 ;;
esac
command -v docker-registry >/dev/null || { echo "registry.sh: docker-registry is not installed (apt-get install docker-registry)" >&2; exit 1; }
mkdir -p "$dir/storage"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
auth=""
if [[ -n "${3:-}" ]]; then
    command -v htpasswd >/dev/null || { echo "registry.sh: htpasswd is not installed (apt-get install apache2-utils)" >&2; exit 1; }
    htpasswd -B -b -c "$dir/htpasswd" "${3%%:*}" "${3#*:}" 2>/dev/null
    auth="auth:
  htpasswd:
    realm: berth-test
    path: $dir/htpasswd"
fi
cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: info
  formatter: json
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$port
$auth
YAML
setsid docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null &
echo $! >"$dir/registry.pid"
for _ in $(seq 100); do
    code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/" || true)"
    if [[ "$code" == 200 || "$code" == 401 ]]; then
        echo "127.0.0.1:$port"
        exit 0
    fi
    sleep 0.1
done
echo "registry.sh: docker-registry did not answer on 127.0.0.1:$port; log:" >&2
tail -n 20 "$dir/registry.log" >&2
exit 1
