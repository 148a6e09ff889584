#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Where a balancer's packet path spends its time: the in-VM half of
# `make profile` (scripts/profile.sh). One balancer, one forwarding path,
# pktgen traffic as in `make bench`, perf sampling CPU 0 (the CPU that
# sends and forwards every packet) while it runs.
#
#   scripts/profile-guest.sh OUTDIR LB PATH
#
# LB: ipvs_rs or upstream. PATH: nat, dr, tun, fwd (traffic to the real
# servers' own addresses, not a service's) or new (NAT, every packet a new
# connection: the scheduling and connection-creation path) or tcp (new
# TCP connections through NAT with build/bin/connbench, as make bench) or
# tcpfnat (the same through a FULLNAT service with two local addresses in
# 10.0.3.0/24, as make bench's tcp_fnat row; ipvs_rs only). Writes OUTDIR/LB-PATH.txt (perf
# report, symbols) and prints the pps of an unprofiled run first.
source "$(dirname "$0")/../selftests/lib.sh"
source "$(dirname "$0")/../selftests/topology.sh"
require_root
require_cmd ipvsadm perf

OUT=${1:?usage: profile-guest.sh OUTDIR LB PATH}
LB=${2:?}
WHAT=${3:?}
PKTS=${PROFILE_PKTS:-1000000}
mkdir -p "$OUT"
N=3
PORT=9

fail() {
	echo "profile: FAILED: $*" >&2
	exit 1
}

unload_all
topo_lvs $N || fail "topology"
modprobe pktgen || fail "modprobe pktgen"
dir() { ip netns exec "$director" "$@"; }
VIP_DR=10.0.1.101
VIP_TUN=10.0.1.102
dir ip addr add "$VIP_DR/32" dev d0
dir ip addr add "$VIP_TUN/32" dev d0
DMAC=$(ip -n "$director" -j link show d0 | jq -r '.[0].address')
for i in $(seq $N); do
	ip netns exec "${RS_NS[$((i - 1))]}" nft -f - <<EOF || fail "nft"
table ip prof {
	chain pre {
		type filter hook prerouting priority -300; policy accept;
		ip protocol { udp, 4 } drop
	}
}
EOF
	dir ping -q -c1 -W2 "$(rs_ip "$i")" >/dev/null || fail "no route to rs$i"
done

case $LB in
# As make bench: 2^20 buckets for both.
upstream) modprobe ip_vs conn_tab_bits=20 && modprobe ip_vs_rr || fail "modprobe ip_vs" ;;
ipvs_rs) load_ipvs_rs conn_tab_bits=20 conn_max=4000000 || fail "insmod ipvs_rs" ;;
*) fail "LB: ipvs_rs or upstream" ;;
esac
for m in "$VIP -m" "$VIP_DR -g" "$VIP_TUN -i"; do
	read -r vip flag <<<"$m"
	dir ipvsadm -A -u "$vip:$PORT" -s rr
	for i in $(seq $N); do
		dir ipvsadm -a -u "$vip:$PORT" -r "$(rs_ip "$i"):$PORT" "$flag"
	done
done
case $WHAT in
nat) dmin=$VIP dmax=$VIP ;;
dr) dmin=$VIP_DR dmax=$VIP_DR ;;
tun) dmin=$VIP_TUN dmax=$VIP_TUN ;;
fwd) dmin=$(rs_ip 1) dmax=$(rs_ip $N) ;;
new | tcp | tcpfnat) dmin=$VIP dmax=$VIP ;;
*) fail "PATH: nat, dr, tun, fwd, new, tcp or tcpfnat" ;;
esac
if [ "$WHAT" = tcp ] || [ "$WHAT" = tcpfnat ]; then
	require_cmd connbench
	dir ipvsadm -A -t "$VIP:80" -s rr
	for i in $(seq $N); do
		dir ipvsadm -a -t "$VIP:80" -r "$(rs_ip "$i"):80" -m
		ip netns exec "${RS_NS[$((i - 1))]}" connbench server 0.0.0.0:80 2 &
	done
	if [ "$WHAT" = tcpfnat ]; then
		[ "$LB" = ipvs_rs ] || fail "tcpfnat: ipvs_rs only"
		# As make bench's tcp_fnat: its own VIP, local addresses off the
		# real servers' subnet (they answer through their default route).
		VIP=10.0.1.103
		dir ip addr add "$VIP/32" dev d0
		dir ipvsctl service add tcp "$VIP:80" -s rr || fail "ipvsctl service add"
		for lip in 10.0.3.1 10.0.3.2; do
			dir ip addr add "$lip/32" dev br0
			dir ipvsctl laddr add tcp "$VIP:80" "$lip" || fail "ipvsctl laddr add"
		done
		for i in $(seq $N); do
			dir ipvsctl dest add tcp "$VIP:80" "$(rs_ip "$i"):80" --fwd fullnat || fail "ipvsctl dest add"
		done
		ip netns exec "$client" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
	fi
	sleep 1
	cb() { ip netns exec "$client" connbench client "$VIP:80" 4 "$1"; }
	cb 1 >/dev/null
	# "connections 6820 errors 0 seconds 3.017 conns_per_sec 2260.3"
	echo "profile: $LB $WHAT: $(cb 2)"
	if [ "${PROFILE_PERF:-1}" = 1 ]; then
		sysctl -qw kernel.perf_event_max_sample_rate=200000 kernel.perf_cpu_time_max_percent=0
		perf record -q -o "$OUT/$LB-$WHAT.data" -e cpu-clock -c 10000 -a -g -- \
			ip netns exec "$client" connbench client "$VIP:80" 4 4 >/dev/null 2>"$OUT/perf-record.err"
		cp /proc/kallsyms "$OUT/kallsyms"
		perf report -q -i "$OUT/$LB-$WHAT.data" --kallsyms "$OUT/kallsyms" --no-children --sort sym \
			--percent-limit 0.1 --stdio -g none 2>/dev/null >"$OUT/$LB-$WHAT.txt"
		grep -v default_idle "$OUT/$LB-$WHAT.txt" | head -n 60
	fi
	kill $(jobs -p) 2>/dev/null
	wait 2>/dev/null
	exit 0
fi
# Sources: one client address and 1000 ports (flows revisited), or for
# "new" 16 addresses x 62501 ports (coprime periods: 1,000,016 distinct
# flows), as make bench's table fill.
smin=$CLIENT_IP smax=$CLIENT_IP pmin=1024 pmax=2024
if [ "$WHAT" = new ]; then
	smin=10.0.1.2 smax=10.0.1.17 pmin=1024 pmax=63525
	ip netns exec "$director" ipvsadm --set 900 120 3600
fi

pg() { # COUNT: prints usec
	ip netns exec "$client" bash -c '
	p=/proc/net/pktgen
	pgset() { echo "$2" >"$p/$1"; }
	pgset kpktgend_0 rem_device_all
	pgset kpktgend_0 "add_device c0"
	for c in "count '"$1"'" "clone_skb 0" "burst 1" "pkt_size 60" "delay 0" \
		"dst_min '"$dmin"'" "dst_max '"$dmax"'" "dst_mac '"$DMAC"'" \
		"src_min '"$smin"'" "src_max '"$smax"'" \
		"udp_src_min '"$pmin"'" "udp_src_max '"$pmax"'" "udp_dst_min 9" "udp_dst_max 9" "flag UDPCSUM"; do
		pgset c0 "$c"
	done
	pgset pgctrl start
	sed -n "s/^Result: OK: \([0-9]*\)(.*/\1/p" "$p/c0"'
}

[ "$WHAT" = new ] || pg 10000 >/dev/null # warm-up: neighbours, connections
usec=$(pg "$PKTS")
echo "profile: $LB $WHAT: $((PKTS * 1000000 / usec)) pps ($PKTS packets, $usec us)"
[ "${PROFILE_PERF:-1}" = 1 ] || exit 0
# New flows again for "new" (the measured ones are connections now).
[ "$WHAT" != new ] || smin=10.0.1.18 smax=10.0.1.33
sysctl -qw kernel.perf_event_max_sample_rate=200000 kernel.perf_cpu_time_max_percent=0
perf record -q -o "$OUT/$LB-$WHAT.data" -e cpu-clock -c 10000 -C 0 -g -- \
	bash -c "$(declare -f pg); dmin=$dmin dmax=$dmax DMAC=$DMAC smin=$smin smax=$smax pmin=$pmin pmax=$pmax client=$client pg $PKTS" >/dev/null 2>"$OUT/perf-record.err"
cp /proc/kallsyms "$OUT/kallsyms"
perf report -q -i "$OUT/$LB-$WHAT.data" --kallsyms "$OUT/kallsyms" --no-children --sort sym --percent-limit 0.1 \
	--stdio -g none 2>/dev/null >"$OUT/$LB-$WHAT.txt"
grep -v default_idle "$OUT/$LB-$WHAT.txt" | head -n 60; echo "profile: samples $(perf report -i "$OUT/$LB-$WHAT.data" --stdio 2>/dev/null | sed -n "s/^# Samples: \(.*\) of.*/\1/p")"; :  "$OUT/$LB-$WHAT.txt"
