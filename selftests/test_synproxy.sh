#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# SYNPROXY: the director answers SYNs to a SYNPROXY service itself with
# cookies and opens connections to real servers only for clients that
# complete the handshake.
#
# - A spoofed-source SYN flood (hping3 --rand-source) at a SYNPROXY service
#   leaves the connection table alone and never reaches the real servers
#   (nft counters there), while legitimate clients get verified answers;
#   the same flood at a plain service fills the table and reaches them;
#   nftables synproxy on a real server is the reference in the same boot.
# - Long transfers (both directions, data verified) through SYNPROXY+NAT
#   and SYNPROXY+FULLNAT (with TOA), with timestamps, SACK and window
#   scaling on, and with the ecosystem's defaults (timestamps off).
# - Forged cookies are dropped and counted; a real server that does not
#   answer gets the SYN again (bounded); a client RST while waiting reaches
#   the server and closes the entry.
# - Control: DR/TUN refused by name; ipvsctl shows the switch and the
#   counters (text, JSON), save/restore keeps it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/topology.sh"
require_root
require_cmd socat ipvsadm python3 nft hping3 sha256sum
unload_all
here=$(cd "$(dirname "$0")" && pwd)
N=2
topo_lvs $N || exit $ksft_fail
load_ipvs_rs || { echo "# cannot load ipvs_rs"; exit $ksft_fail; }
dir() { ip netns exec "$director" "$@"; }
cli() { ip netns exec "$client" "$@"; }
rs() { ip netns exec "${RS_NS[$(($1 - 1))]}" "${@:2}"; }
# Background servers are started without a shell function in between, so
# that cleanup_bg kills the servers themselves.
rsns() { echo "${RS_NS[$(($1 - 1))]}"; }
# The director's answers to spoofed sources go towards the client side
# (the client namespace drops them: not its addresses, no forwarding).
ip -n "$director" route add default via $CLIENT_IP
LADDR=$DIR_RS_IP

# The servers wait up to 5 s for their answer after the client's FIN (the
# client half-closes at once; through SYNPROXY that FIN reaches the server
# with the end of its handshake, and socat's default 0.5 s is short for a
# fork and exec under TCG).
for i in $(seq $N); do
	bg ip netns exec "$(rsns "$i")" socat -t 5 TCP-LISTEN:80,fork,reuseaddr SYSTEM:"echo rs$i"
	bg ip netns exec "$(rsns "$i")" socat -t 5 TCP-LISTEN:81,fork,reuseaddr EXEC:cat
	bg ip netns exec "$(rsns "$i")" socat -t 5 TCP-LISTEN:82,fork,reuseaddr SYSTEM:"echo rs$i"
	bg ip netns exec "$(rsns "$i")" socat -t 5 TCP-LISTEN:85,fork,reuseaddr SYSTEM:"echo rs$i"
	# SYNs from anyone but the client and the FULLNAT local address
	# (spoofed), per port; and everything to port 85.
	rs "$i" nft -f - <<-EOF
	table ip cnt {
		counter spoof80 {}
		counter spoof82 {}
		counter syn85 {}
		counter rst85 {}
		chain in {
			type filter hook input priority 0;
			ip saddr != { $CLIENT_IP, $LADDR } tcp dport 80 tcp flags & (syn | ack) == syn counter name spoof80
			ip saddr != { $CLIENT_IP, $LADDR } tcp dport 82 tcp flags & (syn | ack) == syn counter name spoof82
			tcp dport 85 tcp flags & (syn | ack) == syn counter name syn85
			tcp dport 85 tcp flags & rst == rst counter name rst85
		}
	}
	EOF
done
for i in $(seq $N); do
	wait_for 10 rs "$i" bash -c ': </dev/tcp/127.0.0.1/82' 2>/dev/null
done
counter() { rs "$1" nft list counter ip "${3:-cnt}" "$2" | grep -o 'packets [0-9]*' | awk '{print $2}'; }
sum_counter() { echo $(($(counter 1 "$1") + $(counter 2 "$1"))); }
stat() { dir awk -v k="$1" '$1 == k {print $2}' /proc/net/ip_vs_ext_stats; }
conns() { dir awk -v p="$(printf %04X "$1")" '$1 == "TCP" && $5 == p' /proc/net/ip_vs_conn | wc -l; }
# conns_from VPORT CPORT: the entries of one client port on VPORT.
conns_from() {
	dir awk -v p="$(printf %04X "$1")" -v c="$(printf %04X "$2")" \
		'$1 == "TCP" && $5 == p && $3 == c' /proc/net/ip_vs_conn | wc -l
}
# flood COUNT PORT DST: spoofed-source SYNs, about 1000 a second (hping3
# detached from any terminal, bounded in time).
flood() {
	timeout 120 ip netns exec "$client" setsid hping3 -q -S -p "$2" --rand-source -i u1000 -c "$1" "$3" \
		</dev/null >/dev/null 2>&1
	return 0
}
# get VIP:PORT: one request; prints the answer, or "failed" (then logs it).
conns_is() { test "$(conns "$1")" = "$2"; }
get() {
	local out
	out=$(timeout 20 ip netns exec "$client" socat -T 10 -t 10 - "TCP:$1" </dev/null) && [ -n "$out" ] ||
		{ log_info "request to $1 failed"; out=failed; }
	echo "$out"
}
echo_sha() {
	timeout 120 ip netns exec "$client" socat -T 20 -t 20 - "TCP:$1" <"$data" | sha256sum | cut -d' ' -f1
}
data=$(mktemp)
head -c 4000000 /dev/urandom >"$data"
want=$(sha256sum <"$data" | cut -d' ' -f1)

# --- services: NAT (80, 81, 85) and FULLNAT (86 -> 81) with SYNPROXY, a
# plain one (82), a DR one (90).
for p in 80 81 85; do
	dir ipvsctl service add tcp $VIP:$p -s rr --synproxy
	for i in $(seq $N); do dir ipvsctl dest add tcp $VIP:$p "$(rs_ip "$i")":$p --fwd nat; done
done
dir ipvsctl service add tcp $VIP:82 -s rr
for i in $(seq $N); do dir ipvsctl dest add tcp $VIP:82 "$(rs_ip "$i")":82 --fwd nat; done
dir ipvsctl service add tcp $VIP:86 -s rr --synproxy --toa
dir ipvsctl laddr add tcp $VIP:86 $LADDR
for i in $(seq $N); do dir ipvsctl dest add tcp $VIP:86 "$(rs_ip "$i")":81 --fwd fullnat; done

# --- control plane.
check_match "service list shows synproxy" "TCP  $VIP:80 rr synproxy" "$(dir ipvsctl service list)"
check_eq "--json: synproxy true" true "$(dir ipvsctl --json service list | python3 -c \
	'import json,sys; print(str([s["synproxy"] for s in json.load(sys.stdin)["services"] if s["port"] == 80][0]).lower())')"
check_match "a DR server cannot join a SYNPROXY service (named)" "IPVS_DEST_ATTR_FWD_METHOD" \
	"$(dir ipvsctl dest add tcp $VIP:80 10.0.2.99:80 --fwd dr 2>&1)"
dir ipvsctl service add tcp $VIP:90 -s rr
dir ipvsctl dest add tcp $VIP:90 10.0.2.11:90 --fwd tun
check_match "SYNPROXY refused on a service with TUN servers (named)" "IPVS_RS_SVC_ATTR_SYNPROXY" \
	"$(dir ipvsctl service edit tcp $VIP:90 --synproxy 2>&1)"
check_match "SYNPROXY refused on UDP services (named)" "IPVS_RS_SVC_ATTR_SYNPROXY" \
	"$(dir ipvsctl service add udp $VIP:53 --synproxy 2>&1; dir ipvsctl service del udp $VIP:53 2>&1)"
check_not "the DR server was not added" bash -c "ip netns exec $director ipvsadm -L -n | grep -q 10.0.2.99"
dir ipvsctl service del tcp $VIP:90
check_eq "sysctl synproxy_dup_ack_thresh default" 10 "$(dir cat /proc/sys/net/ipv4/vs/synproxy_dup_ack_thresh)"
check_eq "sysctl synproxy_syn_retry default" 3 "$(dir cat /proc/sys/net/ipv4/vs/synproxy_syn_retry)"

# --- legitimate requests, defaults (timestamps off: MSS only).
got=$(for _ in 1 2 3 4; do get $VIP:80; done | sort -u | tr '\n' ' ')
check_eq "SYNPROXY+NAT: requests answered by both servers" "rs1 rs2 " "$got"
check "cookies sent" test "$(stat synproxy_cookies_sent)" -ge 4
check "ACKs validated" test "$(stat synproxy_ack_valid)" -ge 4
check_eq "SYNPROXY+NAT, defaults: 4 MB echoed intact" "$want" "$(echo_sha $VIP:81)"

# --- with timestamps, SACK and window scaling.
dir sysctl -qw net.ipv4.vs.synproxy_timestamp=1 net.ipv4.vs.synproxy_wscale=7 net.ipv4.vs.synproxy_sack=1
check_eq "SYNPROXY+NAT, TS/SACK/wscale: 4 MB echoed intact" "$want" "$(echo_sha $VIP:81)"
check_eq "SYNPROXY+FULLNAT+TOA, TS/SACK/wscale: 4 MB echoed intact" "$want" "$(echo_sha $VIP:86)"
# Packet loss on the server side makes both ends use SACK through the
# translation (netem drops 2% of the server's segments).
if rs 1 tc qdisc add dev e0 root netem loss 2% 2>/dev/null && rs 2 tc qdisc add dev e0 root netem loss 2% 2>/dev/null; then
	check_eq "SYNPROXY+NAT with 2% loss: 4 MB echoed intact" "$want" "$(echo_sha $VIP:81)"
	check_eq "SYNPROXY+FULLNAT with 2% loss: 4 MB echoed intact" "$want" "$(echo_sha $VIP:86)"
	rs 1 tc qdisc del dev e0 root
	rs 2 tc qdisc del dev e0 root
else
	log_info "no netem: lossy transfers not run"
fi
check "TOA written on SYNPROXY+FULLNAT connections" bash -c \
	"ip netns exec $director ipvsctl --json stats | python3 -c 'import json,sys; s=[x for x in json.load(sys.stdin)[\"services\"] if x[\"port\"]==86][0]; sys.exit(s[\"ext_stats\"][\"toa_written\"] < 1)'"

# --- the client's handshake ACK lost: our SYN-ACK's zero window leaves
# the client probing it (pure ACKs at seq = ISN); the probe must open the
# connection, or the client would wait for minutes.
lost_ack() { # lost_ack PORT: drops the client's next pure ACK to PORT once
	cli nft -f - <<-EOF
	table ip lostack
	flush table ip lostack
	table ip lostack {
		chain out {
			type filter hook output priority 0;
			ip daddr $VIP tcp dport $1 tcp flags == ack limit rate 1/hour burst 1 packets counter drop
		}
	}
	EOF
}
lost_acks() { cli nft list table ip lostack | grep -o 'packets [0-9]*' | awk '{s += $2} END {print s + 0}'; }
valid0=$(stat synproxy_ack_valid)
lost_ack 80
check_match "handshake ACK lost (NAT): the probe opens the connection" '^rs[12]$' "$(get $VIP:80)"
check_eq "the handshake ACK was dropped (NAT)" 1 "$(lost_acks)"
lost_ack 86
check_eq "handshake ACK lost (FULLNAT), then data: echoed" hi \
	"$(echo hi | timeout 20 ip netns exec "$client" socat -T 10 -t 10 - TCP:$VIP:86)"
check_eq "the handshake ACK was dropped (FULLNAT)" 1 "$(lost_acks)"
check_eq "two ACKs validated" $((valid0 + 2)) "$(stat synproxy_ack_valid)"
cli nft delete table ip lostack

# --- forged cookies.
bad0=$(stat synproxy_ack_bad)
conns0=$(conns 80)
cli python3 "$here/py/tcp_raw.py" $CLIENT_IP $VIP 80 A 50
cli python3 "$here/py/tcp_raw.py" $CLIENT_IP $VIP 80 PA 50
sleep 1
check_eq "forged cookies rejected and counted" $((bad0 + 100)) "$(stat synproxy_ack_bad)"
check_eq "no connection for forged cookies" "$conns0" "$(conns 80)"

# --- SYN flood at the SYNPROXY service.
conns0=$(conns 80)
cookies0=$(stat synproxy_cookies_sent)
bg flood 4000 80 $VIP
flood=$!
sleep 1
got=$(for _ in 1 2 3 4; do get $VIP:80; done | sort -u | tr '\n' ' ')
check_eq "during the flood legitimate clients are served" "rs1 rs2 " "$got"
check_eq "during the flood 4 MB echoed intact" "$want" "$(echo_sha $VIP:81)"
wait "$flood"
sleep 1
absorbed=$(($(stat synproxy_cookies_sent) - cookies0))
log_info "SYNPROXY answered $absorbed flood SYNs with cookies"
check "the flood was answered with cookies" test "$absorbed" -ge 1000
check "the connection table did not grow (at most the 4 legitimate)" test "$(conns 80)" -le $((conns0 + 4))
check_eq "the real servers saw no spoofed SYN" 0 "$(sum_counter spoof80)"

# --- the same flood at the plain service.
conns0=$(conns 82)
flood 2000 82 $VIP
sleep 1
plain=$(($(conns 82) - conns0))
log_info "plain service: $plain connection entries, $(sum_counter spoof82) spoofed SYNs at the real servers"
check "plain service: the flood fills the connection table" test "$plain" -ge 500
check "plain service: the real servers get the spoofed SYNs" test "$(sum_counter spoof82)" -ge 500

# --- nftables synproxy (on rs1, port 84) as the reference.
bg ip netns exec "$(rsns 1)" socat -t 5 TCP-LISTEN:84,fork,reuseaddr SYSTEM:"echo nft"
rs 1 nft -f - <<-EOF
table ip sp {
	counter spoof84 {}
	chain pre {
		type filter hook prerouting priority raw;
		tcp dport 84 tcp flags syn notrack
	}
	chain in {
		type filter hook input priority filter;
		tcp dport 84 ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm
		ct state invalid drop
	}
	chain late {
		type filter hook input priority 10;
		ip saddr != $CLIENT_IP tcp dport 84 tcp flags & (syn | ack) == syn counter name spoof84
	}
}
EOF
rs 1 sysctl -qw net.ipv4.tcp_syncookies=2 net.netfilter.nf_conntrack_tcp_loose=0
wait_for 10 rs 1 bash -c ': </dev/tcp/127.0.0.1/84' 2>/dev/null
RS1=$(rs_ip 1)
check_eq "nft synproxy: a request before the flood" nft "$(get $RS1:84)"
bg flood 4000 84 $RS1
flood=$!
sleep 1
got=$(for _ in 1 2 3 4; do get $RS1:84; done | sort -u | tr '\n' ' ')
check_eq "nft synproxy: during the flood legitimate clients are served" "nft " "$got"
wait "$flood"
nft_syn=0
for h in $(rs 1 awk 'NR > 1 {print $2}' /proc/net/stat/synproxy); do nft_syn=$((nft_syn + 16#$h)); done
log_info "nftables synproxy received $nft_syn SYNs; the listener saw $(counter 1 spoof84 sp) spoofed ones"
check "nft synproxy: the listener saw (almost) no spoofed SYN" test "$(counter 1 spoof84 sp)" -le 10

# --- a real server that does not answer; RST while waiting.
for i in $(seq $N); do rs "$i" nft insert rule ip cnt in tcp dport 85 tcp flags syn drop; done
for i in $(seq $N); do rs "$i" nft insert rule ip cnt in "tcp dport 85 tcp flags & (syn | ack) == syn counter name syn85"; done
retr0=$(stat synproxy_syn_retrans)
# The client holds the connection at least 4 s (SYN retransmissions) and
# until the test has seen its entry (flag file; at most 50 s), then resets
# it. Five retries keep the entry 63 s: a slow kernel's check cannot
# outlast it.
dir sysctl -qw net.ipv4.vs.synproxy_syn_retry=5
seen=$(mktemp -u /tmp/synproxy_seen.XXXXXX)
cli python3 -c '
import os, socket, struct, sys, time
s = socket.create_connection((sys.argv[1], 85), timeout=30)
start = time.monotonic()
while time.monotonic() - start < 4 or (not os.path.exists(sys.argv[2]) and time.monotonic() - start < 50):
    time.sleep(0.2)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
' $VIP "$seen" &
waiter=$!
check "waiting for the server: one entry" wait_for 10 conns_is 85 1
touch "$seen"
wait "$waiter"
rm -f "$seen"
dir sysctl -qw net.ipv4.vs.synproxy_syn_retry=3
check "the SYN to the server was sent again" test "$(stat synproxy_syn_retrans)" -gt "$retr0"
check "the server got our SYN more than once" test "$(sum_counter syn85)" -ge 2
check "the client's RST reached the server" test "$(sum_counter rst85)" -ge 1
check "the client's RST removed the entry" wait_for 5 conns_is 85 0

# --- ACK-storm guard and store threshold while waiting (raw handshake;
# the client's own stack must not reset the connection it does not know).
cli nft add table ip norst
cli nft add chain ip norst out '{ type filter hook output priority 0; }'
cli nft add rule ip norst out tcp sport 40001-40003 tcp flags rst drop
storm0=$(stat synproxy_ack_storm)
held0=$(stat synproxy_held_drops)
check_eq "raw handshake: a cookie SYN-ACK (window 0)" "synack window 0" \
	"$(cli python3 "$here/py/synproxy_handshake.py" $CLIENT_IP $VIP 85 40001 15 5)"
sleep 1
# The ACK is held; its 10th to 15th repeat are the storm; the first data
# segment replaces the held ACK, the 4 others find no room.
check_eq "ACK storm: repeats from the threshold on dropped, counted" 6 $(($(stat synproxy_ack_storm) - storm0))
check_eq "held-packet drops counted" 4 $(($(stat synproxy_held_drops) - held0))

# --- synproxy_defer: a pure ACK opens nothing; the first data does.
dir sysctl -qw net.ipv4.vs.synproxy_defer=1
# (Counted by client port: the storm's entry above may expire meanwhile.)
valid0=$(stat synproxy_ack_valid)
check_eq "defer: the SYN-ACK opens a window of one MSS" "synack window 1452" \
	"$(cli python3 "$here/py/synproxy_handshake.py" $CLIENT_IP $VIP 85 40002 0 0)"
sleep 1
check_eq "defer: a pure ACK opens no connection" "0 $valid0" "$(conns_from 85 40002) $(stat synproxy_ack_valid)"
check_eq "defer: the client's data opens it" "1 $((valid0 + 1))" \
	"$(cli python3 "$here/py/synproxy_handshake.py" $CLIENT_IP $VIP 85 40003 0 1 >/dev/null; sleep 1; echo "$(conns_from 85 40003) $(stat synproxy_ack_valid)")"
got=$(for _ in 1 2; do get $VIP:80; done | sort -u | tr '\n' ' ')
check_eq "defer: requests answered" "rs1 rs2 " "$got"
dir sysctl -qw net.ipv4.vs.synproxy_defer=0

# --- ipvsctl stats, save and restore.
stats=$(dir ipvsctl stats)
check_match "stats: the SYNPROXY table" "Cookies +AckValid +AckBad" "$stats"
check "stats --json: cookies counted" bash -c \
	"ip netns exec $director ipvsctl --json stats | python3 -c 'import json,sys; s=[x for x in json.load(sys.stdin)[\"services\"] if x[\"port\"]==80][0]; sys.exit(s[\"ext_stats\"][\"synproxy_cookies_sent\"] < 1000)'"
saved=$(dir ipvsctl save)
check_match "save keeps --synproxy" "-A -t $VIP:80 -s rr --synproxy" "$saved"
dir ipvsctl flush
echo "$saved" | dir ipvsctl restore
check_eq "restore: the same table" "$saved" "$(dir ipvsctl save)"
check_eq "SYNPROXY works after restore" rs1 "$(get $VIP:80 | sed 's/rs2/rs1/')"
dir ipvsctl service edit tcp $VIP:80 --no-synproxy
check_not "--no-synproxy" bash -c "ip netns exec $director ipvsctl service list | grep -q ':80 rr synproxy'"

rm -f "$data"
cleanup_bg
exit_test
