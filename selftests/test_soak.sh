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
RS_NET=10.0.2.0/24

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
	echo "counter dir_drtun {}"
	echo "counter dir_icmp {}"
	echo "chain out { type filter hook output priority 0; policy accept;"
	for s in "${SERVICES[@]}"; do
		read -r name proto vip port _ <<<"$s"
		echo "ip daddr $vip $proto dport $port counter name req_$name"
	done
	echo "}"
	echo "chain in { type filter hook input priority 0; policy accept;"
	# From the director itself: DR and TUN replies never come that way
	# (a reset from its own stack would), ICMP errors (fragmentation
	# needed for TUN).
	echo "iifname c0 ip saddr { $VIP_DR, $VIP_TUN } meta l4proto { tcp, udp } counter name dir_drtun"
	echo "iifname c0 ip protocol icmp counter name dir_icmp"
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
# The director's counters: every packet of the services as it arrives
# (prerouting: requests from the client on d0, replies from the real
# servers on br0) and as it leaves (postrouting: requests to the real
# servers on br0, replies to the client on d0). They make the director's
# own ledger, whatever happens on the wires around it. (TUN's requests,
# IPIP packets, are told apart by their inner protocol. They are only
# comparable here: the bridge has no offloads for encapsulated packets,
# br0's hw_enc_features being empty, so it segments the director's IPIP
# GSO packets in software on their way out, and the real servers' tunl0
# merges them again, GRO. The real servers' count is shown, not checked.)
{
	echo "table ip soak {"
	for s in "${SERVICES[@]}"; do
		read -r name _ <<<"$s"
		for k in din_req dout_req din_rep dout_rep; do echo "counter ${k}_$name {}"; done
	done
	echo "chain pre { type filter hook prerouting priority 0; policy accept;"
	for s in "${SERVICES[@]}"; do
		read -r name proto vip port rport method src <<<"$s"
		echo "iifname d0 ip daddr $vip $proto dport $port counter name din_req_$name"
		case $method in
		nat) echo "iifname br0 ip saddr $RS_NET ip daddr $src $proto sport $rport counter name din_rep_$name" ;;
		fullnat) echo "iifname br0 ip daddr $laddr_set $proto sport $rport counter name din_rep_$name" ;;
		esac
	done
	echo "}"
	echo "chain post { type filter hook postrouting priority 0; policy accept;"
	for s in "${SERVICES[@]}"; do
		read -r name proto vip port rport method src <<<"$s"
		case $method in
		nat) echo "oifname br0 ip daddr $RS_NET $proto dport $rport counter name dout_req_$name" ;;
		fullnat) echo "oifname br0 ip saddr $laddr_set $proto dport $rport counter name dout_req_$name" ;;
		dr) echo "oifname br0 ip daddr $vip $proto dport $rport counter name dout_req_$name" ;;
		tun) echo "oifname br0 ip daddr $RS_NET ip protocol 4 @nh,288,32 $(printf '0x%02x%02x%02x%02x' ${vip//./ }) @nh,232,8 $([ "$proto" = tcp ] && echo 6 || echo 17) counter name dout_req_$name" ;;
		esac
		case $method in
		nat | fullnat) echo "oifname d0 ip saddr $vip ip daddr $src $proto sport $port counter name dout_rep_$name" ;;
		esac
	done
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
	cfg_services+=("$(printf '{"name": "%s", "proto": "%s", "vip": "%s", "port": %d, "rport": %d, "method": "%s"}' \
		"$name" "$proto" "$vip" "$port" "$rport" "$method")")
done
cfg_rs=()
for i in $(seq $N); do
	cfg_rs+=("$(printf '{"name": "rs%d", "ip": "%s", "ns": "%s"}' "$i" "$(rs_ip "$i")" "${RS_NS[$((i - 1))]}")")
done
printf '{"services": [%s], "rs": [%s]}\n' "$(IFS=,; echo "${cfg_services[*]}")" "$(IFS=,; echo "${cfg_rs[*]}")" \
	>"$logs/churn-config.json"
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

log_info "soak: $SOAK_SECS s, seed $SOAK_SEED, ${#SERVICES[@]} services, $N real servers, drain check: $SOAK_DRAIN (set up in ${SECONDS} s)"
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
# ip: FragFails of the client: packets its own stack dropped after its
# output hook counted them (too big for a path MTU that shrank meanwhile).
fragfails() { cli awk '$1 == "Ip:" && !h {for (i = 1; i <= NF; i++) c[$i] = i; h = 1; next} $1 == "Ip:" {print $c["FragFails"]}' /proc/net/snmp; }
ff0=$(fragfails)
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
# The summary's figures as T_<name> (totals over the services) and
# LOST[service] (one jq: processes are slow on the VM).
declare -A LOST
eval "$(jq -r '"T_secs=\(.secs) T_seed=\(.seed) T_services=\(.services | length)",
	"T_slowest=\([.services[] | .slowest_conn_s // 0] | max)",
	"T_least=\([.services[] | (.conns_ok // .dgrams_ok)] | min)",
	(.totals | to_entries[] | "T_\(.key)=\(.value)"),
	(.services | to_entries[] | select(.value.proto == "udp") | "LOST[\(.key)]=\(.value.dgrams_lost)"),
	(.services | to_entries[] | "# \(.key): \(.value | del(.proto) | tostring)" | @sh "echo \(.)")' "$t" 2>/dev/null)"
log_info "traffic: ${T_secs:-?} s (seed ${T_seed:-?}), ${T_services:-0} services; the test's clock: ${SECONDS} s"
log_info "TCP: ${T_conns_ok:-0} connections verified (${T_conns_long:-0} long-lived, ${T_rounds:-0} request/echo rounds), ${T_conns_failed:-0} failed, ${T_bytes_verified:-0} bytes verified in all, slowest connection ${T_slowest:-0} s"
log_info "UDP: ${T_dgrams_sent:-0} datagrams in ${T_flows:-0} flows, ${T_dgrams_ok:-0} echoed and verified, ${T_dgrams_lost:-0} lost (${T_dgrams_late:-0} late), ${T_dgrams_corrupt:-0} corrupt"
check "TCP connections made" test "${T_conns_ok:-0}" -gt 0
check "UDP datagrams echoed" test "${T_dgrams_ok:-0}" -gt 0
check_eq "no corrupt TCP echo" 0 "${T_corrupt:-0}"
check_eq "no corrupt UDP echo" 0 "${T_dgrams_corrupt:-0}"
check_eq "no TCP connection failed" 0 "${T_conns_failed:-0}"
check_eq "no UDP datagram refused" 0 "${T_dgrams_refused:-0}"
check "every service carried traffic" test "${T_least:-0}" -gt 0
grep -E 'FAILED|CORRUPT|REFUSED|ERROR' "$logs/traffic.log" | head -n 20 | sed 's/^/# /'

# --- churn.
c=$logs/churn.json
eval "$(jq -r '@sh "C_total=\(.total) C_secs=\(.secs) C_retiring=\(.retiring_at_end)",
	@sh "C_errors=\(.errors | length) C_mismatches=\(.mismatches | length)",
	@sh "C_events=\(.events | del(.setup) | to_entries | map("\(.key) \(.value)") | join(", "))",
	@sh "C_waits=\(.retire_waits | if length > 0 then "\(min)-\(max)" else "-" end)"' "$c" 2>/dev/null)"
log_info "churn: ${C_total:-0} changes in ${C_secs:-?} s: ${C_events:-}; retirements took ${C_waits:--} s, ${C_retiring:-?} still retiring at the end"
# (Its commands take a second or more on a slow kernel.)
min_changes=$(awk -v s="$SOAK_SECS" -v k="$TIMEOUT_SCALE" 'BEGIN { printf "%d", s / (6 * k) }')
check "the churn made changes (at least $min_changes)" test "${C_total:-0}" -ge "$min_changes"
check_eq "every churn command succeeded" 0 "${C_errors:-?}"
check_eq "ipvsadm showed every change" 0 "${C_mismatches:-?}"
if [ "${C_errors:-1}${C_mismatches:-1}" != 00 ]; then
	jq -r '.errors[], .mismatches[]' "$c" | head -n 10 | sed 's/^/# /'
fi
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
# The counters by name (no process per lookup: the VM is slow).
declare -A CLI DIR RS INPKTS OUTPKTS
while read -r k v; do CLI[$k]=$v; done <<<"$cli_c"
while read -r k v; do DIR[$k]=$v; done <<<"$dir_c"
while read -r k v; do RS[$k]=$v; done <<<"$rs_c"
dir grep '^drop_' /proc/net/ip_vs_ext_stats >"$logs/drops-after"
ddrop=$(($(ext drop_total) - drop0))
stats=$(dir ipvsadm -L -n --stats --exact)
echo "$stats" >"$logs/ipvsadm-stats"
while read -r p a _ i o _; do INPKTS[$p:$a]=$i OUTPKTS[$p:$a]=$o; done <<<"$stats"
{ echo "client:"; echo "$cli_c"; echo "director:"; echo "$dir_c"; echo "real servers:"; echo "$rs_c"; } >"$logs/counters"
sum_din=0 sum_dout=0 sum_wire=0 sum_cdrop=0 sum_lost=0 sum_inpkts=0 sum_outpkts=0
log_info "ledger (packets): service: requests sent by the client > at the director > out of it > at the servers;"
log_info "  replies (NAT, FULLNAT) sent by the servers > at the director > out of it > at the client; dropped by the director; its InPkts, OutPkts"
for s in "${SERVICES[@]}"; do
	read -r name proto vip port rport method _ <<<"$s"
	req_c=${CLI[req_$name]:-0} req_din=${DIR[din_req_$name]:-0}
	req_dout=${DIR[dout_req_$name]:-0} req_rs=${RS[req_$name]:-0}
	rep_rs=${RS[rep_$name]:-0} rep_din=${DIR[din_rep_$name]:-0}
	rep_dout=${DIR[dout_rep_$name]:-0} rep_c=${CLI[rep_$name]:-0}
	inpkts=${INPKTS[${proto^^}:$vip:$port]:-0} outpkts=${OUTPKTS[${proto^^}:$vip:$port]:-0}
	dropped=$((req_din + rep_din - req_dout - rep_dout))
	if [ "$method" = nat ] || [ "$method" = fullnat ]; then
		replies="$rep_rs > $rep_din > $rep_dout > $rep_c"
		check_eq "$name: no reply lost on the wires" "$rep_rs $rep_dout" "$rep_din $rep_c"
		check "$name: replies out <= OutPkts <= replies in" test "$rep_dout" -le "$outpkts" -a "$outpkts" -le "$rep_din"
		wire=$((rep_rs - rep_din + rep_dout - rep_c))
	else
		replies="directly: $rep_rs > $rep_c"
		check_eq "$name: no direct reply lost on the wire" "$rep_rs" "$rep_c"
		wire=$((rep_rs - rep_c))
	fi
	# (The client's own stack may drop requests it counted: below.)
	sum_cdrop=$((sum_cdrop + req_c - req_din))
	if [ "$method" != tun ]; then
		check_eq "$name: no request lost on the wire to the servers" "$req_dout" "$req_rs"
		wire=$((wire + req_dout - req_rs))
	fi
	log_info "  $name: $req_c > $req_din > $req_dout > $req_rs; $replies; $dropped; $inpkts, $outpkts"
	check "$name: requests out <= InPkts <= requests in" test "$req_dout" -le "$inpkts" -a "$inpkts" -le "$req_din"
	if [ "$proto" = udp ]; then
		lost=${LOST[$name]:-0}
		sum_lost=$((sum_lost + lost))
		check_eq "$name: datagrams lost = packets the director dropped" "$dropped" "$lost"
	fi
	sum_din=$((sum_din + req_din + rep_din))
	sum_dout=$((sum_dout + req_dout + rep_dout))
	sum_wire=$((sum_wire + wire))
	sum_inpkts=$((sum_inpkts + inpkts))
	sum_outpkts=$((sum_outpkts + outpkts))
done
log_info "ledger: in $sum_din = out $sum_dout + dropped $((sum_din - sum_dout)); drop_total grew by $ddrop; InPkts $sum_inpkts, OutPkts $sum_outpkts; lost on the wires $sum_wire; UDP datagrams lost $sum_lost"
# The client's stack drops what its output hook counted when the path
# MTU shrinks meanwhile (TUN's fragmentation-needed): counted in Ip:
# FragFails, once per segment of a GSO packet, so at least once per
# packet.
ff=$(($(fragfails) - ff0))
log_info "requests the client counted and the director did not see: $sum_cdrop; its stack dropped $ff packets or segments too big for the path MTU (Ip: FragFails)"
check "every request the client sent reached the director, or its stack counted the drop" \
	test "$sum_cdrop" -ge 0 -a "$sum_cdrop" -le "$ff" -a \( "$ff" -eq 0 -o "$sum_cdrop" -gt 0 \)
log_info "the client got from the director: ${CLI[dir_icmp]:-0} ICMP errors, ${CLI[dir_drtun]:-0} packets from the DR and TUN VIPs"
check_eq "no packet from the director's own stack for the DR and TUN services" 0 "${CLI[dir_drtun]:-0}"
log_info "drops by reason: $(join -a 1 -e 0 -o 0,2.2,1.2 <(sort "$logs/drops-after") <(sort "$logs/drops-before") | awk '$2 != $3 {printf "%s %d, ", $1, $3 - $2}' | sed 's/, $//')"
check_eq "ledger: packets in = packets out + drop_total's growth" "$sum_din" "$((sum_dout + ddrop))"
if [ "$sum_wire" != 0 ] || [ "$sum_cdrop" != "$ff" ]; then
	# Where the wires lost them (veth and backlog drops).
	for ns in "$client" "$director" "${RS_NS[@]}"; do
		log_info "${ns%%-*}: $(ip -n "$ns" -s link | awk '/^[0-9]+:/ {d = $2} /^ *(RX|TX):/ && /dropped/ {h = $1; getline; if ($4 > 0) printf "%s %s dropped %s ", d, h, $4}')"
	done
	log_info "softnet backlog drops per CPU: $(while read -r _ d _; do printf '%d ' $((16#$d)); done </proc/net/softnet_stat)"
fi

# --- the table drains; the connection cache follows it.
# The connections' timers run on jiffies: how far they moved in a span of
# wall time (the expiry of the same connections in two listings) tells
# whether the guest's clock kept up (a starved TCG guest may not).
snap() { echo "$(date +%s)"; dir awk 'NR > 1' /proc/net/ip_vs_conn; }
# timer_rate SNAP1 SNAP2: "timers moved X s in Y s" over the connections
# in both listings whose timers had not run out.
timer_rate() {
	awk 'FNR == 1 {t[++f] = $1; next}
		f == 1 {e[$1 $2 $3 $4 $5 $6 $7] = $9; next}
		($1 $2 $3 $4 $5 $6 $7) in e && $9 > 0 {d += e[$1 $2 $3 $4 $5 $6 $7] - $9; n++}
		END {if (n) printf "timers moved %.1f s in %d s of wall time (%d connections)", d / n, t[2] - t[1], n; else print "no connection to time"}' "$1" "$2"
}
snap >"$logs/conns-1"
dir ipvsadm --set 5 5 5
early() { dir awk 'NR > 1 && ($1 == "UDP" || $8 !~ /^(FIN_WAIT|TIME_WAIT|CLOSE)$/)' /proc/net/ip_vs_conn | wc -l; }
no_early() { [ "$(early)" -eq 0 ]; }
check "no UDP flow or open TCP connection left 10 s after the traffic" wait_for 10 no_early
dir cat /proc/net/ip_vs_conn >"$logs/conns-after"
list() { dir awk 'NR > 1' /proc/net/ip_vs_conn | wc -l; }
# The table drains while it is read: the listing lies between the counts
# read before and after it.
count_before=$(ext conn_count)
listed=$(list)
count_after=$(ext conn_count)
check "the listing holds conn_count's connections ($count_after <= $listed <= $count_before)" \
	test "$count_after" -le "$listed" -a "$listed" -le "$count_before"
maxexp() { dir awk 'NR > 1 && $9 > m {m = $9} END {print m + 0}' /proc/net/ip_vs_conn; }
e1=$(maxexp)
check "every closing connection's timer is within its state's timeout (TIME_WAIT 120 s)" test "$e1" -le 120
if [ "$SOAK_DRAIN" = full ]; then
	# Drains: the count falls to 0, never standing still for 30 s (a
	# stuck connection), within three times the last timer's time.
	n0=$(ext conn_count)
	log_info "waiting for the table to drain ($n0 connections, the last expires in $e1 s)"
	start=$(date +%s) prev=$n0 moved=$start
	while :; do
		now=$(date +%s) n=$(ext conn_count)
		[ "$n" -lt "$prev" ] && moved=$now
		prev=$n
		[ "$n" -eq 0 ] && break
		[ $((now - moved)) -lt "$(scaled 30 | cut -d. -f1)" ] || break
		[ $((now - start)) -lt "$(scaled $((3 * e1 + 30)) | cut -d. -f1)" ] || break
		sleep 2
	done
	snap >"$logs/conns-2"
	log_info "drain: $n0 -> $n connections in $((now - start)) s (the last timer was due in $e1 s); $(timer_rate "$logs/conns-1" "$logs/conns-2")"
	check_eq "the table drains to 0" 0 "$n"
	if [ "$n" != 0 ]; then
		log_info "left: $(awk 'NR > 1 {print $1, $8, "expires", $9}' "$logs/conns-2" | sort | uniq -c | sort -rn | head -n 8 | tr -s ' ' | tr '\n' ';')"
	fi
else
	n1=$(ext conn_count)
	sleep 3
	if [ "$n1" -gt 0 ]; then
		check "the closing connections' timers run" test "$(maxexp)" -lt "$e1"
	fi
	snap >"$logs/conns-2"
	log_info "quick drain check: $n1 closing connections left (the last expires in $e1 s); $(timer_rate "$logs/conns-1" "$logs/conns-2"); the test's clock: ${SECONDS} s"
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
	# (Objects free in the per-CPU slabs count as active until shrunk.)
	echo 1 >/sys/kernel/slab/ipvs_rs_conn/shrink 2>/dev/null
	check "the connection cache is empty again" test "$(awk '$1 == "ipvs_rs_conn" {print $2}' /proc/slabinfo)" -le 64
fi
check "rmmod after the soak" rmmod ipvs_rs
exit_test
