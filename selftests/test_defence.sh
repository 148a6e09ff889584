#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# TCP flag-attack defence: segments with flag combinations no TCP sends
# (Linux conntrack's table: SYN+FIN, SYN+RST, FIN+RST, none, XMAS, FIN
# without ACK, URG without ACK) and ACK/RST/FIN floods matching no
# connection are dropped at a virtual service before any connection is
# created, counted in /proc/net/ip_vs_ext_stats; the real servers see
# none of them; legitimate clients are unaffected.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/topology.sh"
require_root
require_cmd socat ipvsadm python3 nft
unload_all
here=$(cd "$(dirname "$0")" && pwd)
N=2
topo_lvs $N || exit $ksft_fail
load_ipvs_rs || { echo "# cannot load ipvs_rs"; exit $ksft_fail; }
dir() { ip netns exec "$director" "$@"; }
for i in $(seq $N); do
	ns=${RS_NS[$((i - 1))]}
	bg ip netns exec "$ns" socat -t 5 TCP-LISTEN:80,fork,reuseaddr SYSTEM:"echo rs$i"
	# Count every TCP segment the server receives on port 80.
	ip netns exec "$ns" nft add table ip cnt
	ip netns exec "$ns" nft add chain ip cnt in '{ type filter hook input priority 0; }'
	ip netns exec "$ns" nft add rule ip cnt in tcp dport 80 counter
done
for i in $(seq $N); do
	wait_for 10 ip netns exec "${RS_NS[$((i - 1))]}" bash -c ': </dev/tcp/127.0.0.1/80' 2>/dev/null
done
dir ipvsadm -A -t $VIP:80 -s rr
for i in $(seq $N); do dir ipvsadm -a -t $VIP:80 -r "$(rs_ip "$i")":80 -m; done

rs_segments() {
	local i n=0
	for i in $(seq $N); do
		n=$((n + $(ip netns exec "${RS_NS[$((i - 1))]}" nft list table ip cnt | grep -o 'packets [0-9]*' | awk '{s += $2} END {print s + 0}')))
	done
	echo $n
}
stat() { dir awk -v k="$1" '$1 == k {print $2}' /proc/net/ip_vs_ext_stats; }
raw() { ip netns exec "$client" python3 "$here/py/tcp_raw.py" $CLIENT_IP $VIP 80 "$1" "$2"; }

check_match "ip_vs_ext_stats lists the counters" 'tcp_flags_syn_fin 0' "$(dir cat /proc/net/ip_vs_ext_stats)"
before=$(rs_segments)
raw SF 20
raw SR 20
raw FR 20
raw "" 20
raw FSRPAUEC 20
raw F 20
raw U 20
raw A 50
raw R 50
raw FA 50
sleep 1
check_eq "SYN+FIN counted" 20 "$(stat tcp_flags_syn_fin)"
check_eq "SYN+RST counted" 20 "$(stat tcp_flags_syn_rst)"
check_eq "FIN+RST counted" 20 "$(stat tcp_flags_fin_rst)"
check_eq "no flags counted" 20 "$(stat tcp_flags_null)"
check_eq "XMAS counted" 20 "$(stat tcp_flags_xmas)"
check_eq "FIN without ACK counted" 20 "$(stat tcp_flags_fin_no_ack)"
check_eq "URG without ACK counted" 20 "$(stat tcp_flags_bad_urg)"
check_eq "ACK/RST/FIN without a connection counted" 150 "$(stat tcp_no_conn)"
check_eq "drop ledger: invalid flags" 140 "$(stat drop_tcp_flags)"
check_eq "drop ledger: no connection" 150 "$(stat drop_tcp_no_conn)"
check_eq "drop ledger: nothing else dropped" 290 "$(stat drop_total)"
check_eq "no connection created" 0 "$(dir grep -c '^TCP' /proc/net/ip_vs_conn)"
check_eq "the real servers saw none of it" "$before" "$(rs_segments)"
got=$(for _ in 1 2 3 4; do timeout 10 ip netns exec "$client" socat -T 5 -t 5 - TCP:$VIP:80 </dev/null; done | sort -u | tr '\n' ' ')
check_eq "legitimate clients are served" "rs1 rs2 " "$got"
cleanup_bg
exit_test
