#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Persistence and what happens to connections whose real server goes away:
# - a persistent service (-p) sends every connection of a client to the
#   server its first one got, different clients spread; a netmask (-M)
#   groups clients; templates show in the connection table and as
#   PersistConn, and expire after the persistence timeout;
# - a quiesced server keeps its persistent clients unless
#   expire_quiescent_template is set; a removed one loses them;
# - packets of a connection whose server was removed are dropped, or with
#   expire_nodest_conn rescheduled; conn_reuse_mode reschedules a new
#   connection on a finished one's tuple;
# - a server at its upper connection threshold takes no new connections
#   until it drops below its lower one;
# - the sysctls exist with upstream's defaults.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/topology.sh"
require_root
require_cmd socat ipvsadm
unload_all
N=3
topo_lvs $N || exit $ksft_fail
load_ipvs_rs || { echo "# cannot load ipvs_rs"; exit $ksft_fail; }

dir() { ip netns exec "$director" "$@"; }
cli() { ip netns exec "$client" "$@"; }
vs() { dir sysctl -qw "net.ipv4.vs.$1=$2"; }

# --- sysctls and their defaults.
for kv in expire_nodest_conn=0 expire_quiescent_template=0 conn_reuse_mode=1 \
	sloppy_tcp=0 sloppy_sctp=0 nat_icmp_send=0 pmtu_disc=1 schedule_icmp=0 \
	run_estimation=1 lblc_expiration=86400 lblcr_expiration=86400; do
	check_eq "sysctl ${kv%=*} default" "${kv#*=}" "$(dir sysctl -n "net.ipv4.vs.${kv%=*}")"
done

for i in $(seq $N); do
	ns=${RS_NS[$((i - 1))]}
	bg ip netns exec "$ns" socat -t 5 TCP-LISTEN:80,fork,reuseaddr SYSTEM:"echo rs$i"
	bg ip netns exec "$ns" socat -t 5 UDP-LISTEN:53,fork,reuseaddr SYSTEM:"echo rs$i"
done
for i in $(seq $N); do
	wait_for 10 ip netns exec "${RS_NS[$((i - 1))]}" bash -c ': </dev/tcp/127.0.0.1/80' 2>/dev/null
done
# Four client addresses.
CLIENTS="10.0.1.2 10.0.1.3 10.0.1.4 10.0.1.5"
for a in 10.0.1.3 10.0.1.4 10.0.1.5; do ip -n "$client" addr add $a/24 dev c0; done

tcp_from() { timeout 10 ip netns exec "$client" socat -T 5 -t 5 - TCP:$VIP:80,bind="$1" </dev/null; }
udp_from() { # udp_from ADDR [SPORT]
	echo q | timeout 10 ip netns exec "$client" socat -T 2 - UDP:$VIP:53,bind="$1"${2:+,sourceport=$2,reuseaddr}
}
# sticky ADDR COUNT: the distinct servers COUNT connections from ADDR reached.
sticky() {
	local i
	for i in $(seq "$2"); do tcp_from "$1"; done | sort -u | tr '\n' ' '
}

add_service() { # add_service OPTIONS...: TCP and UDP services over all servers
	local i
	dir ipvsadm -C
	dir ipvsadm -A -t $VIP:80 -s rr "$@"
	dir ipvsadm -A -u $VIP:53 -s rr "$@"
	for i in $(seq $N); do
		dir ipvsadm -a -t $VIP:80 -r "$(rs_ip "$i")":80 -m
		dir ipvsadm -a -u $VIP:53 -r "$(rs_ip "$i")":53 -m
	done
}
persist_conns() { dir ipvsadm -L -n -t $VIP:80 --persistent-conn | awk '/->/ && $2 ~ /:80$/ {s += $(NF-2)} END {print s + 0}'; }

# --- persistence per client.
add_service -p 60
declare -A first
servers=""
for a in $CLIENTS; do
	got=$(sticky "$a" 4)
	check_match "client $a sticks to one server" '^rs[0-9] $' "$got"
	first[$a]=$got
	servers+="$got"
done
distinct=$(echo "$servers" | tr ' ' '\n' | sort -u | grep -c rs)
check "clients spread over several servers ($distinct)" test "$distinct" -ge 2
check_eq "one template per client (PersistConn)" 4 "$(persist_conns)"
check_match "templates in the connection table" 'TCP 0A000102 0000 0A000164 0050 0A00020[BCD] 0050 NONE' \
	"$(dir cat /proc/net/ip_vs_conn)"
check_match "ipvsadm -c shows the template" 'TCP +[0-9:]+ +NONE +10\.0\.1\.2:0 +10\.0\.1\.100:80' \
	"$(dir ipvsadm -L -n -c)"

# --- a netmask groups clients: the whole /24 shares one template.
add_service -p 60 -M 255.255.255.0
got=$(for a in $CLIENTS; do tcp_from "$a"; done | sort -u | tr '\n' ' ')
check_match "-M 255.255.255.0: all four clients on one server" '^rs[0-9] $' "$got"
check_eq "-M 255.255.255.0: one template, for 10.0.1.0" 1 "$(dir grep -c '^TCP 0A000100 0000' /proc/net/ip_vs_conn)"

# --- quiescing and removing a server.
add_service -p 60
a=10.0.1.2
s=$(tcp_from $a)
n=${s#rs}
dir ipvsadm -e -t $VIP:80 -r "$(rs_ip "$n")":80 -m -w 0
check_eq "quiesced server keeps its persistent client" "$s" "$(tcp_from $a)"
vs expire_quiescent_template 1
check_not "with expire_quiescent_template the client moves" test "$(tcp_from $a)" = "$s"
vs expire_quiescent_template 0
s2=$(tcp_from $a)
n2=${s2#rs}
dir ipvsadm -d -t $VIP:80 -r "$(rs_ip "$n2")":80
check_not "removed server loses its persistent client" test "$(tcp_from $a)" = "$s2"

# --- templates expire after the persistence timeout once unused (times
# scaled on slow kernels: the template must outlast socat's scaled close
# wait).
persist_s=$(scaled 2)
persist_s=${persist_s%.*}
udp_s=$(scaled 1)
udp_s=${udp_s%.*}
add_service -p "$persist_s"
dir ipvsadm --set 0 0 "$udp_s"
udp_from 10.0.1.3 >/dev/null
check_match "UDP template present" 'UDP 0A000103 0000 0A000164 0035' "$(dir cat /proc/net/ip_vs_conn)"
check "UDP template expires (connection $udp_s s, persistence $persist_s s)" \
	wait_for 15 bash -c "! ip netns exec $director grep -q '^UDP 0A000103 0000' /proc/net/ip_vs_conn"
dir ipvsadm --set 0 0 300

# --- expire_nodest_conn: a UDP flow whose server is removed.
add_service
s=$(udp_from 10.0.1.4 5000)
n=${s#rs}
dir ipvsadm -d -u $VIP:53 -r "$(rs_ip "$n")":53
check_eq "server removed: its flow's packets are dropped" "" "$(udp_from 10.0.1.4 5000)"
vs expire_nodest_conn 1
got=$(udp_from 10.0.1.4 5000)
check_match "expire_nodest_conn: the flow is rescheduled" '^rs[0-9]$' "$got"
check_not "... to another server" test "$got" = "$s"
vs expire_nodest_conn 0
# Removing a server with expire_nodest_conn set expires its flows at once.
s=$(udp_from 10.0.1.5 5001)
vs expire_nodest_conn 1
dir ipvsadm -d -u $VIP:53 -r "$(rs_ip "${s#rs}")":53
check "... and removal expires them without waiting for a packet" \
	wait_for 5 bash -c "! ip netns exec $director grep -q '^UDP 0A000105 1389' /proc/net/ip_vs_conn"
vs expire_nodest_conn 0

# --- conn_reuse_mode: a new TCP connection on a TIME_WAIT one's tuple.
add_service
# Each connection is let finish (the director's entry in TIME_WAIT or
# CLOSE, as a loaded machine may take longer than a moment) before the
# next SYN on its tuple.
closed_6000() {
	ip netns exec "$director" grep '^TCP 0A000102 1770 ' /proc/net/ip_vs_conn | grep -qE 'TIME_WAIT|CLOSE'
}
reuse() { local i; for i in 1 2 3; do
	timeout 10 ip netns exec "$client" socat -T 5 -t 5 - TCP:$VIP:80,bind=10.0.1.2,sourceport=6000,reuseaddr </dev/null
	wait_for 5 closed_6000 >/dev/null
done | sort -u | wc -l; }
check_eq "conn_reuse_mode=1: each reuse rescheduled (3 servers)" 3 "$(reuse)"
dir ipvsadm -C
add_service
vs conn_reuse_mode 0
check_eq "conn_reuse_mode=0: the old connection is reused (1 server)" 1 "$(reuse)"
vs conn_reuse_mode 1

# --- overload thresholds with hysteresis: a server at its upper threshold
# (-x) takes no new connections until it is back below its lower one (-y).
# (A service of its own, so the server starts without connections.) Flows
# are ended deterministically: a packet sent on a flow after the UDP
# timeout was lowered to 1 s re-arms it with 1 s.
dir ipvsadm -A -u $VIP:54 -s rr
dir ipvsadm -a -u $VIP:54 -r "$(rs_ip 1)":53 -m -x 3 -y 1
dir ipvsadm --set 0 0 120
flow() { # flow SPORT: one request on the flow from 10.0.1.2:SPORT
	echo q | timeout 5 ip netns exec "$client" socat -T 0.5 -t 0.5 - UDP:$VIP:54,bind=10.0.1.2,sourceport="$1",reuseaddr 2>/dev/null
}
rs1_conns() { dir ipvsadm -L -n -u $VIP:54 | awk '/->/ && $2 ~ /:53$/ {print $5 + $6}'; }
rs1_has() { test "$(rs1_conns)" = "$1"; }
flow 7001 >/dev/null
flow 7002 >/dev/null
check_eq "third flow accepted (reaches the upper threshold)" rs1 "$(flow 7003)"
check_eq "overloaded: a new flow is refused" "" "$(flow 7004)"
dir ipvsadm --set 0 0 1
flow 7001 >/dev/null
flow 7002 >/dev/null
dir ipvsadm --set 0 0 120
check "two flows end, one is left" wait_for 20 rs1_has 1
check_eq "one flow left, not below -y 1: still refused" "" "$(flow 7004)"
dir ipvsadm --set 0 0 1
flow 7003 >/dev/null
check "the last flow ends" wait_for 20 rs1_has 0
dir ipvsadm --set 0 0 300
check_eq "below the lower threshold: accepted again" rs1 "$(flow 7004)"

cleanup_bg
exit_test
