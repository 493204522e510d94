#!/usr/bin/env bash
# Benchmark (not run in CI): network attach latency through berth's API, and DNS answer latency.
#   bench/net_attach.sh [N]     (root; N samples each, default 50)
# A berth engine runs in a private network namespace (nothing touches the host's interfaces) on a temp
# root; the API is timed with curl's time_total over the unix socket (no CLI start-up in the figure):
#   connect     POST /networks/{id}/connect of a running container (veth + address + DNS record)
#   disconnect  POST /networks/{id}/disconnect
#   start/none  POST /containers/{id}/start of `busybox sleep` with --network none
#   start/net   the same on a user network (netns + veth + address + route + DNS record + resolv.conf)
# and DNS: N queries of a service alias to a container's resolver on 127.0.0.11 (UDP round trip).
# Prints medians (and p90, p95); the engine is stopped with --purge at the end.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
n="${1:-50}"
bench_init busybox.tar
work="$(mktemp -d "${TMPDIR:-/tmp}/berth-netbench.XXXXXX")"
root="$work/root"; sock="$work/berth.sock"
export BERTH_ROOT="$root" BERTH_HOST="unix://$sock" DOCKER_HOST="unix://$sock" DOCKER_CONFIG="$work/docker"
unset DOCKER_CONTEXT
bench_netns "berth-netbench-$$"
engine_pid=""
cleanup() {
    set +e
    for c in $(docker ps -aq 2>/dev/null); do docker rm -f "$c" >/dev/null 2>&1; done
    [[ -n "$engine_pid" ]] && kill "$engine_pid" 2>/dev/null && wait "$engine_pid" 2>/dev/null
    inns "$berth" engine stop --purge >/dev/null 2>&1
    ip netns del "$bench_ns"
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$root"
BERTH_DNS_UPSTREAMS=127.0.0.1:5399 inns "$berth" engine run >"$work/engine.log" 2>&1 &
engine_pid=$!
bench_wait_engine "$sock"
docker load -i "$images/busybox.tar" >/dev/null
api() { curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --unix-socket "$sock" -X POST -H 'Content-Type: application/json' "$@"; }
# ms of one API call; fails loudly on an unexpected status.
timed() {
    local out; out="$(api "$@")"
    case "${out%% *}" in 2*) ;; *) echo "bench: ${*: -1} answered ${out%% *}" >&2; exit 1 ;; esac
    echo "${out#* } * 1000" | bc -l
}
stats() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "median %.2f ms  p90 %.2f ms  p95 %.2f ms  (n=%d)", m, a[int(NR*0.9+0.5)], a[int(NR*0.95+0.5)], NR}'; }

net="$(docker network create --subnet 10.231.0.0/16 benchnet)"
docker run -d --name target --network none busybox sleep 3600 >/dev/null
connect=(); disconnect=()
for i in $(seq "$n"); do
    connect+=("$(timed -d '{"Container":"target","EndpointConfig":{"Aliases":["svc"]}}' "http://berth/networks/$net/connect")")
    disconnect+=("$(timed -d '{"Container":"target"}' "http://berth/networks/$net/disconnect")")
done

none=(); withnet=()
for i in $(seq "$n"); do
    a="$(docker create --network none busybox sleep 3600)"
    b="$(docker create --network benchnet --network-alias "svc$i" busybox sleep 3600)"
    none+=("$(timed "http://berth/containers/$a/start")")
    withnet+=("$(timed "http://berth/containers/$b/start")")
    docker rm -f "$a" "$b" >/dev/null
done

# DNS: one container answering to a service alias; queries to 127.0.0.11 from inside another container's
# namespace (its resolver), sent by the host's python3 entered into that namespace.
docker run -d --name dnsbench --network benchnet --network-alias web busybox sleep 3600 >/dev/null
docker run -d --name dnsasker --network benchnet busybox sleep 3600 >/dev/null
sandbox="$(docker inspect -f '{{.NetworkSettings.SandboxKey}}' dnsasker)"
ip_web="$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' dnsbench)"
dns="$(nsenter --net="$sandbox" python3 - 127.0.0.11 web "$n" "$ip_web" <<'PY'
import socket, struct, sys, time
gw, name, n, want = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
out = []
for i in range(n * 10):
    msg = struct.pack(">HHHHHH", i & 0xffff, 0x0100, 1, 0, 0, 0) + q + struct.pack(">HH", 1, 1)
    t0 = time.perf_counter(); s.sendto(msg, (gw, 53)); r = s.recv(512); t1 = time.perf_counter()
    if socket.inet_ntoa(r[-4:]) != want:
        sys.exit("DNS answered %s, expected %s" % (socket.inet_ntoa(r[-4:]), want))
    out.append((t1 - t0) * 1e6)
print("\n".join("%.1f" % x for x in out))
PY
)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "connect (veth + address + DNS record, running container): $(printf '%s\n' "${connect[@]}" | stats)"
echo "disconnect:                                             $(printf '%s\n' "${disconnect[@]}" | stats)"
echo "start, --network none:                                  $(printf '%s\n' "${none[@]}" | stats)"
echo "start, user network (netns + veth + addr + route + DNS): $(printf '%s\n' "${withnet[@]}" | stats)"
echo "DNS answer via 127.0.0.11 (UDP round trip, µs):          $(echo "$dns" | stats | sed 's/ ms/ µs/g')"
