#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# FULLNAT: the real servers sit in another subnet, with no route to the
# clients, no gateway through the director and no VIP: they only reach the
# director's local addresses. TCP and UDP data verified end to end; the
# servers see the local addresses (round robin over the pool); each
# connection holds exactly one local port, and running out of ports is
# counted; stock ipvsadm still lists everything; the IPVS_RS family's
# errors name the field.
#
#   client 10.0.1.2 -- 10.0.1.1 director 10.0.5.1, 10.0.5.2 (local addresses) -- rsN 10.0.5.(10+N)
#                        VIP 10.0.1.100
source "$(dirname "$0")/lib.sh"
require_root
require_cmd socat ipvsadm python3 sha256sum
unload_all
here=$(cd "$(dirname "$0")" && pwd)
VIP=10.0.1.100
N=2
PORTS=16
ext() { ip netns exec "$director" python3 "$here/py/ipvs_rs_ext.py" "$@"; }
dir() { ip netns exec "$director" "$@"; }
cli() { ip netns exec "$client" "$@"; }
rs_ip() { echo "10.0.5.$((10 + $1))"; }

setup_ns client director || exit $ksft_fail
ip link add c0 netns "$client" type veth peer name d0 netns "$director"
ip -n "$client" addr add 10.0.1.2/24 dev c0
ip -n "$client" link set c0 up
ip -n "$client" route add default via 10.0.1.1
ip -n "$director" addr add 10.0.1.1/24 dev d0
ip -n "$director" addr add $VIP/32 dev d0
ip -n "$director" link set d0 up
ip -n "$director" link add br5 type bridge
ip -n "$director" addr add 10.0.5.1/24 dev br5
ip -n "$director" addr add 10.0.5.2/24 dev br5
ip -n "$director" link set br5 up
ip netns exec "$director" sysctl -qw net.ipv4.ip_forward=1
RS_NS=()
for i in $(seq $N); do
	setup_ns "rs$i" || exit $ksft_fail
	ns=$(eval echo "\$rs$i")
	RS_NS+=("$ns")
	ip link add e0 netns "$ns" type veth peer name "r$i" netns "$director"
	ip -n "$director" link set "r$i" master br5 up
	# Only the connected subnet: no default route, no route to clients.
	ip -n "$ns" addr add "$(rs_ip "$i")/24" dev e0
	ip -n "$ns" link set e0 up
	bg ip netns exec "$ns" socat -t 5 TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo rs'$i' $SOCAT_PEERADDR'
	bg ip netns exec "$ns" socat -t 5 TCP-LISTEN:81,fork,reuseaddr EXEC:cat
	bg ip netns exec "$ns" socat -t 5 UDP-LISTEN:53,fork,reuseaddr SYSTEM:'echo rs'$i' $SOCAT_PEERADDR'
done
check "real servers have no route to the client" bash -c "! ip netns exec ${RS_NS[0]} ip route get 10.0.1.2 >/dev/null 2>&1"
load_ipvs_rs fnat_ports=$PORTS || { echo "# cannot load ipvs_rs"; exit $ksft_fail; }
for i in $(seq $N); do
	wait_for 10 ip netns exec "${RS_NS[$((i - 1))]}" bash -c ': </dev/tcp/127.0.0.1/80' 2>/dev/null
	wait_for 10 bash -c "ip netns exec ${RS_NS[$((i - 1))]} ss -Hnlu 'sport = :53' | grep -q ."
done

for p in tcp:80 tcp:81 udp:53; do
	proto=${p%:*} port=${p#*:}
	dir ipvsadm -A --${proto}-service $VIP:$port -s rr
	for i in $(seq $N); do
		dir ipvsctl dest add $proto $VIP:$port "$(rs_ip "$i")":$port --fwd fullnat
	done
	check_eq "laddr add 10.0.5.1 ($p)" ok "$(ext laddr-add $proto $VIP:$port 10.0.5.1)"
	check_eq "laddr add 10.0.5.2 ($p)" ok "$(ext laddr-add $proto $VIP:$port 10.0.5.2)"
done

# --- control plane.
check_match "duplicate local address: EEXIST naming the field" 'errno=17 msg=IPVS_RS_LADDR_ATTR_ADDR' \
	"$(ext laddr-add tcp $VIP:80 10.0.5.1)"
check_match "unknown service: ESRCH" 'errno=3 msg=IPVS_RS_ATTR_SERVICE' "$(ext laddr-add tcp $VIP:8080 10.0.5.1)"
check_match "removing an unknown local address: ENOENT" 'errno=2 msg=IPVS_RS_LADDR_ATTR_ADDR' \
	"$(ext laddr-del tcp $VIP:80 10.0.5.9)"
check_eq "laddr list" "10.0.5.1 conns=0 exhausted=0 10.0.5.2 conns=0 exhausted=0" \
	"$(ext laddr-list tcp $VIP:80 | tr '\n' ' ' | sed 's/ $//')"
check_match "stock ipvsadm lists the FULLNAT real servers" "10\.0\.5\.11:80" "$(dir ipvsadm -L -n)"
check_match "/proc/net/ip_vs names FullNat" "10\.0\.5\.11:80|0A00050B:0050 +FullNat" "$(dir cat /proc/net/ip_vs)"

# --- TCP: four connections, round robin over servers and local addresses.
seen=$(for _ in 1 2 3 4; do timeout 10 ip netns exec "$client" socat -T 5 -t 5 - TCP:$VIP:80 </dev/null; done | sort | uniq -c | awk '{print $2 "@" $3}' | tr '\n' ' ')
log_info "answers: $seen"
check_match "both servers answer" 'rs1@.*rs2@|rs2@.*rs1@' "$seen"
check_match "servers see local address 10.0.5.1" '@10\.0\.5\.1 ' "$seen"
check_match "servers see local address 10.0.5.2" '@10\.0\.5\.2 ' "$seen"
check_not "no server sees the client address" grep -q 10.0.1.2 <<<"$seen"

data=$(mktemp /tmp/fnat.XXXXXX)
head -c 2000000 /dev/urandom >"$data"
check_eq "TCP: 2 MB echoed intact through FULLNAT" "$(sha256sum <"$data" | cut -d' ' -f1)" \
	"$(timeout 30 ip netns exec "$client" socat -T 10 -t 10 - TCP:$VIP:81 <"$data" | sha256sum | cut -d' ' -f1)"

# --- TOA: the option goes on the SYN and the first segment after it; the
# server's SYN-ACK MSS is lowered by 8 so the client leaves room.
check_eq "TOA on for the echo service" ok "$(ext toa tcp $VIP:81 on)"
check_eq "TCP with TOA: 2 MB echoed intact" "$(sha256sum <"$data" | cut -d' ' -f1)" \
	"$(timeout 30 ip netns exec "$client" socat -T 10 -t 10 - TCP:$VIP:81 <"$data" | sha256sum | cut -d' ' -f1)"
check_eq "TOA written on SYN and first ACK" "toa_written=2" "$(ext svc tcp $VIP:81 | grep toa_written)"
check_eq "no TOA skipped" "toa_skipped=0" "$(ext svc tcp $VIP:81 | grep toa_skipped)"
mss=$(cli python3 -c "
import socket
s = socket.create_connection(('$VIP', 81), timeout=10)
print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG))")
check_eq "client's MSS leaves room for TOA (1452 - 12 timestamp bytes)" 1440 "$mss"
check_eq "TOA off for the other service" "toa=0" "$(ext svc tcp $VIP:80 | grep '^toa=')"

# A SYN whose options fill the 60-byte TCP header leaves no room for TOA:
# it goes without (counted) and the connection still opens; the ACK after
# it carries the option. (A raw-socket client; its kernel's resets are
# dropped. Against the service whose server answers and closes, so no
# server process outlives the test.)
check_eq "TOA on for the answering service" ok "$(ext toa tcp $VIP:80 on)"
ip netns exec "$client" nft add table ip raw_rst
ip netns exec "$client" nft add chain ip raw_rst out '{ type filter hook output priority 0; }'
ip netns exec "$client" nft add rule ip raw_rst out tcp sport 30000 tcp flags rst drop
skipped0=$(ext svc tcp $VIP:80 | sed -n 's/^toa_skipped=//p')
written0=$(ext svc tcp $VIP:80 | sed -n 's/^toa_written=//p')
full_opts=02040584$(printf '01%.0s' $(seq 36))
check_eq "a SYN with 40 bytes of options still connects" "ok 30000" \
	"$(cli timeout 60 python3 "$here/py/toa_client.py" --src 10.0.1.2 --dst $VIP --dport 80 --sport 30000 --syn-opts "$full_opts")"
check_eq "... its TOA skipped and counted" $((skipped0 + 1)) "$(ext svc tcp $VIP:80 | sed -n 's/^toa_skipped=//p')"
check_eq "... the ACK after it carries TOA" $((written0 + 1)) "$(ext svc tcp $VIP:80 | sed -n 's/^toa_written=//p')"
ext toa tcp $VIP:80 off >/dev/null

# --- UDP. Flows live an hour here, not 300 s: the port counts below add
# up flows made over several minutes on the slow debug kernel, and the
# first ones must not expire meanwhile.
dir ipvsadm --set 0 0 3600
check_match "UDP through FULLNAT" '^rs[12] 10\.0\.5\.[12]$' "$(echo q | timeout 10 ip netns exec "$client" socat -T 2 -t 2 - UDP:$VIP:53)"

# --- ICMP: a real server's port unreachable (nothing listens on 5400)
# reaches the client as coming from the virtual service.
dir ipvsadm -A -u $VIP:5400 -s rr
dir ipvsctl dest add udp $VIP:5400 "$(rs_ip 1)":5400 --fwd fullnat
ext laddr-add udp $VIP:5400 10.0.5.1 >/dev/null
check_match "UDP: the server's port unreachable reaches the client" 'Connection refused' \
	"$(echo q | timeout 10 ip netns exec "$client" socat -T 3 -t 3 - UDP:$VIP:5400 2>&1)"

# --- ports: one per connection; exhaustion is counted, never a hang.
# UDP flows live an hour (above); 2 addresses x $PORTS ports. One flow is
# in already.
before=$(ext laddr-list udp $VIP:53 | awk '{split($2, c, "="); s += c[2]} END {print s}')
for i in $(seq 10); do echo q | timeout 5 ip netns exec "$client" socat -T 0.3 -t 0.3 - UDP:$VIP:53 >/dev/null 2>&1; done
after=$(ext laddr-list udp $VIP:53 | awk '{split($2, c, "="); s += c[2]} END {print s}')
check_eq "10 more flows hold 10 more local ports" $((before + 10)) "$after"
check_eq "one connection per port" "$(dir grep -c '^UDP .* 0A000164 0035 ' /proc/net/ip_vs_conn)" "$after"
for i in $(seq $((2 * PORTS))); do echo q | timeout 5 ip netns exec "$client" socat -T 0.2 -t 0.2 - UDP:$VIP:53 >/dev/null 2>&1; done
# The pools are the namespace's, per address: the UDP flow to $VIP:5400
# above holds a port of 10.0.5.1's pool too.
other=$(ext laddr-list udp $VIP:5400 | awk '{split($2, c, "="); s += c[2]} END {print s}')
check_eq "the pool is full (shared with the :5400 service's $other flow)" $((2 * PORTS - other)) \
	"$(ext laddr-list udp $VIP:53 | awk '{split($2, c, "="); s += c[2]} END {print s}')"
check_match "exhaustion is counted per service" '^fnat_exhausted=[1-9]' "$(ext svc udp $VIP:53 | grep fnat_exhausted)"
check_match "... and per local address" 'exhausted=[1-9]' "$(ext laddr-list udp $VIP:53)"

# --- pools are per protocol: TCP is unaffected.
tcp_ok() { timeout 10 ip netns exec "$client" socat -T 5 -t 5 - TCP:$VIP:80 </dev/null | grep -q '^rs'; }
check "TCP still works with the UDP service's ports exhausted" wait_for 20 tcp_ok

check "rmmod with FULLNAT connections" rmmod ipvs_rs

# --- two services share a local address: one pool for both. Two FULLNAT
# services (other VIPs and ports) send to the same real server port
# (rs1:82, echo) from the same local address 10.0.5.3; all of the
# address's ports are in use at once, half by each service: every
# connection echoes its data intact, the real server sees as many distinct
# LIP:lport peers as there are connections, and one more connection to
# either service finds the pool empty (with a pool per service each would
# still have half its ports).
SHARED=24
VIP2=10.0.1.101
ip -n "$director" addr add $VIP2/32 dev d0
ip -n "$director" addr add 10.0.5.3/24 dev br5
load_ipvs_rs fnat_ports=$((2 * SHARED)) || { echo "# cannot reload ipvs_rs"; exit $ksft_fail; }
# An echo server whose accept queue holds every connection at once
# (socat's default backlog is 5).
bg ip netns exec "${RS_NS[0]}" socat -t 5 TCP-LISTEN:82,fork,reuseaddr,backlog=128 EXEC:cat
wait_for 10 ip netns exec "${RS_NS[0]}" bash -c ': </dev/tcp/127.0.0.1/82' 2>/dev/null
for svc in $VIP:8081 $VIP2:9081; do
	dir ipvsadm -A -t $svc -s rr
	dir ipvsctl dest add tcp $svc "$(rs_ip 1)":82 --fwd fullnat
	check_eq "laddr add 10.0.5.3 to $svc" ok "$(ext laddr-add tcp $svc 10.0.5.3)"
done
go=$(mktemp -u /tmp/fnat_go.XXXXXX)
out=$(mktemp /tmp/fnat_out.XXXXXX)
cli timeout 90 python3 "$here/py/fnat_concurrent.py" --per $SHARED --size 32768 --go "$go" --timeout 60 \
	$VIP:8081 $VIP2:9081 >"$out" 2>&1 &
conc=$!
wait_for 60 grep -q '^connected' "$out"
check_eq "$((2 * SHARED)) connections open at once through the two services" "connected $((2 * SHARED))" \
	"$(grep '^connected' "$out")"
peers=$(ip netns exec "${RS_NS[0]}" ss -Htn state established '( sport = :82 )' | awk '{print $4}' | grep '^10\.0\.5\.3:')
check_eq "the real server sees $((2 * SHARED)) distinct LIP:lport peers" "$((2 * SHARED)) $((2 * SHARED))" \
	"$(wc -l <<<"$peers") $(sort -u <<<"$peers" | wc -l)"
check_eq "... half from each service" "conns=$SHARED conns=$SHARED" \
	"$(for svc in $VIP:8081 $VIP2:9081; do ext laddr-list tcp $svc | awk '{print $2}'; done | tr '\n' ' ' | sed 's/ $//')"
check_eq "the connection table holds them" $((2 * SHARED)) \
	"$(dir grep -cE '^TCP .* (0A000164 1F91|0A000165 2379) 0A00050B 0052 ESTABLISHED' /proc/net/ip_vs_conn)"
check_not "a connection more finds the shared pool empty" \
	cli timeout 5 python3 -c "import socket; socket.create_connection(('$VIP2', 9081), timeout=3)"
check_match "... counted for that service" '^fnat_exhausted=[1-9]' "$(ext svc tcp $VIP2:9081 | grep fnat_exhausted)"
check_match "... and its local address" 'exhausted=[1-9]' "$(ext laddr-list tcp $VIP2:9081)"
touch "$go"
wait "$conc"
check_eq "every connection echoed its 32 KB intact" "ok $((2 * SHARED))" "$(tail -n 1 "$out")"
rm -f "$go" "$out"

# Deleting one service keeps the address's pool for the other (and for
# the deleted one's connections until they end).
dir ipvsadm -D -t $VIP2:9081
check_eq "laddr list after the other service is gone" "10.0.5.3 conns=$SHARED exhausted=0" "$(ext laddr-list tcp $VIP:8081)"

cleanup_bg
rm -f "$data"
check "rmmod with connections on a shared pool" rmmod ipvs_rs
exit_test
