#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The control plane through stock ipvsadm: services (-A/-E/-D), real servers
# (-a/-e/-d), fwmark services, scheduler flags, persistence, -C, -Z, --set,
# -S/-R round trip. Bad requests fail with upstream's errno and an extended
# ack naming the field, and change nothing; unprivileged writes get EPERM,
# while CAP_NET_ADMIN in one's own network namespace is enough.
source "$(dirname "$0")/lib.sh"
require_root
require_cmd ipvsadm python3
raw="$REPO/selftests/genl_raw.py"

V=10.0.1.100
run_ok() { check "$*" "$@"; }

# The same ipvsadm session against upstream ip_vs and against ipvs_rs must
# leave tables that ipvsadm prints identically.
session() {
	ipvsadm -A -t $V:80 -s rr &&
	ipvsadm -a -t $V:80 -r 10.0.2.11:80 -m -w 1 &&
	ipvsadm -a -t $V:80 -r 10.0.2.12:8080 -m -w 2 &&
	ipvsadm -a -t $V:80 -r 10.0.2.13:80 -g -w 3 &&
	ipvsadm -a -t $V:80 -r 10.0.3.14:80 -i -w 0 &&
	ipvsadm -A -u $V:53 -s sh -b sh-fallback,sh-port -p 120 -M 255.255.255.0 &&
	ipvsadm -a -u $V:53 -r 10.0.2.11:5353 -m -w 1 -x 100 -y 10 &&
	ipvsadm -A -f 42 -s mh -b mh-port &&
	ipvsadm -a -f 42 -r 10.0.2.11:0 -g -w 4 &&
	ipvsadm -A -t $V:443 -s wrr -p &&
	ipvsadm -a -t $V:443 -r 10.0.2.11 -m -w 10 &&
	ipvsadm -E -t $V:443 -s wlc -p 600 &&
	ipvsadm -e -t $V:443 -r 10.0.2.11 -m -w 5 -x 50 -y 5
}
# /proc/net/ip_vs lists services in hash order: key each real-server line by
# its service and sort, so both implementations compare line for line.
proc_ip_vs() {
	awk 'NR <= 3 { print "0 " $0; next }
	     /^  ->/ { print "2 " svc " " $0; next }
	     { svc = $0; print "1 " $0 }' /proc/net/ip_vs | sort
}
tables() {
	ipvsadm -S -n
	ipvsadm -L -n
	ipvsadm -L -n --thresholds
	ipvsadm -L -n --persistent-conn
	proc_ip_vs
	cat /proc/net/ip_vs_stats
	cat /proc/net/ip_vs_conn
}

unload_all
if modprobe ip_vs 2>/dev/null; then
	session || check_fail "ipvsadm session against upstream ip_vs"
	upstream=$(tables)
	unload_all
else
	upstream=""
	log_info "upstream ip_vs not available: skipping the comparison"
fi
load_ipvs_rs || { echo "# cannot load ipvs_rs"; exit $ksft_fail; }
check "ipvsadm session against ipvs_rs" session
ours=$(tables)
if [ -n "$upstream" ]; then
	check_eq "ipvsadm prints the same tables as for upstream ip_vs" "$upstream" "$ours"
fi
check_match "/proc/net/ip_vs lists the persistent service" "UDP  0A016400:0035 sh .*persistent 30000 FFFFFF00|UDP  0A000164:0035 sh" "$(cat /proc/net/ip_vs)"
check_match "-S shows the fwmark service" "-A -f 42 -s mh -b mh-port" "$ours"
check_match "-E changed scheduler and persistence" "-A -t $V:443 -s wlc -p 600" "$ours"
check_match "-e changed weight" "-a -t $V:443 -r 10.0.2.11:443 -m -w 5" "$ours"
check_match "-L -n --thresholds shows them" "-> 10.0.2.11:443 +50 +5 " "$ours"
check_match "ipvsadm -L -n -t shows one service" "TCP  $V:80 rr" "$(ipvsadm -L -n -t $V:80)"

# Failures change nothing.
before=$(ipvsadm -S -n)
check_not "-A of an existing service fails" ipvsadm -A -t $V:80 -s rr
check_not "-a to a missing service fails" ipvsadm -a -t $V:81 -r 10.0.2.11:80 -m
check_not "-a of an existing real server fails" ipvsadm -a -t $V:80 -r 10.0.2.11:80 -m
check_not "-e of a missing real server fails" ipvsadm -e -t $V:80 -r 10.0.2.99:80 -m
check_not "-d of a missing real server fails" ipvsadm -d -t $V:80 -r 10.0.2.99:80
check_not "-D of a missing service fails" ipvsadm -D -t $V:81
check_not "-A with an unknown scheduler fails" ipvsadm -A -t $V:82 -s nosuch
check_not "-E with an unknown scheduler fails" ipvsadm -E -t $V:80 -s nosuch
check_not "-a with lower threshold above upper fails" ipvsadm -a -t $V:80 -r 10.0.2.20:80 -m -x 5 -y 10
check_eq "failed commands changed nothing" "$before" "$(ipvsadm -S -n)"

# Hand-built requests: errno and extended ack naming the field.
NEW_SERVICE=1
# SERVICE nest with only PORT: no AF.
out=$(python3 "$raw" $NEW_SERVICE "0c0001000600040000500000")
check_eq "missing AF: EINVAL naming IPVS_SVC_ATTR_AF" "errno=22 msg=IPVS_SVC_ATTR_AF: missing" "$out"
out=$(python3 "$raw" $NEW_SERVICE "")
check_eq "missing service: EINVAL naming IPVS_CMD_ATTR_SERVICE" "errno=22 msg=IPVS_CMD_ATTR_SERVICE: missing" "$out"
# AF 99.
out=$(python3 "$raw" $NEW_SERVICE "0c0001000600010063000000")
check_eq "bad AF: EAFNOSUPPORT naming the field" "errno=97 msg=IPVS_SVC_ATTR_AF: address family not supported" "$out"
# Truncated attribute header inside the payload.
out=$(python3 "$raw" $NEW_SERVICE "0c0001000600010002000000ff")
check_eq "malformed attributes: EINVAL" "errno=22 msg=IPVS request: malformed attributes" "$out"
# AF, FWMARK given, but no scheduler on NEW_SERVICE.
out=$(python3 "$raw" $NEW_SERVICE "1400010006000100020000000800050007000000")
check_eq "missing scheduler: EINVAL naming IPVS_SVC_ATTR_SCHED_NAME" "errno=22 msg=IPVS_SVC_ATTR_SCHED_NAME: missing" "$out"
check_eq "bad requests changed nothing" "$before" "$(ipvsadm -S -n)"

# Unprivileged: EPERM, nothing changes.
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups ipvsadm -A -t $V:90 -s rr 2>&1)
check "unprivileged -A fails" [ $? != 0 ]
check_match "unprivileged -A: permission denied" "[Pp]ermission|not permitted" "$out"
check_eq "unprivileged write changed nothing" "$before" "$(ipvsadm -S -n)"
# CAP_NET_ADMIN in one's own (user and network) namespace is enough there.
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups unshare -U -r -n sh -c 'ipvsadm -A -t 10.9.9.9:80 -s rr && ipvsadm -S -n' 2>&1)
check_eq "CAP_NET_ADMIN in own netns: -A works there" "-A -t 10.9.9.9:80 -s rr" "$out"
check_eq "...and does not touch the initial namespace" "$before" "$(ipvsadm -S -n)"

# Zero, timeouts.
run_ok ipvsadm -Z
run_ok ipvsadm -Z -t $V:80
run_ok ipvsadm --set 100 50 20
check_eq "--set timeouts" "Timeout (tcp tcpfin udp): 100 50 20" "$(ipvsadm -L --timeout)"
run_ok ipvsadm --set 0 60 0
check_eq "--set 0 keeps a timeout" "Timeout (tcp tcpfin udp): 100 60 20" "$(ipvsadm -L --timeout)"

# Delete, clear, restore.
run_ok ipvsadm -d -t $V:80 -r 10.0.3.14:80
check_not "-d removed the real server" grep -q 10.0.3.14 <<<"$(ipvsadm -S -n)"
run_ok ipvsadm -D -f 42
check_not "-D removed the fwmark service" grep -q -- "-f 42" <<<"$(ipvsadm -S -n)"
saved=$(ipvsadm -S -n)
run_ok ipvsadm -C
check_eq "-C empties the table" "" "$(ipvsadm -S -n)"
ipvsadm -R <<<"$saved"
check "ipvsadm -R succeeds" [ $? = 0 ]
check_eq "-S | -C | -R round trip" "$saved" "$(ipvsadm -S -n)"

exit_test
