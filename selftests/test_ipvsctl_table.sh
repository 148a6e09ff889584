#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# ipvsctl manages the table: service/dest add, edit, del; save prints what
# ipvsadm -S -n prints; `ipvsadm -S | ipvsctl restore` and
# `ipvsctl save | ipvsctl restore` rebuild the identical table; JSON reads;
# bad values are named and change nothing; kernel errors are shown.
source "$(dirname "$0")/lib.sh"
require_root
require_cmd ipvsctl ipvsadm jq
unload_all
load_ipvs_rs || { echo "# cannot load ipvs_rs"; exit $ksft_fail; }

V=10.0.1.100
run_ok() { check "$*" "$@"; }
run_ok ipvsctl service add tcp $V:80 -s rr
run_ok ipvsctl dest add tcp $V:80 10.0.2.11:80 --fwd nat -w 2
run_ok ipvsctl dest add tcp $V:80 10.0.2.12:8080 --fwd nat -w 3 -x 100 -y 10
run_ok ipvsctl dest add tcp $V:80 10.0.2.13 --fwd dr
run_ok ipvsctl service add udp $V:53 -s sh -b sh-port -p 60 -M 255.255.255.0
run_ok ipvsctl dest add udp $V:53 10.0.2.11:53 --fwd tun -w 0
run_ok ipvsctl service add fwmark 7 -s mh -b mh-fallback
run_ok ipvsctl dest add fwmark 7 10.0.2.14 --fwd dr -w 5

# save matches ipvsadm -S -n (thresholds are ipvsctl's addition).
check_eq "ipvsctl save == ipvsadm -S -n (without thresholds)" \
	"$(ipvsadm -S -n)" "$(ipvsctl save | sed 's/ -x [0-9]* -y [0-9]*//')"
check_match "ipvsctl save keeps thresholds" "-r 10.0.2.12:8080 -m -w 3 -x 100 -y 10" "$(ipvsctl save)"

# Edit keeps what is not given.
run_ok ipvsctl service edit tcp $V:80 -s wlc
run_ok ipvsctl dest edit tcp $V:80 10.0.2.11:80 -w 7
check_match "edit: new scheduler" "-A -t $V:80 -s wlc" "$(ipvsadm -S -n)"
check_match "edit: new weight, same method" "-a -t $V:80 -r 10.0.2.11:80 -m -w 7" "$(ipvsadm -S -n)"

# JSON.
json=$(ipvsctl --json service list)
check_eq "service list --json: three services" 3 "$(jq 'if type == "array" then length else (.services | length) end' <<<"$json")"
check "stats --json parses" bash -c 'ipvsctl --json stats | jq -e . >/dev/null'

# Bad values: one line naming the value, exit 1, no change.
before=$(ipvsadm -S -n)
err=$(ipvsctl dest add tcp $V:80 10.0.2.20 --fwd nat -w -3 2>&1 >/dev/null)
check_eq "bad weight: exit 1" 1 "$?"
check_match "bad weight: names the value" 'weight "-3"' "$err"
err=$(ipvsctl service add tcp 10.0.1.300:80 2>&1 >/dev/null)
check "bad address: fails" [ -n "$err" ]
check_match "bad address: names the value" "10.0.1.300" "$err"
err=$(ipvsctl service add tcp $V:80 -s rr 2>&1 >/dev/null)
check_match "existing service: the kernel's message" "already exists" "$err"
err=$(ipvsctl service add tcp $V:81 -s nosuch 2>&1 >/dev/null)
check_match "unknown scheduler: named" "nosuch|scheduler" "$err"
check_eq "failed commands changed nothing" "$before" "$(ipvsadm -S -n)"

# Migration: ipvsadm -S | ipvsctl restore.
saved=$(ipvsadm -S -n)
run_ok ipvsctl flush
check_eq "flush empties the table" "" "$(ipvsadm -S -n)"
ipvsadm -S -n >/dev/null
ipvsctl restore <<<"$saved"
check "ipvsadm -S | ipvsctl restore succeeds" [ $? = 0 ]
check_eq "ipvsadm -S | ipvsctl restore: same table" "$saved" "$(ipvsadm -S -n)"

# ipvsctl save | ipvsctl restore, thresholds included.
run_ok ipvsctl dest edit tcp $V:80 10.0.2.12:8080 -x 100 -y 10
mine=$(ipvsctl save)
run_ok ipvsctl flush
ipvsctl restore <<<"$mine"
check_eq "ipvsctl save | ipvsctl restore: identical" "$mine" "$(ipvsctl save)"

# A bad line is reported with its number and nothing is applied.
run_ok ipvsctl flush
err=$(printf -- '-A -t %s:80 -s rr\n-a -t %s:80 -r 10.0.2.11:80 -m -w x\n' $V $V | ipvsctl restore 2>&1)
check_match "restore names the bad line" "line 2" "$err"
check_eq "restore applied nothing" "" "$(ipvsadm -S -n)"

# Deletion and timeouts.
ipvsctl restore <<<"$mine"
run_ok ipvsctl dest del tcp $V:80 10.0.2.13:80
run_ok ipvsctl service del fwmark 7
check_not "dest del removed it" grep -q 10.0.2.13 <<<"$(ipvsadm -S -n)"
check_not "service del removed it" grep -q -- "-f 7" <<<"$(ipvsadm -S -n)"
run_ok ipvsctl timeout set 100 0 30
check_eq "timeout set" "Timeout (tcp tcpfin udp): 100 120 30" "$(ipvsadm -L --timeout)"
run_ok ipvsctl zero

exit_test
