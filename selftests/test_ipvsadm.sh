#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Stock Debian ipvsadm talks to ipvs_rs: the -L -n header with version and
# table size, --timeout with upstream's defaults, an empty service list.
source "$(dirname "$0")/lib.sh"
require_root
require_cmd ipvsadm
unload_all
load_ipvs_rs || { echo "# cannot load ipvs_rs"; exit $ksft_fail; }

out=$(ipvsadm -L -n)
check "ipvsadm -L -n succeeds" [ $? = 0 ]
check_eq "ipvsadm -L -n header" "IP Virtual Server version 1.2.1 (size=4096)" "$(head -n1 <<<"$out")"
check_eq "ipvsadm -L -n lists no services" 3 "$(wc -l <<<"$out")"
check_match "column header" "^Prot LocalAddress:Port Scheduler Flags" "$(sed -n 2p <<<"$out")"
check_eq "ipvsadm -L --timeout: upstream defaults" "Timeout (tcp tcpfin udp): 900 120 300" "$(ipvsadm -L --timeout)"
check_eq "ipvsadm -S -n: empty table" "" "$(ipvsadm -S -n)"

# Unprivileged callers are refused by the family (CAP_NET_ADMIN needed).
check "unprivileged ipvsadm -L -n fails" bash -c '! setpriv --reuid=65534 --regid=65534 --clear-groups ipvsadm -L -n >/dev/null 2>&1'

exit_test
