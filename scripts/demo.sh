#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make demo`, inside the test VM: build the client / director / real-server
# topology, load ipvs_rs in it and show what works so far.
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/selftests/lib.sh"
source "$repo/selftests/topology.sh"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" >&2; "$@"; }

unload_all
step "Topology: client, director (VIP $VIP) and three real servers in namespaces"
topo_lvs 3 || exit 1
for ns in "$client" "$director" "${RS_NS[@]}"; do
	printf '  %-18s %s\n' "${ns%%-*}" "$(ip -n "$ns" -4 -br addr show | awk '$1 != "lo" {print $1, $3, $4}' | tr '\n' ' ')"
done

step "Reachability: client -> VIP, director -> real servers"
run ip netns exec "$client" ping -c1 -W2 "$VIP" | grep -E 'bytes from|loss'
for i in 1 2 3; do
	run ip netns exec "$director" ping -c1 -W2 "$(rs_ip "$i")" | grep -E 'loss'
done

step "Load ipvs_rs (refuses to coexist with upstream ip_vs)"
run insmod "$IPVS_RS_KO" || exit 1
dmesg | grep 'ipvs_rs:' | tail -n1

step "Stock ipvsadm talks to it over the upstream IPVS netlink ABI (in the director namespace)"
run ip netns exec "$director" ipvsadm -L -n
run ip netns exec "$director" ipvsadm -L --timeout

step "ipvsctl: human and JSON"
run ip netns exec "$director" ipvsctl info
run ip netns exec "$director" ipvsctl --json info
echo

step "HTTP servers on the real servers"
webroot=$(mktemp -d /tmp/demo-web.XXXXXX)
for i in 1 2 3; do
	mkdir -p "$webroot/rs$i"
	echo "hello from rs$i ($(rs_ip "$i"))" >"$webroot/rs$i/index.html"
	bg ip netns exec "${RS_NS[$((i - 1))]}" python3 -m http.server 80 --bind 0.0.0.0 \
		--directory "$webroot/rs$i" 2>/dev/null
done
for i in 1 2 3; do
	wait_for 10 ip netns exec "${RS_NS[$((i - 1))]}" curl -s -o /dev/null http://127.0.0.1/ 2>/dev/null
done
echo "  python3 -m http.server on $(rs_ip 1), $(rs_ip 2), $(rs_ip 3)"

step "A NAT service on the VIP, round robin over the three (ipvsctl, the upstream ABI)"
run ip netns exec "$director" ipvsctl service add tcp "$VIP:80" --sched rr
for i in 1 2 3; do
	run ip netns exec "$director" ipvsctl dest add tcp "$VIP:80" "$(rs_ip "$i"):80" --fwd nat
done
run ip netns exec "$director" ipvsadm -L -n

step "Six HTTP requests from the client to http://$VIP/"
for n in 1 2 3 4 5 6; do
	printf '  request %d -> %s\n' "$n" "$(ip netns exec "$client" curl -s --max-time 5 "http://$VIP/")"
done

step "Statistics and connections"
run ip netns exec "$director" ipvsctl service list --stats
run ip netns exec "$director" ipvsadm -L -n -c

step "FULLNAT with TOA: the real servers lose their route to the client"
LIP=10.0.2.100
for i in 1 2 3; do
	ip -n "${RS_NS[$((i - 1))]}" route del default
	bg ip netns exec "${RS_NS[$((i - 1))]}" python3 "$repo/scripts/demo-peer-server.py" "rs$i" 8080
done
run ip netns exec "${RS_NS[0]}" ip route get "$CLIENT_IP" 2>&1 | head -n1
run ip -n "$director" addr add "$LIP/24" dev br0
run ip netns exec "$director" ipvsctl service add tcp "$VIP:8080" --sched rr --toa
for i in 1 2 3; do
	run ip netns exec "$director" ipvsctl dest add tcp "$VIP:8080" "$(rs_ip "$i"):8080" --fwd fullnat
done
run ip netns exec "$director" ipvsctl laddr add tcp "$VIP:8080" "$LIP"
for i in 1 2 3; do
	wait_for 10 ip netns exec "${RS_NS[$((i - 1))]}" curl -s -o /dev/null http://127.0.0.1:8080/ 2>/dev/null
done
run ip netns exec "$director" ipvsctl service list tcp "$VIP:8080"

step "Without toa_rs the real servers see the local address $LIP"
for n in 1 2 3; do
	printf '  request %d -> %s' "$n" "$(ip netns exec "$client" curl -s --max-time 5 "http://$VIP:8080/")"
	echo
done

step "With toa_rs on the real servers they see the client $CLIENT_IP (from the TCP option)"
run insmod "$(dirname "$IPVS_RS_KO")/toa_rs.ko" || true
for n in 1 2 3; do
	printf '  request %d -> %s' "$n" "$(ip netns exec "$client" curl -s --max-time 5 "http://$VIP:8080/")"
	echo
done
run ip netns exec "$director" ipvsctl stats
run cat /proc/net/toa_stats
run rmmod toa_rs

step "Upstream ip_vs is refused while ipvs_rs is loaded"
run modprobe ip_vs
dmesg | grep 'refusing' | tail -n1

step "Unload (connections still in the table)"
cleanup_bg
run rmmod ipvs_rs
cleanup_ns
rm -rf "$webroot"
