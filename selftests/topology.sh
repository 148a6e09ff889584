# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
# The LVS test topology, built from network namespaces and veth pairs.
# Source after lib.sh.
#
#   client 10.0.1.2 ---- 10.0.1.1 director 10.0.2.1 (br0) ---- rsN 10.0.2.(10+N)
#                         VIP 10.0.1.100
#   (topo_direct_return adds client 10.0.2.2 on br0 for DR/TUN answers)
#
# The client reaches the director directly; the real servers sit on a
# bridge inside the director namespace (one L2 segment, as DR needs) and
# route through the director (as NAT needs).

VIP=10.0.1.100
CLIENT_IP=10.0.1.2
DIR_CLIENT_IP=10.0.1.1
DIR_RS_IP=10.0.2.1

rs_ip() { echo "10.0.2.$((10 + $1))"; }

# topo_lvs N: creates client, director and rs1..rsN; sets $client,
# $director and the array RS_NS.
topo_lvs() {
	local n=$1 i
	setup_ns client director || return 1
	RS_NS=()

	ip link add c0 netns "$client" type veth peer name d0 netns "$director"
	ip -n "$client" addr add "$CLIENT_IP/24" dev c0
	ip -n "$client" link set c0 up
	ip -n "$client" route add default via "$DIR_CLIENT_IP"

	ip -n "$director" addr add "$DIR_CLIENT_IP/24" dev d0
	ip -n "$director" addr add "$VIP/32" dev d0
	ip -n "$director" link set d0 up
	ip -n "$director" link add br0 type bridge
	ip -n "$director" addr add "$DIR_RS_IP/24" dev br0
	ip -n "$director" link set br0 up
	ip netns exec "$director" sysctl -qw net.ipv4.ip_forward=1

	for i in $(seq "$n"); do
		local ns
		setup_ns "rs$i" || return 1
		ns=$(eval echo "\$rs$i")
		RS_NS+=("$ns")
		ip link add e0 netns "$ns" type veth peer name "r$i" netns "$director"
		ip -n "$director" link set "r$i" master br0 up
		ip -n "$ns" addr add "$(rs_ip "$i")/24" dev e0
		ip -n "$ns" link set e0 up
		ip -n "$ns" route add default via "$DIR_RS_IP"
	done
}

# topo_direct_return [ADDR]: for DR and TUN, where real servers answer
# clients directly, not through the director: put the client on the real
# servers' segment too (10.0.2.2) and give each real server a route to it
# there. (Through the director the answers, sourced from the VIP, a local
# address of the director, would be dropped as martians.) The answers to
# the client address ADDR take that way (default $CLIENT_IP; another
# address is added to the client's c0, so NAT answers to $CLIENT_IP can
# still go back through the director).
CLIENT_LAN_IP=10.0.2.2
topo_direct_return() {
	local ns addr=${1:-$CLIENT_IP}
	ip link add c1 netns "$client" type veth peer name rc netns "$director"
	ip -n "$director" link set rc master br0 up
	ip -n "$client" addr add "$CLIENT_LAN_IP/24" dev c1
	ip -n "$client" link set c1 up
	[ "$addr" = "$CLIENT_IP" ] || ip -n "$client" addr add "$addr/24" dev c0
	ip netns exec "$client" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.c1.rp_filter=0 \
		net.ipv4.conf.c0.rp_filter=0
	for ns in "${RS_NS[@]}"; do
		ip -n "$ns" route add "$addr/32" via "$CLIENT_LAN_IP"
	done
}

# rs_vip_dr NS VIP: the real server in NS accepts DR packets for VIP: the
# VIP on lo, not answered in ARP.
rs_vip_dr() {
	ip -n "$1" addr add "$2/32" dev lo
	ip netns exec "$1" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
}

# rs_vip_tun NS VIP: the real server in NS decapsulates TUN (IPIP)
# packets for VIP: the VIP on tunl0, no reverse-path filter.
rs_vip_tun() {
	ip -n "$1" link add tunl0 type ipip 2>/dev/null || true
	ip -n "$1" link set tunl0 up
	ip -n "$1" addr add "$2/32" dev tunl0
	ip netns exec "$1" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.tunl0.rp_filter=0
}
