#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# toa_rs on a real server: an unmodified server program sees, through
# accept() and getpeername(), the client a TOA option names, on connections
# whose handshake carried one (on the ACK; on the SYN with Fast Open; with
# syncookies; on a dual-stack IPv6 listener); plain connections, malformed
# options and connections made while disabled report the real peer.
# Tags go with their sockets (also never-accepted ones), the table is
# capped, /proc/net/toa_stats counts, and rmmod with tagged connections
# open is clean.
#
# No director needed: selftests/py/toa_client.py completes handshakes by
# hand with a raw socket, writing the TOA option as a FULLNAT director
# would; the client namespace drops its own kernel's resets to them.
source "$(dirname "$0")/lib.sh"
require_root
require_cmd python3 nft ip
unload_all

PY=$REPO/selftests/py
CLI_IP=10.0.1.1
SRV_IP=10.0.1.2
TOA_IP=192.0.2.10
STATS=/proc/net/toa_stats
WAIT=60 # seconds to wait for an outcome

setup_ns cli srv || exit $ksft_fail
ip link add veth-c netns "$cli" type veth peer name veth-s netns "$srv" || exit $ksft_fail
ip -n "$cli" addr add $CLI_IP/24 dev veth-c
ip -n "$srv" addr add $SRV_IP/24 dev veth-s
ip -n "$cli" link set veth-c up
ip -n "$srv" link set veth-s up
# The raw client's ports (20000-29999) are unknown to the client kernel:
# drop the resets it would send for them.
ip netns exec "$cli" nft -f - <<'EOF' || exit $ksft_fail
table ip toa_test {
	chain out {
		type filter hook output priority 0; policy accept;
		tcp sport 20000-29999 tcp flags & rst == rst drop
	}
}
EOF

cli() { ip netns exec "$cli" "$@"; }
srv() { ip netns exec "$srv" "$@"; }

# toa_stat NAME: a counter of /proc/net/toa_stats.
toa_stat() { awk -v n="$1" '$1 == n { print $2 }' $STATS; }
# live_is N: whether N tags are live.
live_is() { [ "$(toa_stat entries_live)" = "$1" ]; }
# The kernel log from here on: log_mark, then log_since.
log_mark() { LOG_MARK=$(dmesg | wc -l); }
log_since() { dmesg | tail -n +$((LOG_MARK + 1)); }

# raw SPORT [ARGS...]: one handshake to port 80 by the raw client.
raw() {
	local sport=$1
	shift
	cli timeout 600 python3 "$PY/toa_client.py" --src $CLI_IP --dst $SRV_IP \
		--dport "${DPORT:-80}" --sport "$sport" "$@" >/dev/null
}

# Servers: OUT file per port; start_server PORT [ARGS...].
declare -A OUT PID
start_server() {
	local port=$1
	shift
	OUT[$port]=$(mktemp /tmp/toa_srv.XXXXXX)
	bg ip netns exec "$srv" python3 "$PY/toa_server.py" --port "$port" --out "${OUT[$port]}" "$@"
	PID[$port]=${BG_PIDS[-1]}
	# Python starts slowly on the debug kernel under emulation.
	wait_for 180 grep -q '^listening' "${OUT[$port]}" ||
		{ echo "# server on port $port did not start"; return 1; }
}

accepts() { grep -c '^accept' "${OUT[$1]}"; }
# The N-th accept line of PORT's server (1-based), once it is there.
nth_accept() {
	wait_for $WAIT bash -c "[ \$(grep -c '^accept' '${OUT[$1]}') -ge $2 ]"
	grep '^accept' "${OUT[$1]}" | sed -n "${2}p"
}

# again PORT: getpeername() anew on PORT's open connections.
again() {
	local n
	n=$(grep -c '^usr1-done' "${OUT[$1]}")
	kill -USR1 "${PID[$1]}"
	wait_for $WAIT bash -c "[ \$(grep -c '^usr1-done' '${OUT[$1]}') -gt $n ]"
	awk '/^usr1-done/ { n++ } n == '"$n"' && /^again/ { print $2 }' "${OUT[$1]}"
}

insmod "$TOA_RS_KO" || { echo "# cannot load toa_rs"; exit $ksft_fail; }
check "/proc/net/toa_stats exists" test -r $STATS
check_eq "enabled by default" 1 "$(toa_stat enabled)"
check_eq "nothing tagged yet" 0 "$(toa_stat entries_live)"

start_server 80 || exit $ksft_fail

# --- TOA on the SYN and the final ACK (what the director writes)
n=0
raw 20001 --toa $TOA_IP:40001 --on syn,ack
n=$((n + 1))
check_eq "TOA on SYN+ACK: accept() and getpeername() report the client" \
	"accept $TOA_IP:40001 peer $TOA_IP:40001" "$(nth_accept 80 $n)"

raw 20002 --toa $TOA_IP:40002 --on ack
n=$((n + 1))
check_eq "TOA on the ACK only: the client" \
	"accept $TOA_IP:40002 peer $TOA_IP:40002" "$(nth_accept 80 $n)"

# The child socket is made from the segment completing the handshake: a
# TOA option on the SYN alone is not seen (Fast Open aside, below).
raw 20003 --toa $TOA_IP:40003 --on syn
n=$((n + 1))
check_eq "TOA on the SYN only: the real peer" \
	"accept $CLI_IP:20003 peer $CLI_IP:20003" "$(nth_accept 80 $n)"

# --- an ordinary connection from the client kernel: untouched
cli python3 -c "
import socket, time
s = socket.create_connection(('$SRV_IP', 80)); print(s.getsockname()[1]); time.sleep(0.5)" >/tmp/toa_plain.$$
n=$((n + 1))
check_eq "plain connection: the real peer" \
	"accept $CLI_IP:$(cat /tmp/toa_plain.$$) peer $CLI_IP:$(cat /tmp/toa_plain.$$)" "$(nth_accept 80 $n)"
rm -f /tmp/toa_plain.$$

# --- malformed option blocks: counted, real peer
errs=$(toa_stat parse_errors)
# NOP, NOP, then kind 254 claiming 12 bytes in an 8-byte block.
raw 20004 --ack-opts 0101fe0c9c40c000
n=$((n + 1))
check_eq "TOA option running past the block: the real peer" \
	"accept $CLI_IP:20004 peer $CLI_IP:20004" "$(nth_accept 80 $n)"
# An option of length 1 before a good TOA option.
raw 20005 --ack-opts "0301fe089c41c000020a"
n=$((n + 1))
check_eq "bad option length before TOA: the real peer" \
	"accept $CLI_IP:20005 peer $CLI_IP:20005" "$(nth_accept 80 $n)"
# Kind 254 of another length (an RFC 6994 experiment), then TOA: found.
raw 20006 --ack-opts "fe04f989fe089c42c000020a"
n=$((n + 1))
check_eq "other kind-254 option skipped, TOA after it found" \
	"accept $TOA_IP:40002 peer $TOA_IP:40002" "$(nth_accept 80 $n)"
check_eq "two parse errors counted" $((errs + 2)) "$(toa_stat parse_errors)"

# --- many connections at once, each its own client
raw 21000 --toa $TOA_IP:41000 --count 40
wait_for $((WAIT * 2)) bash -c "[ \$(grep -c '^accept' '${OUT[80]}') -ge $((n + 40)) ]"
got=$(grep '^accept' "${OUT[80]}" | tail -n 40 | awk '{print $2 "/" $4}' | sort | uniq | wc -l)
bad=$(grep '^accept' "${OUT[80]}" | tail -n 40 | awk '$2 != $4 || $2 !~ /^'"$TOA_IP"':410[0-3][0-9]$/' | wc -l)
n=$((n + 40))
check_eq "40 connections: 40 distinct clients, each reported as its TOA" "40 0" "$got $bad"

# getpeername() again on every open connection: the tagged ones still
# report their client.
mapfile -t peers < <(again 80)
check_eq "getpeername() again on $n open connections" "$n" "${#peers[@]}"
check_match "... the first still its client" "^$TOA_IP:40001$" "${peers[0]:-}"
check_match "... the third still the real peer" "^$CLI_IP:20003$" "${peers[2]:-}"

# From here to the unaccepted sockets, the probes take the int3 path (not
# jump-optimized), whose handlers run in NMI context.
OPTPROBES=/proc/sys/debug/kprobes-optimization
[ -w $OPTPROBES ] && echo 0 >$OPTPROBES
raw 24000 --toa $TOA_IP:44000 --count 5
n=$((n + 5))
check_eq "int3 probes: 5 more connections, each its client" \
	"$TOA_IP:44004" "$(nth_accept 80 $n | awk '{print $4}')"

# --- syncookies: the child comes from the cookie ACK
srv sysctl -qw net.ipv4.tcp_syncookies=2
raw 20007 --toa $TOA_IP:40007 --on syn,ack
n=$((n + 1))
check_eq "syncookies: the client" "accept $TOA_IP:40007 peer $TOA_IP:40007" "$(nth_accept 80 $n)"
srv sysctl -qw net.ipv4.tcp_syncookies=1

# --- TCP Fast Open: the child comes from the SYN (with data)
srv sysctl -qw net.ipv4.tcp_fastopen=0x202
syn_toa=$(toa_stat syn_toa)
raw 20008 --toa $TOA_IP:40008 --on syn --syn-data hello
n=$((n + 1))
check_eq "Fast Open, TOA on the SYN: the client" "accept $TOA_IP:40008 peer $TOA_IP:40008" "$(nth_accept 80 $n)"
check_eq "Fast Open SYN counted" $((syn_toa + 1)) "$(toa_stat syn_toa)"
srv sysctl -qw net.ipv4.tcp_fastopen=1

# --- a dual-stack IPv6 listener: the client v4-mapped
start_server 81 --v6 || exit $ksft_fail
DPORT=81 raw 20009 --toa $TOA_IP:40009
check_eq "IPv6 listener: the client, v4-mapped" \
	"accept ::ffff:$TOA_IP:40009 peer ::ffff:$TOA_IP:40009" "$(nth_accept 81 1)"

# --- switched off at run time: new connections untouched, tagged ones kept
echo 0 >/sys/module/toa_rs/parameters/enabled
check_eq "enabled 0 shows in toa_stats" 0 "$(toa_stat enabled)"
raw 20010 --toa $TOA_IP:40010
n=$((n + 1))
check_eq "disabled: the real peer" "accept $CLI_IP:20010 peer $CLI_IP:20010" "$(nth_accept 80 $n)"
mapfile -t peers < <(again 80)
check_match "disabled: connections tagged before keep their client" "^$TOA_IP:40001$" "${peers[0]:-}"
echo 1 >/sys/module/toa_rs/parameters/enabled
raw 20011 --toa $TOA_IP:40011
n=$((n + 1))
check_eq "enabled again: the client" "accept $TOA_IP:40011 peer $TOA_IP:40011" "$(nth_accept 80 $n)"

# --- sockets freed without ever being accepted lose their tags
start_server 82 --no-accept || exit $ksft_fail
live=$(toa_stat entries_live)
DPORT=82 raw 22000 --toa $TOA_IP:42000 --count 3
check "3 unaccepted connections tagged" wait_for $WAIT live_is $((live + 3))
kill "${PID[82]}"
check "closing the listener frees their tags" wait_for $WAIT live_is "$live"
[ -w $OPTPROBES ] && echo 1 >$OPTPROBES

# --- closing connections frees the tags; the counters add up
tagged=$(toa_stat tagged)
kill -USR2 "${PID[80]}" "${PID[81]}"
check "all tags gone once the connections are closed" wait_for $WAIT live_is 0
cat $STATS | sed 's/^/# toa_stats: /'
check_eq "untagged == tagged" "$tagged" "$(toa_stat untagged)"
check_eq "tagged: 2 + 1 + 40 + 5 + 1 + 1 + 1 + 1 + 3" 55 "$tagged"
check "ack_toa >= 52" [ "$(toa_stat ack_toa)" -ge 52 ]
check "no_toa counts plain handshakes" [ "$(toa_stat no_toa)" -ge 2 ]
check "getname_rewrites counted" [ "$(toa_stat getname_rewrites)" -ge 100 ]
check_eq "no rewrite refused" 0 "$(toa_stat getname_mismatch)"
check_eq "no table overflow" 0 "$(toa_stat table_full)"
check_eq "no destructor hit missed" 0 "$(toa_stat missed_sock_destruct)"
rmmod toa_rs
check_not "toa_rs unloaded" module_loaded toa_rs
check_not "/proc/net/toa_stats gone" test -e $STATS

# --- a capped table; then rmmod with tagged connections open
insmod "$TOA_RS_KO" max_entries=2 || exit $ksft_fail
check_eq "max_entries=2" 2 "$(toa_stat max_entries)"
m=$(accepts 80)
raw 23000 --toa $TOA_IP:43000 --count 3
got=$(grep '^accept' "${OUT[80]}" | tail -n +$((m + 1)) | awk '{print $4}' | sort | tr '\n' ' ')
check_eq "capped at 2: two clients, then the real peer" "$CLI_IP:23002 $TOA_IP:43000 $TOA_IP:43001 " "$got"
check_eq "the refusal is counted" 1 "$(toa_stat table_full)"
check_eq "two tags live" 2 "$(toa_stat entries_live)"
log_mark
check "rmmod with tagged connections open" rmmod toa_rs
check_match "rmmod drops their tags" "dropped the tags of 2 open connections" "$(log_since)"
mapfile -t peers < <(again 80)
check_eq "after rmmod: getpeername() gives the real peers" \
	"$CLI_IP:23000 $CLI_IP:23001 $CLI_IP:23002" "${peers[*]}"

# --- out-of-range max_entries: the default, with a warning
log_mark
insmod "$TOA_RS_KO" max_entries=0 || exit $ksft_fail
check_eq "max_entries=0 falls back to 65536" 65536 "$(toa_stat max_entries)"
check_match "out-of-range max_entries is logged" "max_entries=0 out of range 1..4194304, using 65536" "$(log_since)"
rmmod toa_rs

# --- end to end, when ipvs_rs does FULLNAT with TOA: a real client through
# the director, the real server's application sees it.
EXT=$PY/ipvs_rs_ext.py
if [ -f "$EXT" ] && [ -f "$IPVS_RS_KO" ]; then
	setup_ns fcli fdir frs || exit $ksft_fail
	ip link add c0 netns "$fcli" type veth peer name d0 netns "$fdir"
	ip link add e0 netns "$frs" type veth peer name r0 netns "$fdir"
	ip -n "$fcli" addr add 10.0.7.2/24 dev c0
	ip -n "$fcli" link set c0 up
	ip -n "$fcli" route add default via 10.0.7.1
	ip -n "$fdir" addr add 10.0.7.1/24 dev d0
	ip -n "$fdir" addr add 10.0.7.100/32 dev d0
	ip -n "$fdir" addr add 10.0.8.1/24 dev r0
	ip -n "$fdir" link set d0 up
	ip -n "$fdir" link set r0 up
	ip -n "$frs" addr add 10.0.8.11/24 dev e0
	ip -n "$frs" link set e0 up
	ip netns exec "$fdir" sysctl -qw net.ipv4.ip_forward=1
	srv=$frs start_server 90 || exit $ksft_fail
	dirx() { ip netns exec "$fdir" "$@"; }
	insmod "$TOA_RS_KO" || exit $ksft_fail
	if load_ipvs_rs && dirx ipvsadm -A -t 10.0.7.100:90 -s rr &&
		dirx ipvsctl dest add tcp 10.0.7.100:90 10.0.8.11:90 --fwd fullnat >/dev/null &&
		[ "$(dirx python3 "$EXT" laddr-add tcp 10.0.7.100:90 10.0.8.1)" = ok ] &&
		[ "$(dirx python3 "$EXT" toa tcp 10.0.7.100:90 on)" = ok ]; then
		port=$(ip netns exec "$fcli" python3 -c "
import socket, time
s = socket.create_connection(('10.0.7.100', 90), timeout=10); print(s.getsockname()[1]); time.sleep(0.3)")
		check_eq "through the FULLNAT director: the server sees the client" \
			"accept 10.0.7.2:$port peer 10.0.7.2:$port" "$(nth_accept 90 1)"
	else
		log_info "ipvs_rs without FULLNAT/TOA: end-to-end part skipped"
	fi
fi

exit_test
