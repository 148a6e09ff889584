#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# ipvs_rs and upstream ip_vs implement the same ABI; only one may be loaded.
# Either order fails cleanly: a clear log line, an error code, and nothing
# half-registered; the one already loaded keeps working.
source "$(dirname "$0")/lib.sh"
require_root
require_cmd ipvsadm nft genl
unload_all

# Upstream first: ipvs_rs refuses with EEXIST.
modprobe ip_vs || { echo "# SKIP: upstream ip_vs not available"; exit $ksft_skip; }
dmesg -C
err=$(insmod "$IPVS_RS_KO" 2>&1)
check "insmod ipvs_rs fails while ip_vs is loaded" [ $? != 0 ]
check_match "insmod reports EEXIST" "File exists" "$err"
check "kernel log explains the refusal" bash -c 'dmesg | grep -q "ipvs_rs: generic netlink family IPVS is already registered: upstream ip_vs is loaded"'
check_not "ipvs_rs not left loaded" module_loaded ipvs_rs
check "no ipvs_rs hooks left behind" bash -c '! nft list hooks ip | grep -q ipvs_rs'
check "upstream ip_vs still answers" bash -c 'ipvsadm -L -n | grep -q "IP Virtual Server version"'
unload_all

# ipvs_rs first: upstream ip_vs is refused with EBUSY.
load_ipvs_rs || { echo "# cannot load ipvs_rs"; exit $ksft_fail; }
dmesg -C
err=$(modprobe ip_vs 2>&1)
check "modprobe ip_vs fails while ipvs_rs is loaded" [ $? != 0 ]
check_match "modprobe reports EBUSY" "busy" "$err"
check "kernel log explains the refusal" bash -c "dmesg | grep -q 'ipvs_rs: refusing to load \"ip_vs\"'"
check_not "ip_vs not left loaded" module_loaded ip_vs
check_eq "ipvs_rs still answers" "IP Virtual Server version 1.2.1 (size=4096)" "$(ipvsadm -L -n | head -n1)"
rmmod ipvs_rs

# And once ipvs_rs is gone, upstream loads again.
check "modprobe ip_vs after rmmod ipvs_rs" modprobe ip_vs
unload_all

exit_test
