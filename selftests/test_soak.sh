#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The soak: SOAK_SECS seconds (default 60; `make soak` runs 600) of mixed
# traffic through every forwarding method at once, with the configuration
# changing under it.
#
# Eight services on one director: TCP and UDP for each of NAT, FULLNAT,
# DR and TUN, over four real servers running an echo server
# (py/soak_echo.py). The client (py/soak_traffic.py) runs several workers
# per service: TCP connections with payloads from 1 byte to 256 KB, some
# of them long-lived (rounds seconds apart), and UDP datagrams with
# sequence numbers and checksums; every echoed byte is verified. Every
# 1-3 s the director's configuration changes (py/soak_churn.py): weights
# (0 included), schedulers, real servers added, retired (weight 0, deleted
# once idle) and bounced (deleted with live connections and added back
# 1-3 s later; their packets are dropped and counted meanwhile).
#
# Checked: no corrupt data; no TCP connection fails; every lost UDP
# datagram is a drop the director counted; the churn's commands all
# succeed and ipvsadm shows what was configured; the packet ledger
# balances: nftables counts every packet of the services where it enters
# and leaves the director's hands (requests at the client's output and
# the real servers' input, TUN's as they leave the director, NAT and
# FULLNAT replies at the real servers' output and the client's input), and
#   requests in + replies in = requests out + replies out + drop_total
# (drop_total's growth, /proc/net/ip_vs_ext_stats); the services' InPkts
# and OutPkts lie between the packets in and out; the connection table
# drains once traffic stops (fully with SOAK_DRAIN=full, the default for
# soaks of 300 s or more: TIME_WAIT lasts 120 s); the connection cache
# tracks the table (no leak); ipvs_rs unloads. Logs: build/soak/.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/topology.sh"
require_root
require_cmd ipvsadm ipvsctl python3 nft jq ss
unload_all
here=$(cd "$(dirname "$0")" && pwd)
SOAK_SECS=${SOAK_SECS:-60}
SOAK_SEED=${SOAK_SEED:-$RANDOM$RANDOM}
if [ -z "${SOAK_DRAIN:-}" ]; then
	if [ "$SOAK_SECS" -ge 300 ]; then SOAK_DRAIN=full; else SOAK_DRAIN=quick; fi
fi
logs=${SOAK_LOGS:-$REPO/build/soak}
rm -rf "$logs"
mkdir -p "$logs"
N=4
VIP_DR=10.0.1.101
VIP_TUN=10.0.1.102
CLIENT_DR_IP=10.0.1.3 # DR and TUN answers come back directly to this one
LADDRS=(10.0.2.5 10.0.2.6)

topo_lvs $N || exit $ksft_fail
topo_direct_return $CLIENT_DR_IP
ip -n "$director" addr add $VIP_DR/32 dev d0
ip -n "$director" addr add $VIP_TUN/32 dev d0
for a in "${LADDRS[@]}"; do ip -n "$director" addr add "$a/24" dev br0; done
dir() { ip netns exec "$director" "$@"; }
cli() { ip netns exec "$client" "$@"; }

# The services: NAME PROTO VIP PORT RS_PORT METHOD SOURCE.
SERVICES=(
	"nat_tcp tcp $VIP 80 8000 nat $CLIENT_IP"
	"nat_udp udp $VIP 80 8000 nat $CLIENT_IP"
	"fnat_tcp tcp $VIP 81 8001 fullnat $CLIENT_IP"
	"fnat_udp udp $VIP 81 8001 fullnat $CLIENT_IP"
	"dr_tcp tcp $VIP_DR 9000 9000 dr $CLIENT_DR_IP"
	"dr_udp udp $VIP_DR 9000 9000 dr $CLIENT_DR_IP"
	"tun_tcp tcp $VIP_TUN 9001 9001 tun $CLIENT_DR_IP"
	"tun_udp udp $VIP_TUN 9001 9001 tun $CLIENT_DR_IP"
)
laddr_set="{ $(IFS=,; echo "${LADDRS[*]}" | sed 's/,/, /g') }"

# --- the real servers: the VIPs, an echo server, nftables counters.
for i in $(seq $N); do
	ns=${RS_NS[$((i - 1))]}
	rip=$(rs_ip "$i")
	rs_vip_dr "$ns" $VIP_DR
	rs_vip_tun "$ns" $VIP_TUN
	bgg ip netns exec "$ns" python3 "$here/py/soak_echo.py" --tcp 8000 --tcp 8001 --tcp 9000 --tcp 9001 \
		--udp 0.0.0.0:8000 --udp 0.0.0.0:8001 --udp $VIP_DR:9000 --udp $VIP_TUN:9001
	{
		echo "table ip soak {"
		for s in "${SERVICES[@]}"; do
			read -r name proto vip port rport method _ <<<"$s"
			echo "counter req_$name {}"
			echo "counter rep_$name {}"
		done
		echo "chain pre { type filter hook prerouting priority 0; policy accept;"
		for s in "${SERVICES[@]}"; do
			read -r name proto vip port rport method _ <<<"$s"
			case $method in
			nat) echo "iifname e0 ip daddr $rip $proto dport $rport counter name req_$name" ;;
			fullnat) echo "iifname e0 ip saddr $laddr_set $proto dport $rport counter name req_$name" ;;
			dr) echo "iifname e0 ip daddr $vip $proto dport $rport counter name req_$name" ;;
			tun) echo "iifname tunl0 ip daddr $vip $proto dport $rport counter name req_$name" ;;
			esac
		done
		echo "}"
		echo "chain out { type filter hook output priority 0; policy accept;"
		for s in "${SERVICES[@]}"; do
			read -r name proto vip port rport method src <<<"$s"
			case $method in
			nat) echo "ip saddr $rip ip daddr $src $proto sport $rport counter name rep_$name" ;;
			fullnat) echo "ip daddr $laddr_set $proto sport $rport counter name rep_$name" ;;
			*) echo "ip saddr $vip ip daddr $src $proto sport $rport counter name rep_$name" ;;
			esac
		done
		echo "}"
		echo "}"
	} >"$logs/nft-rs$i.conf"
	ip netns exec "$ns" nft -f "$logs/nft-rs$i.conf" || check_fail "nft ruleset of rs$i"
done
# The client's counters: requests at its output, replies at its input (on
# c0 from the director for NAT and FULLNAT, on c1 from the real servers
# for DR and TUN).
{
	echo "table ip soak {"
	for s in "${SERVICES[@]}"; do
		read -r name _ <<<"$s"
		echo "counter req_$name {}"
		echo "counter rep_$name {}"
	done
	echo "chain out { type filter hook output priority 0; policy accept;"
	for s in "${SERVICES[@]}"; do
		read -r name proto vip port _ <<<"$s"
		echo "ip daddr $vip $proto dport $port counter name req_$name"
	done
	echo "}"
	echo "chain in { type filter hook input priority 0; policy accept;"
	for s in "${SERVICES[@]}"; do
		read -r name proto vip port rport method _ <<<"$s"
		case $method in
		nat | fullnat) echo "iifname c0 ip saddr $vip $proto sport $port counter name rep_$name" ;;
		*) echo "iifname c1 ip saddr $vip $proto sport $port counter name rep_$name" ;;
		esac
	done
	echo "}"
	echo "}"
} >"$logs/nft-client.conf"
cli nft -f "$logs/nft-client.conf" || check_fail "nft ruleset of the client"
# TUN's requests are counted leaving the director (IPIP packets by their
# inner protocol, at postrouting): the bridge has no offloads for
# encapsulated packets (br0's hw_enc_features are empty), so it segments
# the director's IPIP GSO packets in software on their way out, and the
# real servers' tunl0 merges them again (GRO). Neither count is the
# director's, so the real servers' is shown for information only.
{
	echo "table ip soak {"
	echo "counter req_tun_tcp {}"
	echo "counter req_tun_udp {}"
	echo "chain post { type filter hook postrouting priority 0; policy accept;"
	echo "oifname br0 ip protocol 4 @nh,232,8 6 ip daddr 10.0.2.0/24 counter name req_tun_tcp"
	echo "oifname br0 ip protocol 4 @nh,232,8 17 ip daddr 10.0.2.0/24 counter name req_tun_udp"
	echo "}"
	echo "}"
} >"$logs/nft-director.conf"
dir nft -f "$logs/nft-director.conf" || check_fail "nft ruleset of the director"

load_ipvs_rs || { echo "# cannot load ipvs_rs"; exit $ksft_fail; }
for i in $(seq $N); do
	wait_for 30 bash -c "ip netns exec ${RS_NS[$((i - 1))]} ss -Hlnu | grep -q ':9001 ' &&
		ip netns exec ${RS_NS[$((i - 1))]} ss -Hlnt | grep -q ':9001 '" ||
		check_fail "echo server of rs$i listening"
done

# --- the services (the churn adds their real servers).
cfg_services=()
for s in "${SERVICES[@]}"; do
	read -r name proto vip port rport method _ <<<"$s"
	dir ipvsadm -A --"$proto"-service "$vip:$port" -s rr || check_fail "add service $name"
	if [ "$method" = fullnat ]; then
		for a in "${LADDRS[@]}"; do
			dir ipvsctl laddr add "$proto" "$vip:$port" "$a" || check_fail "laddr $a for $name"
		done
	fi
	cfg_services+=("$(jq -nc --arg n "$name" --arg p "$proto" --arg v "$vip" --argjson port "$port" \
		--argjson rport "$rport" --arg m "$method" \
		'{name: $n, proto: $p, vip: $v, port: $port, rport: $rport, method: $m}')")
done
cfg_rs=()
for i in $(seq $N); do
	cfg_rs+=("$(jq -nc --arg n "rs$i" --arg ip "$(rs_ip "$i")" --arg ns "${RS_NS[$((i - 1))]}" \
		'{name: $n, ip: $ip, ns: $ns}')")
done
printf '%s\n' "${cfg_services[@]}" | jq -s --argjson rs "$(printf '%s\n' "${cfg_rs[@]}" | jq -sc .)" \
	'{services: ., rs: $rs}' >"$logs/churn-config.json"
# Established connections idle between rounds keep 900 s; a closing one
# may wait out a bounce (30 s); UDP flows end 5 s after their last
# datagram (the client moves to a new flow every 0.5-3 s).
dir ipvsadm --set 900 30 5

# ext NAME: a line of /proc/net/ip_vs_ext_stats (0 if absent).
ext() { dir awk -v k="$1" '$1 == k {v = $2} END {print v + 0}' /proc/net/ip_vs_ext_stats; }
# counters NS: "name packets" of NS's soak table.
counters() {
	ip netns exec "$1" nft -j list counters table ip soak |
		jq -r '.nftables[] | select(.counter) | .counter | "\(.name) \(.packets)"'
}
# The connection cache: active objects (/proc/slabinfo), conn_count,
# SUnreclaim (kB).
slab_sample() {
	echo "$(date +%s) $(ext conn_count) $(awk '$1 == "ipvs_rs_conn" {print $2}' /proc/slabinfo) $(awk '$1 == "SUnreclaim:" {print $2}' /proc/meminfo)"
}

log_info "soak: $SOAK_SECS s, seed $SOAK_SEED, ${#SERVICES[@]} services, $N real servers, drain check: $SOAK_DRAIN"
bg ip netns exec "$director" python3 "$here/py/soak_churn.py" --config "$logs/churn-config.json" \
	--secs "$SOAK_SECS" --summary "$logs/churn.json" --seed "$SOAK_SEED" --ready "$logs/churn.ready" \
	>"$logs/churn.log" 2>&1
churn_pid=${BG_PIDS[-1]}
wait_for 60 test -e "$logs/churn.ready" || check_fail "the churn set up the real servers"

# --- zero everything, then the traffic.
dir ipvsadm -Z
cli nft reset counters table ip soak >/dev/null
for ns in "$director" "${RS_NS[@]}"; do ip netns exec "$ns" nft reset counters table ip soak >/dev/null; done
dir grep '^drop_' /proc/net/ip_vs_ext_stats >"$logs/drops-before"
drop0=$(ext drop_total)
slab_sample >"$logs/slab"
slab_loop() {
	exec >/dev/null 2>&1
	while sleep 5; do slab_sample >>"$logs/slab"; done
}
bg slab_loop
cli timeout $((SOAK_SECS + 180)) python3 "$here/py/soak_traffic.py" --secs "$SOAK_SECS" \
	--seed "$SOAK_SEED" $(for s in "${SERVICES[@]}"; do
		read -r name proto vip port rport method src <<<"$s"
		echo "--svc $name:$proto:$vip:$port:$src"
	done) >"$logs/traffic.json" 2>"$logs/traffic.log"
rc=$?
check_eq "the traffic ran to its end" 0 "$rc"
wait "$churn_pid"
check_eq "the churn ran to its end" 0 "$?"
sleep 2
slab_sample >>"$logs/slab"

# --- traffic.
t=$logs/traffic.json
tot() { jq -r ".totals.$1 // 0" "$t" 2>/dev/null; }
log_info "$(jq -r '.services | to_entries[] | .key + ": " + (.value | del(.proto) | tostring)' "$t" 2>/dev/null)"
log_info "traffic: $(jq -r '.secs' "$t") s (seed $(jq -r '.seed' "$t")), $(jq '.services | length' "$t") services"
log_info "TCP: $(tot conns_ok) connections verified ($(tot conns_long) long-lived, $(tot rounds) request/echo rounds), $(tot conns_failed) failed, $(tot bytes_verified) bytes verified in all, slowest connection $(jq -r '[.services[] | .slowest_conn_s // 0] | max' "$t") s"
log_info "UDP: $(tot dgrams_sent) datagrams in $(tot flows) flows, $(tot dgrams_ok) echoed and verified, $(tot dgrams_lost) lost ($(tot dgrams_late) late), $(tot dgrams_corrupt) corrupt"
check "TCP connections made" test "$(tot conns_ok)" -gt 0
check "UDP datagrams echoed" test "$(tot dgrams_ok)" -gt 0
check_eq "no corrupt TCP echo" 0 "$(tot corrupt)"
check_eq "no corrupt UDP echo" 0 "$(tot dgrams_corrupt)"
check_eq "no TCP connection failed" 0 "$(tot conns_failed)"
check_eq "no UDP datagram refused" 0 "$(tot dgrams_refused)"
check "every service carried traffic" test "$(jq '[.services[] | (.conns_ok // .dgrams_ok)] | min' "$t")" -gt 0
grep -E 'FAILED|CORRUPT|REFUSED|ERROR' "$logs/traffic.log" | head -n 20 | sed 's/^/# /'

# --- churn.
c=$logs/churn.json
log_info "churn: $(jq -r '.total' "$c") changes in $(jq -r '.secs' "$c") s: $(jq -r '.events | del(.setup) | to_entries | map("\(.key) \(.value)") | join(", ")' "$c"); retirements took $(jq -r '.retire_waits | if length > 0 then "\(min)-\(max)" else "-" end' "$c") s, $(jq -r '.retiring_at_end' "$c") still retiring at the end"
# (Its commands take a second or more on a slow kernel.)
min_changes=$(awk -v s="$SOAK_SECS" -v k="$TIMEOUT_SCALE" 'BEGIN { printf "%d", s / (6 * k) }')
check "the churn made changes (at least $min_changes)" test "$(jq -r '.total' "$c")" -ge "$min_changes"
check_eq "every churn command succeeded" 0 "$(jq '.errors | length' "$c")"
check_eq "ipvsadm showed every change" 0 "$(jq '.mismatches | length' "$c")"
jq -r '.errors[], .mismatches[]' "$c" | head -n 10 | sed 's/^/# /'
for s in "${SERVICES[@]}"; do
	read -r name proto vip port rport method _ <<<"$s"
	if [ "$method" = fullnat ]; then
		check_eq "$name: the local addresses survived the churn" "${LADDRS[*]}" \
			"$(dir ipvsctl laddr list "$proto" "$vip:$port" | awk '$1 == "->" && $2 ~ /^[0-9]/ {print $2}' | sort | tr '\n' ' ' | sed 's/ $//')"
	fi
done

# --- the ledger.
cli_c=$(counters "$client")
dir_c=$(counters "$director")
rs_c=$(for ns in "${RS_NS[@]}"; do counters "$ns"; done | awk '{s[$1] += $2} END {for (k in s) print k, s[k]}')
get() { awk -v k="$2" '$1 == k {print $2; f = 1} END {if (!f) print 0}' <<<"$1"; }
dir grep '^drop_' /proc/net/ip_vs_ext_stats >"$logs/drops-after"
ddrop=$(($(ext drop_total) - drop0))
stats=$(dir ipvsadm -L -n --stats --exact)
echo "$stats" >"$logs/ipvsadm-stats"
sum_in=0 sum_out=0 sum_lost=0 sum_inpkts=0 sum_outpkts=0
log_info "ledger (packets): service: requests in, out; replies in, out (NAT, FULLNAT); dropped; director InPkts, OutPkts"
for s in "${SERVICES[@]}"; do
	read -r name proto vip port rport method _ <<<"$s"
	req_in=$(get "$cli_c" "req_$name")
	req_out=$(get "$rs_c" "req_$name")
	[ "$method" = tun ] && req_out=$(get "$dir_c" "req_$name")
	rep_in=0 rep_out=0
	if [ "$method" = nat ] || [ "$method" = fullnat ]; then
		rep_in=$(get "$rs_c" "rep_$name")
		rep_out=$(get "$cli_c" "rep_$name")
	fi
	read -r inpkts outpkts < <(awk -v p="${proto^^}" -v s="$vip:$port" '$1 == p && $2 == s {print $4, $5}' <<<"$stats")
	inpkts=${inpkts:-0} outpkts=${outpkts:-0}
	dropped=$((req_in + rep_in - req_out - rep_out))
	info=""
	if [ "$method" = dr ] || [ "$method" = tun ]; then
		info=" (direct replies: $(get "$rs_c" "rep_$name") sent, $(get "$cli_c" "rep_$name") received)"
	fi
	[ "$method" = tun ] && info+=" (requests out counted leaving the director; after GRO the real servers saw $(get "$rs_c" "req_$name"))"
	log_info "  $name: $req_in, $req_out; $rep_in, $rep_out; $dropped; $inpkts, $outpkts$info"
	sum_in=$((sum_in + req_in + rep_in))
	sum_out=$((sum_out + req_out + rep_out))
	sum_inpkts=$((sum_inpkts + inpkts))
	sum_outpkts=$((sum_outpkts + outpkts))
	check "$name: requests out <= InPkts <= requests in" test "$req_out" -le "$inpkts" -a "$inpkts" -le "$req_in"
	if [ "$method" = nat ] || [ "$method" = fullnat ]; then
		check "$name: replies out <= OutPkts <= replies in" test "$rep_out" -le "$outpkts" -a "$outpkts" -le "$rep_in"
	fi
	if [ "$proto" = udp ]; then
		lost=$(jq -r ".services.$name.dgrams_lost" "$t")
		sum_lost=$((sum_lost + lost))
		check_eq "$name: datagrams lost = packets the director dropped" "$dropped" "$lost"
	fi
done
log_info "ledger: in $sum_in = out $sum_out + dropped $((sum_in - sum_out)); drop_total grew by $ddrop; director InPkts $sum_inpkts, OutPkts $sum_outpkts; UDP datagrams lost $sum_lost"
log_info "drops by reason: $(join -a 1 -e 0 -o 0,2.2,1.2 <(sort "$logs/drops-after") <(sort "$logs/drops-before") | awk '$2 != $3 {printf "%s %d, ", $1, $3 - $2}' | sed 's/, $//')"
check_eq "ledger: packets in = packets out + drop_total's growth" "$sum_in" "$((sum_out + ddrop))"

# --- the table drains; the connection cache follows it.
dir ipvsadm --set 5 5 5
early() { dir awk 'NR > 1 && ($1 == "UDP" || $8 !~ /^(FIN_WAIT|TIME_WAIT|CLOSE)$/)' /proc/net/ip_vs_conn | wc -l; }
no_early() { [ "$(early)" -eq 0 ]; }
check "no UDP flow or open TCP connection left 10 s after the traffic" wait_for 10 no_early
dir cat /proc/net/ip_vs_conn >"$logs/conns-after"
list() { dir awk 'NR > 1' /proc/net/ip_vs_conn | wc -l; }
check_eq "the listing holds conn_count's connections" "$(ext conn_count)" "$(list)"
maxexp() { dir awk 'NR > 1 && $9 > m {m = $9} END {print m + 0}' /proc/net/ip_vs_conn; }
e1=$(maxexp)
check "every closing connection's timer is within its state's timeout (TIME_WAIT 120 s)" test "$e1" -le 120
if [ "$SOAK_DRAIN" = full ]; then
	log_info "waiting for the table to drain ($(ext conn_count) connections, the last expires in $e1 s)"
	drained() { [ "$(ext conn_count)" -eq 0 ]; }
	check "the table drains to 0" wait_for $((e1 + 15)) drained
else
	n1=$(ext conn_count)
	sleep 3
	if [ "$n1" -gt 0 ]; then
		check "the closing connections' timers run" test "$(maxexp)" -lt "$e1"
	fi
	log_info "quick drain check: $n1 closing connections left (the last expires in $e1 s)"
fi
slab_sample >>"$logs/slab"
cleanup_bg
stop_bgg
# time conn_count objects SUnreclaim
log_info "connection cache (time s, conn_count, ipvs_rs_conn objects, SUnreclaim kB): $(awk 'NR == 1 {t0 = $1} {printf "%d:%s/%s/%s ", $1 - t0, $2, $3, $4}' "$logs/slab")"
slack=$(awk '{d = $3 - $2; if (d > m) m = d} END {print m + 0}' "$logs/slab")
if kmemleak_kernel; then
	# KASAN's quarantine holds freed objects for a while: kmemleak judges.
	log_info "the connection cache held at most $slack objects more than the table"
else
	check "the connection cache holds no more than the table (+512 per-CPU and RCU slack; most $slack)" test "$slack" -le 512
fi
if [ "$SOAK_DRAIN" = full ] && ! kmemleak_kernel; then
	check "the connection cache is empty again" test "$(awk '$1 == "ipvs_rs_conn" {print $2}' /proc/slabinfo)" -le 64
fi
check "rmmod after the soak" rmmod ipvs_rs
exit_test
