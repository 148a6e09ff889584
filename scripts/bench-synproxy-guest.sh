#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The SYNPROXY rows of the benchmark (issue 5), run in the test VM:
#
#   scripts/vm-exec.sh scripts/bench-synproxy-guest.sh build/bench/synproxy
#
# (`make bench`, scripts/bench.sh, runs it after scripts/bench-guest.sh in
# the same boot and reports its rows.)
#
# - SYN flood absorbed per second: hping3 --flood --rand-source for
#   BENCH_FLOOD_SECONDS at a SYNPROXY service (cookie SYN-ACKs sent, from
#   /proc/net/ip_vs_ext_stats) and at nftables synproxy on the real server
#   (SYNs received, /proc/net/stat/synproxy), in the same boot; meanwhile a
#   legitimate client makes requests one after another, whose successes are
#   counted (selftests/py/legit_requests.py, started before the flood).
# - New TCP connections per second (tools/connbench) through SYNPROXY +
#   FULLNAT and through plain FULLNAT, BENCH_ROUNDS rounds, medians.
#
# Rates are in guest time (/proc/uptime); the host is shared, so compare
# the rows of one run, not runs.
source "$(dirname "$0")/../selftests/lib.sh"
source "$(dirname "$0")/../selftests/topology.sh"
require_root
require_cmd ipvsadm nft hping3 python3 connbench

OUT=${1:?usage: bench-synproxy-guest.sh OUTDIR}
mkdir -p "$OUT"
ROUNDS=${BENCH_ROUNDS:-3}
FLOOD=${BENCH_FLOOD_SECONDS:-5}
TCP_SECONDS=${BENCH_TCP_SECONDS:-3}
TCP_THREADS=4

say() { echo "bench-synproxy: [$(cut -d' ' -f1 /proc/uptime)] $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

unload_all
# rs1 serves the load balancer; rs2 runs nftables synproxy (its conntrack
# table stays away from the connection-rate rows).
topo_lvs 2 || exit 1
dir() { ip netns exec "$director" "$@"; }
cli() { ip netns exec "$client" "$@"; }
RS=$(rs_ip 1)
RSNS=${RS_NS[0]}
REF=$(rs_ip 2)
REFNS=${RS_NS[1]}
ip -n "$director" route add default via $CLIENT_IP
bg ip netns exec "$RSNS" connbench server "0.0.0.0:80" 2
LEGIT="python3 $REPO/selftests/py/legit_requests.py"
bg ip netns exec "$RSNS" $LEGIT server 81
bg ip netns exec "$REFNS" $LEGIT server 84
ip netns exec "$REFNS" nft -f - <<EOF
table ip sp {
	chain pre {
		type filter hook prerouting priority raw;
		tcp dport 84 tcp flags syn notrack
	}
	chain in {
		type filter hook input priority filter;
		tcp dport 84 ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm
		ct state invalid drop
	}
}
EOF
ip netns exec "$REFNS" sysctl -qw net.ipv4.tcp_syncookies=2 net.netfilter.nf_conntrack_tcp_loose=0
wait_for 10 ip netns exec "$REFNS" bash -c ': </dev/tcp/127.0.0.1/84' 2>/dev/null

load_ipvs_rs || exit 1
dir sysctl -qw net.ipv4.vs.synproxy_timestamp=1 net.ipv4.vs.synproxy_wscale=7
dir ipvsctl service add tcp $VIP:81 -s rr --synproxy
dir ipvsctl dest add tcp $VIP:81 $RS:81 --fwd nat
# One local address per FULLNAT service: two services sharing an address
# towards the same real server port would hand out the same local ports.
ip -n "$director" addr add 10.0.2.5/24 dev br0
ip -n "$director" addr add 10.0.2.6/24 dev br0
for p in 80 8080; do
	if [ $p = 80 ]; then sp=--synproxy laddr=10.0.2.5; else sp= laddr=10.0.2.6; fi
	dir ipvsctl service add tcp $VIP:$p -s rr $sp
	dir ipvsctl laddr add tcp $VIP:$p $laddr
	dir ipvsctl dest add tcp $VIP:$p $RS:80 --fwd fullnat
done

nft_syns() {
	local h n=0
	for h in $(ip netns exec "$REFNS" awk 'NR > 1 {print $2}' /proc/net/stat/synproxy); do
		n=$((n + 16#$h))
	done
	echo $n
}
ipvs_cookies() { dir awk '$1 == "synproxy_cookies_sent" {print $2}' /proc/net/ip_vs_ext_stats; }

# flood NAME DST PORT COUNTER: prints "rate ok tried". The legitimate
# client is one process started before the flood (legit_requests.py says
# why): it makes a first request, says "ready", and on "go" starts a request
# every 0.1 s for the flood's duration.
flood() {
	local name=$1 dst=$2 port=$3 counter=$4 c0 c1 t0 t1 ready ok=0 tried=0 pid
	local from to
	coproc LEGIT_CLIENT { ip netns exec "$client" $LEGIT client "$dst" "$port" "$FLOOD"; }
	# Own copies of the coprocess's pipes: bash closes its own when the
	# coprocess exits, which it does right after printing its result.
	exec {from}<&"${LEGIT_CLIENT[0]}" {to}>&"${LEGIT_CLIENT[1]}"
	if ! read -r -t 60 ready <&$from || [ "$ready" != ready ]; then
		say "$name: the legitimate client got no answer before the flood" >&2
		exec {from}<&- {to}>&-
		echo "0 0 1"
		return
	fi
	c0=$($counter)
	t0=$(uptime_s)
	ip netns exec "$client" setsid timeout "$FLOOD" hping3 -q -S -p "$port" --rand-source --flood "$dst" \
		</dev/null >/dev/null 2>&1 &
	pid=$!
	echo go >&$to
	wait $pid || true
	t1=$(uptime_s)
	c1=$($counter)
	# The last request may still be retrying a SYN lost in the flood.
	read -r -t 60 ok tried <&$from || { ok=0 tried=1; }
	exec {from}<&- {to}>&-
	wait || true
	awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" -v ok="$ok" -v n="$tried" \
		'BEGIN {printf "%d %d %d\n", (b - a) / (e - s), ok, n}'
}

: >"$OUT/samples.tsv"
for r in $(seq "$ROUNDS"); do
	read -r rate ok n < <(flood ipvs_rs $VIP 81 ipvs_cookies)
	say "round $r: SYNPROXY absorbed $rate SYN/s; legitimate requests $ok/$n"
	printf 'flood\tipvs_rs\t%s\t%s\t%s/%s\n' "$r" "$rate" "$ok" "$n" >>"$OUT/samples.tsv"
	read -r rate ok n < <(flood nft $REF 84 nft_syns)
	say "round $r: nft synproxy absorbed $rate SYN/s; legitimate requests $ok/$n"
	printf 'flood\tnft\t%s\t%s\t%s/%s\n' "$r" "$rate" "$ok" "$n" >>"$OUT/samples.tsv"
	for p in 80 8080; do
		out=$(cli connbench client "$VIP:$p" $TCP_THREADS "$TCP_SECONDS")
		rate=$(awk '{printf "%d", $8}' <<<"$out")
		name=$([ $p = 80 ] && echo synproxy_fullnat || echo fullnat)
		say "round $r: $name $rate conn/s ($out)"
		printf 'conns\t%s\t%s\t%s\t%s\n' "$name" "$r" "$rate" "$out" >>"$OUT/samples.tsv"
	done
done

med() { awk -F'\t' -v m="$1" -v l="$2" '$1 == m && $2 == l {print $4}' "$OUT/samples.tsv" | median; }
f_ipvs=$(med flood ipvs_rs)
f_nft=$(med flood nft)
c_sp=$(med conns synproxy_fullnat)
c_fn=$(med conns fullnat)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }
{
	echo "| metric | ipvs_rs | reference | ratio |"
	echo "| --- | ---: | ---: | ---: |"
	echo "| SYN flood absorbed per second (SYNPROXY vs nftables synproxy) | $f_ipvs | $f_nft | $(ratio "$f_ipvs" "$f_nft") |"
	echo "| new TCP conn/s (SYNPROXY+FULLNAT vs plain FULLNAT) | $c_sp | $c_fn | $(ratio "$c_sp" "$c_fn") |"
	echo
	echo "Medians of $ROUNDS rounds; floods of ${FLOOD}s (hping3 --flood --rand-source),"
	echo "connbench $TCP_THREADS threads ${TCP_SECONDS}s. Legitimate requests during the"
	echo "floods (succeeded/tried per round):"
	awk -F'\t' '$1 == "flood" {print "- " $2 " round " $3 ": " $5}' "$OUT/samples.tsv"
} >"$OUT/RESULTS.md"
cat "$OUT/RESULTS.md"
cleanup_bg
