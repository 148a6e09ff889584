#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The in-VM half of `make bench` (scripts/bench.sh runs it through
# scripts/vm-exec.sh): the same topology and the same traffic through
# upstream ip_vs (driven by ipvsadm) and through ipvs_rs, in one boot,
# plus ipvs_rs's FULLNAT (driven by ipvsctl; upstream has none).
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
require_cmd ipvsadm ipvsctl nft jq connbench

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
VIP_FNAT=10.0.1.103 # FULLNAT (ipvs_rs only): UDP port 9 and TCP port 80

# FULLNAT's local addresses (LIPs): in LIP_NET on the director's br0, off
# the real servers' subnet, so the real servers reach them through their
# default route (the director), as a routed pool would be reached. Each
# holds FNAT_PORTS source ports per protocol (ipvs_rs's fnat_ports, passed
# explicitly), one per connection until the connection entry is freed: a
# TCP connection keeps its port through TIME_WAIT (120 s), far longer than
# a measurement, so the TCP pool must hold every connection of one run.
# FNAT_LIPS addresses a pool: enough for 32768 conn/s over
# BENCH_TCP_SECONDS (at least two): about four times the fastest rate
# measured so far (upstream's NAT, 8,700 conn/s). Exhaustion is counted
# and flagged anyway (fnat_ports, check_exhausted).
#
# Every round gets its own addresses (fnat_lips ROUND): a pool is new at
# each load and hands out the same ports in the same order, while the real
# servers still hold the previous round's connections from those addresses
# and ports in TIME_WAIT (60 s). A real server takes a SYN for such a
# connection as a new one only if its timestamp is newer than the old
# connection's last (PAWS), and the client's timestamps start at a random
# offset per connection: about half the SYNs would be answered with the
# old connection's ACK, reset by the client and retransmitted a second
# later (in one trial, with one pool for two rounds: 3.5 conn/s in the
# second round instead of 866 in the first).
FNAT_PORTS=64512
FNAT_LIPS=$(((TCP_SECONDS * 32768 + FNAT_PORTS - 1) / FNAT_PORTS))
[ "$FNAT_LIPS" -ge 2 ] || FNAT_LIPS=2
LIP_NET=10.0.3.0/24
fnat_lips() { # ROUND: that round's local addresses
	local i
	for i in $(seq "$FNAT_LIPS"); do echo "10.0.3.$((($1 - 1) * FNAT_LIPS + i))"; done
}
ALL_LIPS=($(for r in $(seq "$ROUNDS"); do fnat_lips "$r"; done))

# Progress lines carry the guest's uptime (guest time, see bench.sh).
say() { echo "bench: [$(cut -d' ' -f1 /proc/uptime)] $*"; }
fail() {
	echo "bench: FAILED: $*" >&2
	exit 1
}

[ $((ROUNDS * FNAT_LIPS)) -le 254 ] || fail "BENCH_ROUNDS x $FNAT_LIPS local addresses do not fit in $LIP_NET"
unload_all
topo_lvs $N || fail "topology"
modprobe pktgen || fail "modprobe pktgen"

dir() { ip netns exec "$director" "$@"; }
cli() { ip netns exec "$client" "$@"; }

dir ip addr add "$VIP_DR/32" dev d0
dir ip addr add "$VIP_TUN/32" dev d0
dir ip addr add "$VIP_FNAT/32" dev d0
for lip in "${ALL_LIPS[@]}"; do dir ip addr add "$lip/32" dev br0; done
DMAC=$(ip -n "$director" -j link show d0 | jq -r '.[0].address')
cli sysctl -qw net.ipv4.ip_local_port_range="1024 65535"

hex_ip() { printf '0x%02x%02x%02x%02x' ${1//./ }; }

# Each real server counts and drops the benchmark's UDP at PREROUTING (the
# earliest IPv4 hook), in the shape each method must deliver: FULLNAT to
# the server's own address from a local address of the director ("fnat",
# matched first), plain forwarding and NAT to the server's own address
# from anything else, that is the client ("direct"), DR to the DR VIP (on
# the server's MAC address), TUN as IPIP to the server carrying a packet
# to the TUN VIP. Anything else UDP or IPIP is counted as "other" and
# dropped. So a FULLNAT packet that kept the client's source counts as
# "direct" and a NAT packet from a local address as "fnat": both "wrong"
# for their measurement. TCP passes (connbench servers).
for i in $(seq $N); do
	ns=${RS_NS[$((i - 1))]}
	ip netns exec "$ns" nft -f - <<EOF || fail "nft on rs$i"
table ip bench {
	counter fnat {}
	counter direct {}
	counter dr {}
	counter tun {}
	counter other {}
	chain pre {
		type filter hook prerouting priority -300; policy accept;
		ip saddr $LIP_NET ip daddr $(rs_ip "$i") udp dport $PORT counter name fnat drop
		ip daddr $(rs_ip "$i") udp dport $PORT counter name direct drop
		ip daddr $VIP_DR udp dport $PORT counter name dr drop
		ip protocol 4 ip daddr $(rs_ip "$i") @th,72,8 17 @th,128,32 $(hex_ip $VIP_TUN) counter name tun drop
		ip protocol { udp, 4 } counter name other drop
	}
}
EOF
	bg ip netns exec "$ns" connbench server "0.0.0.0:80" 2
	dir ping -q -c1 -W2 "$(rs_ip "$i")" >/dev/null || fail "director cannot reach rs$i"
	for lip in "${ALL_LIPS[@]}"; do
		ip netns exec "$ns" ping -q -c1 -W2 "$lip" >/dev/null || fail "rs$i cannot reach local address $lip"
	done
done

# rs_counters: "fnat direct dr tun other", summed over the real servers.
rs_counters() {
	local ns
	for ns in "${RS_NS[@]}"; do
		ip netns exec "$ns" nft -j list counters table ip bench
	done | jq -rs '[.[].nftables[] | select(.counter) | .counter] as $c
		| ["fnat","direct","dr","tun","other"]
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

# pps METRIC LB ROUND DST_MIN DST_MAX COUNTER SPORT_MIN [EXTRA_DETAIL_CMD]:
# one pps sample. 1000 flows (source ports SPORT_MIN..+999 from 10.0.1.2),
# each revisited every 1000 packets: the first 1000 packets create the
# connections, the rest measure the established-connection path.
# EXTRA_DETAIL_CMD's output (after the run) is appended to the detail.
pps() {
	local metric=$1 lb=$2 round=$3 dmin=$4 dmax=$5 want=$6 sport=$7 extra=${8:-}
	local before after usec sent
	before=($(rs_counters))
	read -r usec sent < <(pg "$dmin" "$dmax" "$PKTS" "$CLIENT_IP" "$CLIENT_IP" \
		"$sport" $((sport + 1000)) "$DMAC")
	sleep 0.2
	after=($(rs_counters))
	[ -n "${usec:-}" ] && [ "$usec" -gt 0 ] || fail "$metric/$lb: pktgen reported nothing"
	local -A got
	local k i=0
	for k in fnat direct dr tun other; do
		got[$k]=$((after[i] - before[i]))
		i=$((i + 1))
	done
	local ok=${got[$want]} wrong=$((got[fnat] + got[direct] + got[dr] + got[tun] + got[other] - got[$want]))
	local rate=$((ok * 1000000 / usec))
	local detail="sent=$sent delivered=$ok wrong=$wrong usec=$usec"
	if [ -n "$extra" ]; then
		detail+=" $($extra)"
		check_exhausted "$metric" "$detail"
	fi
	record "$metric" "$lb" "$round" "$rate" "$detail"
	say "$(printf '%-8s %-8s round %s: %8d pps (%s)' "$metric" "$lb" "$round" "$rate" "$detail")"
}

# --- the balancers ---------------------------------------------------------

lb_load() {
	case $1 in
	upstream)
		modprobe ip_vs conn_tab_bits=$TAB_BITS || fail "modprobe ip_vs"
		modprobe ip_vs_rr || fail "modprobe ip_vs_rr"
		;;
	ipvs_rs)
		load_ipvs_rs conn_tab_bits=$TAB_BITS conn_max=$CONN_MAX fnat_ports=$FNAT_PORTS ||
			fail "insmod ipvs_rs"
		[ "$(cat /sys/module/ipvs_rs/parameters/fnat_ports)" = "$FNAT_PORTS" ] ||
			fail "ipvs_rs: fnat_ports is not $FNAT_PORTS"
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

# lb_services [ipvs_rs ROUND]: the services: UDP port 9 on one VIP per
# method and TCP port 80 (NAT), round robin over the three real servers;
# for ipvs_rs also FULLNAT (UDP port 9 and TCP port 80 on VIP_FNAT, the
# round's local addresses in the pool of each).
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
	[ "${1:-}" = ipvs_rs ] || return 0
	local proto port lip
	for proto in udp:$PORT tcp:80; do
		port=${proto#*:} proto=${proto%:*}
		dir ipvsctl service add "$proto" "$VIP_FNAT:$port" -s rr || fail "ipvsctl service add $proto"
		for lip in $(fnat_lips "$2"); do
			dir ipvsctl laddr add "$proto" "$VIP_FNAT:$port" "$lip" || fail "ipvsctl laddr add $lip"
		done
		for i in $(seq $N); do
			dir ipvsctl dest add "$proto" "$VIP_FNAT:$port" "$(rs_ip "$i"):$port" --fwd fullnat ||
				fail "ipvsctl dest add --fwd fullnat"
		done
	done
}

# fnat_ports PROTO PORT: "exhausted=E laddr_exhausted=L ports_in_use=P" of
# the FULLNAT service on VIP_FNAT: E connections refused for want of a
# local port (the service's counter), L refusals counted by the local
# addresses (also those another address then took), P ports held now.
fnat_ports() {
	local e l
	e=$(dir ipvsctl --json stats "$1" "$VIP_FNAT:$2" | jq -r '.services[0].ext_stats.fnat_exhausted')
	l=$(dir ipvsctl --json laddr list "$1" "$VIP_FNAT:$2" |
		jq -r '[.services[0].laddrs[] | [.exhausted, .conns]] | transpose | map(add) | "\(.[0]) \(.[1])"')
	echo "exhausted=$e laddr_exhausted=${l% *} ports_in_use=${l#* }"
}
fnat_ports_udp() { fnat_ports udp $PORT; }
# A sample taken while local ports ran out is flagged (the report lists it
# with the sanity checks).
check_exhausted() { # METRIC DETAIL
	case $2 in *exhausted=[1-9]*) say "WARNING: $1: local ports ran out ($2): sample flagged" ;; esac
}

RS_FIRST=$(rs_ip 1)
RS_LAST=$(rs_ip $N)

# measure_lb LB ROUND: every per-packet and per-connection measurement.
measure_lb() {
	local lb=$1 r=$2
	lb_load "$lb"
	lb_services "$lb" "$r"
	# Warm-up (neighbours, caches, first connections); not recorded.
	pg "$VIP_NAT" "$VIP_NAT" 10000 "$CLIENT_IP" "$CLIENT_IP" 9000 9100 "$DMAC" >/dev/null
	if [ "$lb" = ipvs_rs ]; then
		pg "$VIP_FNAT" "$VIP_FNAT" 10000 "$CLIENT_IP" "$CLIENT_IP" 9000 9100 "$DMAC" >/dev/null
	fi
	pps fwd_lb "$lb" "$r" "$RS_FIRST" "$RS_LAST" direct 1024
	pps udp_nat "$lb" "$r" "$VIP_NAT" "$VIP_NAT" direct 1024
	pps udp_dr "$lb" "$r" "$VIP_DR" "$VIP_DR" dr 1024
	pps udp_tun "$lb" "$r" "$VIP_TUN" "$VIP_TUN" tun 1024
	if [ "$lb" = ipvs_rs ]; then
		pps udp_fnat "$lb" "$r" "$VIP_FNAT" "$VIP_FNAT" fnat 1024 fnat_ports_udp
	fi
	tcp_rate tcp_nat "$lb" "$r" "$VIP_NAT"
	if [ "$lb" = ipvs_rs ]; then
		tcp_rate tcp_fnat "$lb" "$r" "$VIP_FNAT" fullnat
	fi
	lb_unload
}

# tcp_rate METRIC LB ROUND VIP [FULLNAT]: one connbench sample against
# VIP:80; with FULLNAT (non-empty), the local port counters go in the
# detail.
tcp_rate() {
	local metric=$1 lb=$2 r=$3 vip=$4 out rate detail
	out=$(cli connbench client "$vip:80" $TCP_THREADS "$TCP_SECONDS") || fail "$metric/$lb: connbench: $out"
	# "connections 6820 errors 0 seconds 3.017 conns_per_sec 2260.3"
	rate=$(awk '{printf "%d", $8}' <<<"$out")
	detail=$(awk '{print "conns=" $2, "errors=" $4, "seconds=" $6}' <<<"$out")
	if [ -n "${5:-}" ]; then
		detail+=" $(fnat_ports tcp 80)"
		check_exhausted "$metric" "$detail"
	fi
	record "$metric" "$lb" "$r" "$rate" "$detail"
	say "$(printf '%-8s %-8s round %s: %8d conn/s (%s)' "$metric" "$lb" "$r" "$rate" "$detail")"
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
	echo "rounds=$ROUNDS pkts=$PKTS tcp_seconds=$TCP_SECONDS tcp_threads=$TCP_THREADS mem_rounds=$MEM_ROUNDS mem_flows=$MEM_FLOWS conn_tab_bits=$TAB_BITS ipvs_rs_conn_max=$CONN_MAX fnat_ports=$FNAT_PORTS fnat_laddrs=$FNAT_LIPS"
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
