#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Packets through the director: NAT, DR and TUN for TCP and UDP, with data
# verified end to end; round robin spreads connections over the real
# servers; statistics and /proc/net/ip_vs_conn show the connections; idle
# connections expire after the configured timeout.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/topology.sh"
require_root
require_cmd socat ipvsadm sha256sum
unload_all
N=3
topo_lvs $N || exit $ksft_fail
load_ipvs_rs || { echo "# cannot load ipvs_rs"; exit $ksft_fail; }

dir() { ip netns exec "$director" "$@"; }
cli() { ip netns exec "$client" "$@"; }

for i in $(seq $N); do
	ns=${RS_NS[$((i - 1))]}
	# Who answers (port 80), an echo service (port 81), UDP (port 53).
	bg ip netns exec "$ns" socat -t 5 TCP-LISTEN:80,fork,reuseaddr SYSTEM:"echo rs$i"
	bg ip netns exec "$ns" socat -t 5 TCP-LISTEN:81,fork,reuseaddr EXEC:cat
	bg ip netns exec "$ns" socat -t 5 UDP-LISTEN:53,fork,reuseaddr SYSTEM:"echo rs$i"
	# A 3000-byte answer: fragmented by the real server.
	bg ip netns exec "$ns" socat -t 5 UDP-LISTEN:5300,fork,reuseaddr SYSTEM:"head -c 3000 /dev/zero"
done
for i in $(seq $N); do
	wait_for 10 ip netns exec "${RS_NS[$((i - 1))]}" bash -c ': </dev/tcp/127.0.0.1/80' 2>/dev/null
done

data=$(mktemp /tmp/fwd.XXXXXX)
head -c 2000000 /dev/urandom >"$data"
want=$(sha256sum <"$data" | cut -d' ' -f1)

# who PROTO PORT COUNT: the real servers that answered COUNT requests.
who() {
	local i
	for i in $(seq "$3"); do
		if [ "$1" = tcp ]; then
			timeout 20 ip netns exec "$client" socat -T 10 -t 10 - TCP:$VIP:$2 </dev/null
		else
			echo q | timeout 10 ip netns exec "$client" socat -T 2 -t 2 - UDP:$VIP:$2
		fi
	done | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' '
}

# echo_ok PORT: 2 MB through the service and back, checksummed.
echo_ok() {
	local got
	got=$(timeout 30 ip netns exec "$client" socat -T 10 -t 10 - TCP:$VIP:$1 <"$data" | sha256sum | cut -d' ' -f1)
	[ "$got" = "$want" ]
}

run_method() { # run_method NAME FLAG
	local name=$1 flag=$2 i
	dir ipvsadm -C
	dir ipvsadm -A -t $VIP:80 -s rr
	dir ipvsadm -A -t $VIP:81 -s rr
	dir ipvsadm -A -u $VIP:53 -s rr
	for i in $(seq $N); do
		dir ipvsadm -a -t $VIP:80 -r "$(rs_ip "$i")":80 "$flag"
		dir ipvsadm -a -t $VIP:81 -r "$(rs_ip "$i")":81 "$flag"
		dir ipvsadm -a -u $VIP:53 -r "$(rs_ip "$i")":53 "$flag"
	done
	check_eq "$name TCP: rr spreads 6 connections evenly" "rs1=2 rs2=2 rs3=2 " "$(who tcp 80 6)"
	check "$name TCP: 2 MB echoed intact" echo_ok 81
	check_eq "$name UDP: rr spreads 3 flows evenly" "rs1=1 rs2=1 rs3=1 " "$(who udp 53 3)"
}

# --- NAT: replies come back through the director.
run_method NAT -m
stats=$(dir ipvsadm -L -n --stats -t $VIP:80)
check_match "NAT: service counts connections" "TCP  $VIP:80 +[6-9] " "$stats"
check_match "NAT: /proc/net/ip_vs_conn lists connections" $'\nTCP [0-9A-F]{8} [0-9A-F]{4} 0A000164 0050 ' "$(dir cat /proc/net/ip_vs_conn)"
check_match "NAT: ipvsadm -L -n -c shows states" "TCP .*(TIME_WAIT|FIN_WAIT|CLOSE)" "$(dir ipvsadm -L -n -c)"
check_eq "NAT: ipvsctl conn list agrees with ipvsadm -L -n -c" \
	"$(dir ipvsadm -L -n -c | tail -n +3 | awk '{print $1, $3, $4, $5, $6}' | sort)" \
	"$(dir ipvsctl conn list | tail -n +3 | awk '{print $1, $3, $4, $5, $6}' | sort)"
check "NAT: ipvsctl --json conn list parses" bash -c "ip netns exec $director ipvsctl --json conn list | jq -e 'length > 0' >/dev/null"
check_match "NAT: totals in /proc/net/ip_vs_stats" "^ +[1-9A-F]" "$(dir sed -n 3p /proc/net/ip_vs_stats)"
# Rate estimators: 50 packets/s for 6 s show in ipvsadm --rate.
ip netns exec "$client" python3 "$(dirname "$0")/py/udp_blast.py" $VIP 53 50 6
check_match "NAT: ipvsadm --rate shows InPPS" '^[1-9][0-9]*$' \
	"$(dir ipvsadm -L -n --rate -u $VIP:53 | awk '$1 == "UDP" {print $4}')"
check_match "NAT: ipvsctl stats --json shows the rate" '^[1-9][0-9]*$' \
	"$(dir ipvsctl --json stats | jq -r '[.. | objects | select(has("inpps")) | .inpps] | max')"
# Fragmented replies are reassembled, translated and fragmented again.
dir ipvsadm -A -u $VIP:5300 -s rr
for i in $(seq $N); do dir ipvsadm -a -u $VIP:5300 -r "$(rs_ip "$i")":5300 -m; done
check_eq "NAT: a fragmented 3000-byte UDP reply arrives whole" 3000 \
	"$(echo q | timeout 10 ip netns exec "$client" socat -T 2 -t 2 - UDP:$VIP:5300 | wc -c)"
# A client on the director itself (LOCAL_OUT): TCP and UDP, and 2 MB back.
check_match "NAT: local client on the director (TCP)" '^rs[0-9]$' "$(timeout 10 ip netns exec "$director" socat -T 5 -t 5 - TCP:$VIP:80 </dev/null)"
check_match "NAT: local client on the director (UDP)" '^rs[0-9]$' "$(echo q | timeout 10 ip netns exec "$director" socat -T 2 -t 2 - UDP:$VIP:53)"
check "NAT: local client, 2 MB echoed" bash -c "[ \"\$(timeout 30 ip netns exec $director socat -T 10 -t 10 - TCP:$VIP:81 <$data | sha256sum | cut -d' ' -f1)\" = $want ]"

# --- A firewall-mark service: nftables marks TCP to VIP:8080, the
# service matches the mark and NATs to port 80 of the real servers.
dir nft add table ip lvsmark
dir nft add chain ip lvsmark pre '{ type filter hook prerouting priority -150; }'
dir nft add rule ip lvsmark pre ip daddr $VIP tcp dport 8080 meta mark set 42
dir ipvsadm -A -f 42 -s rr
for i in $(seq $N); do
	dir ipvsadm -a -f 42 -r "$(rs_ip "$i")":80 -m
done
check_eq "fwmark service: rr spreads 3 connections" "rs1=1 rs2=1 rs3=1 " "$(who tcp 8080 3)"
dir ipvsadm -D -f 42
dir nft delete table ip lvsmark

# --- Expiry: with a short UDP timeout (3 s, scaled on slow kernels: it
# must outlast socat's own scaled -T) an idle flow disappears.
udp_to=$(scaled 3)
udp_to=${udp_to%.*}
dir ipvsadm --set 0 0 "$udp_to"
before=$(dir grep -c '^UDP' /proc/net/ip_vs_conn)
echo q | timeout 10 ip netns exec "$client" socat -T 1 -t 1 - UDP:$VIP:53 >/dev/null
check_eq "a new UDP flow is listed" $((before + 1)) "$(dir grep -c '^UDP' /proc/net/ip_vs_conn)"
check "the idle UDP flow expires after $udp_to s" wait_for 10 bash -c "[ \$(ip netns exec $director grep -c '^UDP' /proc/net/ip_vs_conn) -le $before ]"
dir ipvsadm --set 0 0 300

# --- DR: the real servers own the VIP (on lo, not answering ARP) and
# answer the client directly.
topo_direct_return
for i in $(seq $N); do
	ns=${RS_NS[$((i - 1))]}
	rs_vip_dr "$ns" $VIP
	# UDP answers must come from the VIP: a server bound to it (preferred
	# over the wildcard one for packets to the VIP).
	bg ip netns exec "$ns" socat -t 5 UDP-LISTEN:53,bind=$VIP,fork,reuseaddr SYSTEM:"echo rs$i"
done
sleep 1
run_method DR -g

# --- TUN: IPIP to the real servers, which decapsulate to the VIP.
for ns in "${RS_NS[@]}"; do
	# The VIP moves from lo to the tunnel device (same address: the bound
	# UDP servers keep working).
	ip -n "$ns" addr del $VIP/32 dev lo
	rs_vip_tun "$ns" $VIP
done
run_method TUN -i

# --- Unload with connections in the table.
cli socat -T 2 -t 2 - TCP:$VIP:80 </dev/null >/dev/null
cleanup_bg
check "rmmod with live connections" rmmod ipvs_rs
rm -f "$data"
exit_test
