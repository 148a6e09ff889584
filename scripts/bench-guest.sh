#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The in-VM half of `make bench` (scripts/bench.sh runs it through
# scripts/vm-exec.sh): the same topology and the same traffic through
# upstream ip_vs (driven by ipvsadm) and through ipvs_rs, in one boot.
#
#   scripts/bench-guest.sh OUTDIR
#
# Writes OUTDIR/samples.tsv (one measurement a line: metric, balancer,
# round, value, detail) and OUTDIR/info.txt; progress goes to stdout.
# See Documentation/bench.rst for what is measured and how.
#
# Environment: BENCH_ROUNDS (3), BENCH_PKTS (200000), BENCH_TCP_SECONDS
# (2), BENCH_MEM_ROUNDS (3), BENCH_MEM_FLOWS (1000000).
source "$(dirname "$0")/../selftests/lib.sh"
source "$(dirname "$0")/../selftests/topology.sh"
require_root
require_cmd ipvsadm nft jq connbench

OUT=${1:?usage: bench-guest.sh OUTDIR}
mkdir -p "$OUT"
SAMPLES=$OUT/samples.tsv
: >"$SAMPLES"

ROUNDS=${BENCH_ROUNDS:-3}
PKTS=${BENCH_PKTS:-200000}
TCP_SECONDS=${BENCH_TCP_SECONDS:-2}
TCP_THREADS=4
MEM_ROUNDS=${BENCH_MEM_ROUNDS:-3}
MEM_FLOWS=${BENCH_MEM_FLOWS:-1000000}
# Both balancers get the same connection hash table (2^20 buckets, 8 MB,
# allocated at load time, so outside the per-connection slab delta).
TAB_BITS=20
CONN_MAX=2000000
N=3
PORT=9 # UDP port of the services and real servers

# One virtual address per forwarding method: connections are keyed by it,
# so no method's traffic can hit another method's connections.
VIP_NAT=$VIP
VIP_DR=10.0.1.101
VIP_TUN=10.0.1.102

# Progress lines carry the guest's uptime (guest time, see bench.sh).
say() { echo "bench: [$(cut -d' ' -f1 /proc/uptime)] $*"; }
fail() {
	echo "bench: FAILED: $*" >&2
	exit 1
}

unload_all
topo_lvs $N || fail "topology"
modprobe pktgen || fail "modprobe pktgen"

dir() { ip netns exec "$director" "$@"; }
cli() { ip netns exec "$client" "$@"; }

dir ip addr add "$VIP_DR/32" dev d0
dir ip addr add "$VIP_TUN/32" dev d0
DMAC=$(ip -n "$director" -j link show d0 | jq -r '.[0].address')
cli sysctl -qw net.ipv4.ip_local_port_range="1024 65535"

hex_ip() { printf '0x%02x%02x%02x%02x' ${1//./ }; }

# Each real server counts and drops the benchmark's UDP at PREROUTING (the
# earliest IPv4 hook), in the shape each method must deliver: plain
# forwarding and NAT to the server's own address, DR to the DR VIP (on
# the server's MAC address), TUN as IPIP to the server carrying a packet
# to the TUN VIP. Anything else UDP or IPIP is counted as "other" and
# dropped. TCP passes (connbench servers).
for i in $(seq $N); do
	ns=${RS_NS[$((i - 1))]}
	ip netns exec "$ns" nft -f - <<EOF || fail "nft on rs$i"
table ip bench {
	counter direct {}
	counter dr {}
	counter tun {}
	counter other {}
	chain pre {
		type filter hook prerouting priority -300; policy accept;
		ip daddr $(rs_ip "$i") udp dport $PORT counter name direct drop
		ip daddr $VIP_DR udp dport $PORT counter name dr drop
		ip protocol 4 ip daddr $(rs_ip "$i") @th,72,8 17 @th,128,32 $(hex_ip $VIP_TUN) counter name tun drop
		ip protocol { udp, 4 } counter name other drop
	}
}
EOF
	bg ip netns exec "$ns" connbench server "0.0.0.0:80" 2
	dir ping -q -c1 -W2 "$(rs_ip "$i")" >/dev/null || fail "director cannot reach rs$i"
done

# rs_counters: "direct dr tun other", summed over the real servers.
rs_counters() {
	local ns
	for ns in "${RS_NS[@]}"; do
		ip netns exec "$ns" nft -j list counters table ip bench
	done | jq -rs '[.[].nftables[] | select(.counter) | .counter] as $c
		| ["direct","dr","tun","other"]
		| map(. as $n | [$c[] | select(.name == $n) | .packets] | add)
		| map(tostring) | join(" ")'
}

# pktgen on the client's veth toward the director (one kernel thread, CPU
# 0; the director and the real servers process each packet in the softirq
# that follows its transmission, on the same CPU). 60-byte UDP to port 9,
# checksum offloaded (CHECKSUM_PARTIAL, as local traffic on veth), a fresh
# skb per packet. Sources: SRC_MIN..SRC_MAX (inclusive) and ports
# SPORT_MIN..SPORT_MAX-1, both stepping by one per packet.
pg_run() { # DST_MIN DST_MAX COUNT SRC_MIN SRC_MAX SPORT_MIN SPORT_MAX DMAC
	local p=/proc/net/pktgen c
	pgset() { echo "$2" >"$p/$1" || { echo "pktgen $1 '$2': $(grep Result "$p/$1")" >&2; return 1; }; }
	pgset kpktgend_0 rem_device_all || return 1
	pgset kpktgend_0 "add_device c0" || return 1
	for c in "count $3" "clone_skb 0" "burst 1" "pkt_size 60" "delay 0" \
		"dst_min $1" "dst_max $2" "dst_mac $8" "src_min $4" "src_max $5" \
		"udp_src_min $6" "udp_src_max $7" "udp_dst_min 9" "udp_dst_max 9" "flag UDPCSUM"; do
		pgset c0 "$c" || return 1
	done
	pgset pgctrl start || return 1
	# "Result: OK: 1530451(c1530000+d451) usec, 200000 (60byte,0frags)"
	sed -n 's/^Result: OK: \([0-9]*\)(.* usec, \([0-9]*\) (.*/\1 \2/p' "$p/c0"
}
pg() { # same arguments: prints "usec sent"
	cli bash -c "$(declare -f pg_run); pg_run $*"
}

record() { # METRIC LB ROUND VALUE DETAIL
	printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$SAMPLES"
}

# pps METRIC LB ROUND DST_MIN DST_MAX COUNTER SPORT_MIN: one pps sample.
# 1000 flows (source ports SPORT_MIN..+999 from 10.0.1.2), each revisited
# every 1000 packets: the first 1000 packets create the connections, the
# rest measure the established-connection path.
pps() {
	local metric=$1 lb=$2 round=$3 dmin=$4 dmax=$5 want=$6 sport=$7
	local before after usec sent
	before=($(rs_counters))
	read -r usec sent < <(pg "$dmin" "$dmax" "$PKTS" "$CLIENT_IP" "$CLIENT_IP" \
		"$sport" $((sport + 1000)) "$DMAC")
	sleep 0.2
	after=($(rs_counters))
	[ -n "${usec:-}" ] && [ "$usec" -gt 0 ] || fail "$metric/$lb: pktgen reported nothing"
	local -A got
	local k i=0
	for k in direct dr tun other; do
		got[$k]=$((after[i] - before[i]))
		i=$((i + 1))
	done
	local ok=${got[$want]} wrong=$((got[direct] + got[dr] + got[tun] + got[other] - got[$want]))
	local rate=$((ok * 1000000 / usec))
	record "$metric" "$lb" "$round" "$rate" "sent=$sent delivered=$ok wrong=$wrong usec=$usec"
	say "$(printf '%-8s %-8s round %s: %8d pps (sent %d, delivered %d, wrong %d)' \
		"$metric" "$lb" "$round" "$rate" "$sent" "$ok" "$wrong")"
}

# --- the balancers ---------------------------------------------------------

lb_load() {
	case $1 in
	upstream)
		modprobe ip_vs conn_tab_bits=$TAB_BITS || fail "modprobe ip_vs"
		modprobe ip_vs_rr || fail "modprobe ip_vs_rr"
		;;
	ipvs_rs)
		load_ipvs_rs conn_tab_bits=$TAB_BITS conn_max=$CONN_MAX || fail "insmod ipvs_rs"
		;;
	esac
	dir ipvsadm -L -n | head -n1 | grep -q "size=$((1 << TAB_BITS))" ||
		fail "$1: ipvsadm does not report a table of $((1 << TAB_BITS))"
}

lb_unload() {
	dir ipvsadm -C
	unload_all
	! grep -qE '^(ip_vs|ipvs_rs) ' /proc/modules || fail "a balancer is still loaded"
}

# The services: UDP port 9 on one VIP per method and TCP port 80 (NAT),
# round robin over the three real servers.
lb_services() {
	local i flag vip
	dir ipvsadm -C
	for m in "$VIP_NAT -m" "$VIP_DR -g" "$VIP_TUN -i"; do
		read -r vip flag <<<"$m"
		dir ipvsadm -A -u "$vip:$PORT" -s rr
		for i in $(seq $N); do
			dir ipvsadm -a -u "$vip:$PORT" -r "$(rs_ip "$i"):$PORT" "$flag"
		done
	done
	dir ipvsadm -A -t "$VIP_NAT:80" -s rr
	for i in $(seq $N); do
		dir ipvsadm -a -t "$VIP_NAT:80" -r "$(rs_ip "$i"):80" -m
	done
}

RS_FIRST=$(rs_ip 1)
RS_LAST=$(rs_ip $N)

# measure_lb LB ROUND: every per-packet and per-connection measurement.
measure_lb() {
	local lb=$1 r=$2 out
	lb_load "$lb"
	lb_services
	# Warm-up (neighbours, caches, first connections); not recorded.
	pg "$VIP_NAT" "$VIP_NAT" 10000 "$CLIENT_IP" "$CLIENT_IP" 9000 9100 "$DMAC" >/dev/null
	pps fwd_lb "$lb" "$r" "$RS_FIRST" "$RS_LAST" direct 1024
	pps udp_nat "$lb" "$r" "$VIP_NAT" "$VIP_NAT" direct 1024
	pps udp_dr "$lb" "$r" "$VIP_DR" "$VIP_DR" dr 1024
	pps udp_tun "$lb" "$r" "$VIP_TUN" "$VIP_TUN" tun 1024
	out=$(cli connbench client "$VIP_NAT:80" $TCP_THREADS "$TCP_SECONDS") || fail "$lb: connbench: $out"
	# "connections 6820 errors 0 seconds 3.017 conns_per_sec 2260.3"
	local rate
	rate=$(awk '{printf "%d", $8}' <<<"$out")
	record tcp_nat "$lb" "$r" "$rate" "$(awk '{print "conns=" $2, "errors=" $4, "seconds=" $6}' <<<"$out")"
	say "$(printf '%-8s %-8s round %s: %8d conn/s (%s)' tcp_nat "$lb" "$r" "$rate" "$out")"
	lb_unload
}

# --- memory per connection -------------------------------------------------

slab_kb() { awk '/^Slab:/ {print $2}' /proc/meminfo; }
# Concurrent connections of the UDP NAT service (ActiveConn + InActConn).
nat_conns() {
	dir ipvsadm -L -n -u "$VIP_NAT:$PORT" | awk '$1 == "->" && $2 ~ /:[0-9]+$/ {s += $5 + $6} END {print s + 0}'
}
# The slab caches that grew by more than half the flows: "name:objsize:+objs".
slab_growth() {
	join <(awk 'NR > 2 {print $1, $2, $4}' "$1" | sort) <(awk 'NR > 2 {print $1, $2, $4}' "$2" | sort) |
		awk -v n="$3" '$4 - $2 > n / 2 {printf "%s%s:%sB:+%d", sep, $1, $3, $4 - $2; sep = ","}'
}

# MEM_FLOWS distinct UDP flows through NAT, one packet each: 16 source
# addresses (10.0.1.2-17, stepping per packet) times 62501 source ports
# (stepping per packet): coprime periods, so the first 1,000,016 packets
# are all distinct flows.
measure_mem() {
	local lb=$1 r=$2 s0 s1 conns t0 t1 usec sent growth
	lb_load "$lb"
	lb_services
	dir ipvsadm --set 900 120 3600
	sleep 1
	cat /proc/slabinfo >"$OUT/slab0"
	s0=$(slab_kb)
	t0=$(date +%s%N)
	read -r usec sent < <(pg "$VIP_NAT" "$VIP_NAT" "$MEM_FLOWS" 10.0.1.2 10.0.1.17 1024 63525 "$DMAC")
	t1=$(date +%s%N)
	sleep 1
	s1=$(slab_kb)
	cat /proc/slabinfo >"$OUT/slab1"
	conns=$(nat_conns)
	growth=$(slab_growth "$OUT/slab0" "$OUT/slab1" "$conns")
	[ "$conns" -ge $((MEM_FLOWS * 99 / 100)) ] || say "WARNING: $lb: only $conns of $MEM_FLOWS connections"
	[ "$conns" -gt 0 ] || fail "$lb: no connections"
	local per=$(((s1 - s0) * 1024 / conns))
	local rate=$((conns * 1000000 / usec))
	record mem_per_conn "$lb" "$r" "$per" "conns=$conns slab_kB=$s0->$s1 caches=$growth"
	record udp_new_conns "$lb" "$r" "$rate" "conns=$conns sent=$sent usec=$usec"
	say "$(printf '%-8s round %s: %d connections, slab %d -> %d kB: %d bytes/conn (%s); %d new conn/s' \
		"$lb" "$r" "$conns" "$s0" "$s1" "$per" "$growth" "$rate")"
	t0=$(date +%s)
	lb_unload
	say "$lb: unloaded with $conns connections in $(($(date +%s) - t0)) s"
}

# --- run -------------------------------------------------------------------

{
	echo "kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
	echo "rounds=$ROUNDS pkts=$PKTS tcp_seconds=$TCP_SECONDS tcp_threads=$TCP_THREADS mem_rounds=$MEM_ROUNDS mem_flows=$MEM_FLOWS conn_tab_bits=$TAB_BITS ipvs_rs_conn_max=$CONN_MAX"
} >"$OUT/info.txt"
cat "$OUT/info.txt"

# Rounds alternate the order (ABBA...) so that drift on a noisy host falls
# on both balancers alike.
for r in $(seq "$ROUNDS"); do
	pps fwd none "$r" "$RS_FIRST" "$RS_LAST" direct 1024
	if [ $((r % 2)) = 1 ]; then order="upstream ipvs_rs"; else order="ipvs_rs upstream"; fi
	for lb in $order; do
		measure_lb "$lb" "$r"
	done
done
for r in $(seq "$MEM_ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then order="upstream ipvs_rs"; else order="ipvs_rs upstream"; fi
	for lb in $order; do
		measure_mem "$lb" "$r"
	done
done
rm -f "$OUT/slab0" "$OUT/slab1"
say "done"
