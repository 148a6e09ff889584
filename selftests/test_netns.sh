#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# State is per network namespace, as upstream: namespaces that exist before
# the module loads and those created after each get their hooks and answer
# ipvsadm; deleting a namespace and unloading with namespaces alive is clean.
source "$(dirname "$0")/lib.sh"
require_root
require_cmd ipvsadm nft
unload_all

setup_ns before
load_ipvs_rs || { echo "# cannot load ipvs_rs"; exit $ksft_fail; }
setup_ns client director rs1

for ns in "$before" "$client" "$director" "$rs1"; do
	n=$(ip netns exec "$ns" nft list hooks ip | grep -c ipvs_rs_)
	check_eq "hooks registered in ${ns%%-*}" 6 "$n"
	check_eq "ipvsadm in ${ns%%-*}" "IP Virtual Server version 1.2.1 (size=4096)" \
		"$(ip netns exec "$ns" ipvsadm -L -n | head -n1)"
done

# Namespaces come and go while loaded.
for i in $(seq 20); do
	ip netns add "churn$i" && ip netns exec "churn$i" ipvsadm -L -n >/dev/null &&
		ip netns del "churn$i" || check_fail "namespace churn $i"
done
check_ok "20 namespaces created, used and deleted"

# Unload with namespaces alive, then delete them.
check "rmmod with live namespaces" rmmod ipvs_rs
for ns in "$client" "$director"; do
	n=$(ip netns exec "$ns" nft list hooks ip | grep -c ipvs_rs_)
	check_eq "no hooks left in ${ns%%-*} after rmmod" 0 "$n"
done
cleanup_ns

exit_test
