#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# State is per network namespace, as upstream: namespaces that exist before
# the module loads and those created after each answer ipvsadm, and get the
# netfilter hooks with their first service (none before: their packets cost
# nothing); deleting a namespace and unloading with namespaces alive is clean.
source "$(dirname "$0")/lib.sh"
require_root
require_cmd ipvsadm nft
unload_all

setup_ns before
load_ipvs_rs || { echo "# cannot load ipvs_rs"; exit $ksft_fail; }
setup_ns client director rs1

hooks_in() { ip netns exec "$1" nft list hooks ip | grep -c ipvs_rs_; }
for ns in "$before" "$client" "$director" "$rs1"; do
	check_eq "no hooks in ${ns%%-*} without a service" 0 "$(hooks_in "$ns")"
	check_eq "ipvsadm in ${ns%%-*}" "IP Virtual Server version 1.2.1 (size=4096)" \
		"$(ip netns exec "$ns" ipvsadm -L -n | head -n1)"
done

# The first service registers the hooks of its namespace only; they stay
# after the last service goes (its connections may still need them).
check "a service in director" ip netns exec "$director" ipvsadm -A -u 10.0.9.1:53 -s rr
check "a second service in director" ip netns exec "$director" ipvsadm -A -t 10.0.9.1:80 -s rr
check_eq "hooks registered in director with services" 5 "$(hooks_in "$director")"
check_eq "... once, at upstream's places" \
	"$(printf 'forward\nforward\ninput\ninput\noutput')" \
	"$(ip netns exec "$director" nft list hooks ip | awk '$1 == "hook" {h=$2} /ipvs_rs_/ {print h}' | sort)"
for ns in "$before" "$client" "$rs1"; do
	check_eq "still no hooks in ${ns%%-*}" 0 "$(hooks_in "$ns")"
done
check "services deleted" ip netns exec "$director" ipvsadm -C
check_eq "hooks stay in director after the last service" 5 "$(hooks_in "$director")"
check "a service again" ip netns exec "$director" ipvsadm -A -u 10.0.9.1:53 -s rr
check_eq "... registers nothing twice" 5 "$(hooks_in "$director")"

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
