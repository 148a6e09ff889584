#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# ICMP errors that belong to NAT connections are translated and forwarded:
# - fragmentation needed from a router between the director and the real
#   server reaches the client as coming from the virtual service, so path
#   MTU discovery works through NAT (UDP: the client learns the MTU of the
#   virtual address; TCP: a bulk upload over the narrow link completes);
# - port unreachable from the client about a reply reaches the real server
#   as concerning its own address;
# - TUN: fragmentation needed for the director's IPIP packets updates its
#   path MTU to the real server and reaches the client with the MTU left
#   inside the tunnel;
# - with a PROXY protocol header (sequence numbers moved), the same upload
#   completes: the quoted sequence number is given back in the client's
#   space.
#
#   client 10.0.1.2 -- 10.0.1.1 director 10.0.3.1 -- 10.0.3.2 rtr 10.0.4.1 -- rs 10.0.4.10
#                       VIP 10.0.1.100                       (mtu 1000 toward rs)
source "$(dirname "$0")/lib.sh"
require_root
require_cmd socat ipvsadm python3 sha256sum
unload_all
here=$(cd "$(dirname "$0")" && pwd)
VIP=10.0.1.100
RS=10.0.4.10

setup_ns client director rtr rs || exit $ksft_fail
ip link add c0 netns "$client" type veth peer name d0 netns "$director"
ip link add d1 netns "$director" type veth peer name t0 netns "$rtr"
ip link add t1 netns "$rtr" type veth peer name e0 netns "$rs"
ip -n "$client" addr add 10.0.1.2/24 dev c0
ip -n "$client" link set c0 up
ip -n "$client" route add default via 10.0.1.1
ip -n "$director" addr add 10.0.1.1/24 dev d0
ip -n "$director" addr add $VIP/32 dev d0
ip -n "$director" addr add 10.0.3.1/24 dev d1
ip -n "$director" link set d0 up
ip -n "$director" link set d1 up
ip -n "$director" route add 10.0.4.0/24 via 10.0.3.2
ip -n "$rtr" addr add 10.0.3.2/24 dev t0
ip -n "$rtr" addr add 10.0.4.1/24 dev t1
ip -n "$rtr" link set t0 up
# The narrow link: the router cannot forward more than 1000 bytes to the
# real server. Both ends of it have MTU 1000 (a veth drops what it
# receives above its own MTU, silently: with the server's end at 1500, any
# full-size segment the server sent without GSO, a retransmission say,
# vanished and the echo below stalled). The server still advertises an
# MSS of 1460 (advmss), so that its MSS does not hide the problem: the
# client's segments are too big for the link and draw frag-needed.
ip -n "$rtr" link set t1 mtu 1000 up
ip -n "$rtr" route add default via 10.0.3.1
ip -n "$rs" addr add $RS/24 dev e0
ip -n "$rs" link set e0 mtu 1000 up
ip -n "$rs" route add default via 10.0.4.1 advmss 1460
for ns in "$director" "$rtr"; do
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
done
load_ipvs_rs || { echo "# cannot load ipvs_rs"; exit $ksft_fail; }

dir() { ip netns exec "$director" "$@"; }
cli() { ip netns exec "$client" "$@"; }

dir ipvsadm -A -u $VIP:53 -s rr
dir ipvsadm -a -u $VIP:53 -r $RS:5353 -m
dir ipvsadm -A -t $VIP:80 -s rr
dir ipvsadm -a -t $VIP:80 -r $RS:8080 -m
dir ipvsadm -A -t $VIP:81 -s rr
dir ipvsadm -a -t $VIP:81 -r $RS:8081 -m
dir ipvsctl service edit tcp $VIP:81 --proxy-protocol v2
dir ipvsadm -A -u $VIP:9000 -s rr
dir ipvsadm -a -u $VIP:9000 -r $RS:9000 -m

bg ip netns exec "$rs" socat -u UDP-RECV:5353 /dev/null
data=$(mktemp /tmp/icmp.XXXXXX)
got=$(mktemp /tmp/icmp.XXXXXX)
head -c 300000 /dev/urandom >"$data"
bg ip netns exec "$rs" socat -u TCP-LISTEN:8080,reuseaddr OPEN:"$got",creat,trunc
wait_for 10 ip netns exec "$rs" bash -c ': </dev/tcp/127.0.0.1/8080' 2>/dev/null
# That probe was the listener's one connection: start it again.
sleep 0.5
bg ip netns exec "$rs" socat -u TCP-LISTEN:8080,reuseaddr OPEN:"$got",creat,trunc
sleep 0.5

# --- frag needed, UDP: the client learns the virtual address's path MTU.
mtu=$(cli python3 "$here/py/udp_df.py" $VIP 53 1400)
check_eq "UDP: client learns path MTU 1000 for the VIP" 1000 "$mtu"
check_match "UDP: the client's route cache has it" "mtu 1000" "$(cli ip route get $VIP)"

# --- frag needed, TCP: an upload over the narrow link completes.
cli timeout 30 socat -u OPEN:"$data" TCP:$VIP:80
sleep 1
check_eq "TCP: 300 kB upload through the 1000-byte link arrives intact" \
	"$(sha256sum <"$got" | cut -d' ' -f1)" "$(sha256sum <"$data" | cut -d' ' -f1)"

# --- the same through a PROXY protocol header: the server reads the header,
# then echoes the upload.
bg ip netns exec "$rs" python3 "$here/py/pp_server.py" 8081 echo
wait_for 20 bash -c "ip netns exec $rs ss -Hnlt 'sport = :8081' | grep -q ."
ip -n "$client" route flush cache
# Both ends' sockets every second while it runs (shown if it fails).
sockets=$(mktemp /tmp/icmp.XXXXXX)
bg bash -c "while :; do date +%T.%N; ip netns exec $client ss -tnio 'dport = :81'; \
	ip netns exec $rs ss -tnio 'sport = :8081'; sleep 1; done >$sockets 2>&1"
sampler=$!
# And the director's two sides, headers only (shown if it fails).
cap_c=$(mktemp /tmp/icmp.XXXXXX) cap_s=$(mktemp /tmp/icmp.XXXXXX)
bg dir tcpdump -q -U -s 96 -i d0 -w "$cap_c" tcp port 81 2>/dev/null
cap1=$!
bg dir tcpdump -q -U -s 96 -i d1 -w "$cap_s" tcp port 8081 or icmp 2>/dev/null
cap2=$!
cli timeout 60 socat -T 20 -t 30 - TCP:$VIP:81 <"$data" >"$got"
kill "$sampler" "$cap1" "$cap2" 2>/dev/null
pp_want="PP v2 10.0.1.2 $VIP:81 $(sha256sum <"$data" | cut -d' ' -f1)"
pp_got="$(head -1 "$got" | sed 's/:[0-9]* / /') $(tail -c +"$(($(head -1 "$got" | wc -c) + 1))" "$got" | sha256sum | cut -d' ' -f1)"
check_eq "TCP + PROXY protocol: header, then 300 kB echoed over the 1000-byte link" "$pp_want" "$pp_got"
if [ "$pp_want" != "$pp_got" ]; then
	# Where it stopped: bytes echoed, the director's drops, the kernels'
	# TCP and ICMP counters.
	echo "# echoed $(wc -c <"$got") of $(wc -c <"$data") bytes (+ header line)"
	dir grep -E '^drop_' /proc/net/ip_vs_ext_stats | grep -v ' 0$' | sed 's/^/# director: /'
	dir ipvsadm -L -n -c | grep ':81 ' | sed 's/^/# director conn: /'
	echo "# both ends' sockets, every second (client first):"
	sed 's/^/#   /' "$sockets" | tail -n 400
	echo "# the director's client side (d0), last 60 packets:"
	tcpdump -r "$cap_c" -nn -S -tt 2>/dev/null | tail -n 60 | sed 's/^/#   /'
	echo "# the director's server side (d1), last 60 packets:"
	tcpdump -r "$cap_s" -nn -S -tt 2>/dev/null | tail -n 60 | sed 's/^/#   /'
	ip -n "$rtr" -s link show t1 | sed 's/^/# rtr t1: /'
	for ns in "$client" "$director" "$rtr" "$rs"; do
		ip netns exec "$ns" nstat -az 2>/dev/null |
			grep -E 'TcpRetransSegs|TcpExtTCPTimeouts|IcmpInDestUnreachs|IcmpOutDestUnreachs|IpFragFails|IpOutDiscards|TcpExtTCPLossProbes' |
			awk -v n="${ns%%-*}" '$2 != 0 { print "# " n ": " $1 " " $2 }'
	done
fi

# --- port unreachable from the client about a reply reaches the server.
out=$(mktemp /tmp/icmp.XXXXXX)
bg ip netns exec "$rs" python3 "$here/py/udp_refused.py" 9000 "$out"
wait_for 20 bash -c "ip netns exec $rs ss -Hnlu 'sport = :9000' | grep -q ."
echo q | cli socat -T 0.5 -t 0.5 - UDP:$VIP:9000 >/dev/null
wait_for 10 test -s "$out"
check_eq "the client's port unreachable reaches the real server" refused "$(cat "$out")"

# --- TUN: the router reports the MTU of our IPIP packets to the director,
# which learns it for the real server and tells the client the MTU left
# inside the tunnel (1000 - 20).
dir ipvsadm -A -u $VIP:55 -s rr
dir ipvsadm -a -u $VIP:55 -r $RS:55 -i
ip -n "$client" route flush cache
mtu=$(cli python3 "$here/py/udp_df.py" $VIP 55 1400)
check_eq "TUN: client learns path MTU 980 for the VIP" 980 "$mtu"
check_match "TUN: the director learned 1000 towards the real server" "mtu 1000" "$(dir ip route get $RS)"

# The translated errors are counted with their connections.
check_match "ICMP counted on the UDP service (InPkts >= 2)" '^([2-9]|[1-9][0-9]+)$' \
	"$(dir ipvsadm -L -n --stats | awk '$2 == "10.0.1.100:9000" {print $4}')"

cleanup_bg
rm -f "$data" "$got" "$out"
exit_test
