#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# ipvs_rs and toa_rs load and unload cleanly, 100 times each: nothing stays
# registered (module, netlink family, netfilter hooks) and slab memory does
# not grow. The conn_tab_bits parameter is honoured and range-checked.
source "$(dirname "$0")/lib.sh"
require_root
require_cmd nft genl ipvsadm

CYCLES=${CYCLES:-100}
unload_all

# Objects in use across the general-purpose kmalloc caches.
kmalloc_objs() {
	awk '/^kmalloc-/ { n += $2 } END { print n }' /proc/slabinfo
}

# Warm up once so one-time allocations (module loader, kallsyms) don't count.
load_ipvs_rs && rmmod ipvs_rs
insmod "$TOA_RS_KO" && rmmod toa_rs
before=$(kmalloc_objs)
# On the debug kernel (KASAN: freed objects sit in a quarantine and still
# count in /proc/slabinfo) kmemleak answers exactly; use it when present.
kmemleak=""
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug 2>/dev/null
if [ -w /sys/kernel/debug/kmemleak ]; then
	kmemleak=/sys/kernel/debug/kmemleak
	echo scan >"$kmemleak"
	echo clear >"$kmemleak"
fi

fails=0
for i in $(seq "$CYCLES"); do
	if ! load_ipvs_rs; then fails=$((fails + 1)); continue; fi
	rmmod ipvs_rs || fails=$((fails + 1))
	insmod "$TOA_RS_KO" || { fails=$((fails + 1)); continue; }
	rmmod toa_rs || fails=$((fails + 1))
done
check_eq "$CYCLES load/unload cycles of ipvs_rs and toa_rs" 0 "$fails"

# A leak of even one object per cycle would show as >= $CYCLES objects.
if [ -n "$kmemleak" ]; then
	echo scan >"$kmemleak"
	echo scan >"$kmemleak"
	leaks=$(grep -c '^unreferenced object' "$kmemleak")
	log_info "kmemleak: $leaks unreferenced objects after the cycles"
	check "no kmemleak reports proportional to cycles ($leaks)" [ "$leaks" -lt $((CYCLES / 2)) ]
else
	# Unloading frees some objects after an RCU grace period (kfree_rcu of
	# sysctl tables, call_rcu of connections): let those batches run, and
	# take the lowest of a few samples.
	after=$(kmalloc_objs)
	for _ in 1 2 3 4 5; do
		sleep 2
		n=$(kmalloc_objs)
		[ "$n" -lt "$after" ] && after=$n
	done
	growth=$((after - before))
	log_info "kmalloc objects before $before, after $after"
	check "no kmalloc growth proportional to cycles (growth $growth)" [ "$growth" -lt $((CYCLES / 2)) ]
fi

check_not "ipvs_rs not in /proc/modules" module_loaded ipvs_rs
check_not "toa_rs not in /proc/modules" module_loaded toa_rs
check_not "IPVS netlink family gone" genl_family_exists IPVS
check "no ipvs_rs netfilter hooks left" bash -c '! nft list hooks ip | grep -q ipvs_rs'

# Loaded: the family is there; the hooks come with the first service, at
# upstream's priorities.
load_ipvs_rs
check "IPVS netlink family registered" genl_family_exists IPVS
check_eq "no ipvs_rs hooks before the first service" 0 "$(nf_hooks | grep -c 'ipvs_rs_')"
check "a service" ipvsadm -A -t 10.0.9.1:80 -s rr
hooks=$(nf_hooks)
check_eq "five ipvs_rs hooks registered with it" 5 "$(grep -c 'ipvs_rs_' <<<"$hooks")"
# NF_IP_PRI_NAT_SRC - 2/- 1, NF_IP_PRI_NAT_DST + 2, 99 and 100 (upstream's
# LOCAL_OUT reply hook at NF_IP_PRI_NAT_DST + 1 has nothing to do here).
check_eq "hook priorities as upstream ip_vs_ops4[]" "input:98,99 forward:99,100 output:-98" "$(ipvs_rs_hook_prios)"
rmmod ipvs_rs

# conn_tab_bits: honoured within 8..20, else the default with a warning.
load_ipvs_rs conn_tab_bits=14
check_match "conn_tab_bits=14 gives size=16384" '\(size=16384\)' "$(ipvsadm -L -n | head -n1)"
rmmod ipvs_rs
dmesg -C
load_ipvs_rs conn_tab_bits=30
check_match "conn_tab_bits=30 falls back to size=4096" '\(size=4096\)' "$(ipvsadm -L -n | head -n1)"
check "out-of-range conn_tab_bits is logged" bash -c 'dmesg | grep -q "conn_tab_bits=30 out of range 8..20, using 12"'
rmmod ipvs_rs

exit_test
