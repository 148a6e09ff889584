#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# ipvsctl info and timeout get, human and JSON; the one-line error when the
# module is absent and when the caller lacks CAP_NET_ADMIN.
source "$(dirname "$0")/lib.sh"
require_root
require_cmd ipvsctl jq
unload_all

# Module absent: one clear line on stderr, nothing on stdout, exit 1.
out=$(ipvsctl info 2>/tmp/ipvsctl.err)
rc=$?
err=$(cat /tmp/ipvsctl.err)
check_eq "absent module: exit status 1" 1 "$rc"
check_eq "absent module: nothing on stdout" "" "$out"
check_eq "absent module: one line on stderr" 1 "$(wc -l <<<"$err")"
check_match "absent module: says the family is missing" "IPVS generic netlink family is not registered" "$err"
out=$(ipvsctl --json info 2>/dev/null)
check_eq "absent module, --json: exit status 1" 1 "$?"

load_ipvs_rs conn_tab_bits=10 || { echo "# cannot load ipvs_rs"; exit $ksft_fail; }
out=$(ipvsctl info)
check "ipvsctl info succeeds" [ $? = 0 ]
check_eq "ipvsctl info first line" "IP Virtual Server version 1.2.1 (size=1024)" "$(head -n1 <<<"$out")"
json=$(ipvsctl info --json)
check_eq "ipvsctl --json info: version" '"1.2.1"' "$(jq -c .version <<<"$json")"
check_eq "ipvsctl --json info: version_code" 66049 "$(jq .version_code <<<"$json")"
check_eq "ipvsctl --json info: conn_tab_size" 1024 "$(jq .conn_tab_size <<<"$json")"
check_eq "ipvsctl --json timeout get" '{"tcp":900,"tcp_fin":120,"udp":300}' "$(ipvsctl --json timeout get | jq -c .)"
check_eq "ipvsctl timeout get" "$(ipvsadm -L --timeout)" "$(ipvsctl timeout get)"

err=$(setpriv --reuid=65534 --regid=65534 --clear-groups ipvsctl info 2>&1 >/dev/null)
check_eq "unprivileged: exit status 1" 1 "$?"
check_match "unprivileged: names CAP_NET_ADMIN" "CAP_NET_ADMIN" "$err"

exit_test
