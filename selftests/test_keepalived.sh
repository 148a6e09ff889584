#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Debian's keepalived manages a virtual service on ipvs_rs with TCP_CHECK
# health checks against two real servers: it installs the service and both
# servers; when one server stops answering it is removed, when it comes
# back it is re-added; client traffic follows (NAT through the director).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/topology.sh"
here=$(cd "$(dirname "$0")" && pwd)
require_root
require_cmd keepalived socat ipvsadm python3
unload_all
topo_lvs 2 || exit $ksft_fail
load_ipvs_rs || { echo "# cannot load ipvs_rs"; exit $ksft_fail; }

# listen N: a TCP server on rsN:80 that answers "rsN" and closes (the
# SYNPROXY bench's server). One process, no fork per connection:
# keepalived connects to each server every second, and a fork and exec
# per check (socat's SYSTEM) kept a slow (debug) kernel so busy that
# clients' requests timed out.
listen() {
	bg ip netns exec "${RS_NS[$(($1 - 1))]}" python3 "$here/py/legit_requests.py" server 80 "rs$1"
	eval "RS$1_PID=\$!"
}
listen 1
listen 2

conf=$(mktemp /tmp/keepalived.XXXXXX.conf)
cat >"$conf" <<CONF
global_defs {
	router_id ipvs_rs_selftest
}
virtual_server $VIP 80 {
	delay_loop 1
	lb_algo wlc
	lb_kind NAT
	protocol TCP
	real_server $(rs_ip 1) 80 {
		weight 2
		TCP_CHECK {
			connect_timeout 1
			retry 1
			delay_before_retry 1
		}
	}
	real_server $(rs_ip 2) 80 {
		weight 3
		TCP_CHECK {
			connect_timeout 1
			retry 1
			delay_before_retry 1
		}
	}
}
CONF
run=$(mktemp -d /tmp/keepalived.XXXXXX)
# -C: health checker only (no VRRP); -n: foreground; -l: log to console.
bg ip netns exec "$director" keepalived -C -n -l -D -f "$conf" \
	-p "$run/keepalived.pid" -c "$run/checkers.pid"

table() { ip netns exec "$director" ipvsadm -S -n; }
has() { grep -q -- "$1" <<<"$(table)"; }
lacks() { ! has "$1"; }

check "keepalived installs the service" wait_for 20 has "-A -t $VIP:80 -s wlc"
check "keepalived adds rs1 (weight 2)" wait_for 20 has "-r $(rs_ip 1):80 -m -w 2"
check "keepalived adds rs2 (weight 3)" wait_for 20 has "-r $(rs_ip 2):80 -m -w 3"

# who COUNT: which real servers answered COUNT requests to the VIP.
who() {
	local i
	for i in $(seq "$1"); do
		timeout "$(scaled 10)" ip netns exec "$client" socat -T 5 -t 5 - TCP:$VIP:80 </dev/null
	done | sort -u | tr '\n' ' '
}
check_eq "both real servers serve clients" "rs1 rs2 " "$(who 6)"

kill "$RS2_PID"; wait "$RS2_PID" 2>/dev/null
check "rs2 down: keepalived removes it" wait_for 20 lacks "-r $(rs_ip 2):80"
check "rs2 down: rs1 stays" has "-r $(rs_ip 1):80 -m -w 2"
check_eq "rs2 down: traffic moves to rs1" "rs1 " "$(who 4)"

listen 2
check "rs2 back: keepalived re-adds it" wait_for 20 has "-r $(rs_ip 2):80 -m -w 3"
# wlc sends new connections to rs2 first: rs1 still counts the previous
# ones (inactive, in TIME_WAIT).
check_match "rs2 back: it serves clients again" "rs2" "$(who 4)"

cleanup_bg
rm -rf "$conf" "$run"
exit_test
