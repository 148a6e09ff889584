# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
# Shared helpers for the ipvs_rs selftests, in the style of the kernel's
# tools/testing/selftests/net/lib.sh: kselftest exit codes, namespaces that
# are cleaned up on exit, module handling and checks. Source it.

set -u

# kselftest exit codes
ksft_pass=0
ksft_fail=1
ksft_skip=4

REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# shellcheck source=selftests/slow_kernel.sh
source "$REPO/selftests/slow_kernel.sh"
IPVS_RS_KO=${IPVS_RS_KO:-$REPO/build/ipvs_rs.ko}
TOA_RS_KO=${TOA_RS_KO:-$REPO/build/toa_rs.ko}
export PATH="$REPO/build/bin:/usr/sbin:/sbin:$PATH"

RET=0          # this test's result so far
FAILED_MSG=""  # what failed

# Log a check result: check_ok "what" / check_fail "what".
log_info() { echo "# $*"; }
check_fail() {
	RET=$ksft_fail
	FAILED_MSG+="$1; "
	echo "# FAIL: $1"
}
check_ok() { echo "# ok: $1"; }

# check "description" command...: runs command, records pass/fail.
check() {
	local what=$1
	shift
	if "$@"; then check_ok "$what"; else check_fail "$what"; fi
}

# check_not "description" command...: passes if command fails.
check_not() {
	local what=$1
	shift
	if "$@"; then check_fail "$what"; else check_ok "$what"; fi
}

# check_eq "description" expected actual
check_eq() {
	if [ "$2" == "$3" ]; then
		check_ok "$1"
	else
		check_fail "$1 (expected '$2', got '$3')"
	fi
}

# check_match "description" regex actual
check_match() {
	if [[ "$3" =~ $2 ]]; then
		check_ok "$1"
	else
		check_fail "$1 (expected /$2/, got '$3')"
	fi
}

require_root() {
	[ "$(id -u)" = 0 ] || { echo "# SKIP: needs root"; exit $ksft_skip; }
}

require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || { echo "# SKIP: $c not installed"; exit $ksft_skip; }
	done
}

# --- namespaces -------------------------------------------------------------

NS_LIST=()

# setup_ns VAR...: create uniquely named namespaces, store names in VARs.
setup_ns() {
	local var name
	for var in "$@"; do
		name="${var}-$(mktemp -u XXXXXX)"
		ip netns add "$name" || return 1
		ip -n "$name" link set lo up
		NS_LIST+=("$name")
		printf -v "$var" '%s' "$name"
	done
}

cleanup_ns() {
	local ns
	for ns in "${NS_LIST[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	NS_LIST=()
}

# --- modules -----------------------------------------------------------------

module_loaded() { grep -q "^$1 " /proc/modules; }

# Unload everything a test may have left: ipvs_rs, toa_rs, upstream IPVS.
unload_all() {
	local m
	for m in ipvs_rs toa_rs; do
		module_loaded "$m" && rmmod "$m"
	done
	# Upstream's schedulers stay in use while services exist.
	module_loaded ip_vs && ipvsadm -C 2>/dev/null
	for m in $(awk '$1 ~ /^ip_vs/ {print $1}' /proc/modules); do
		[ "$m" = ip_vs ] || modprobe -r "$m" 2>/dev/null
	done
	module_loaded ip_vs && modprobe -r ip_vs
	return 0
}

load_ipvs_rs() { insmod "$IPVS_RS_KO" "$@"; }

# Hook functions registered in the current namespace for family ip.
nf_hooks() { nft list hooks ip 2>/dev/null; }

# The priorities of ipvs_rs's hooks per hook point, e.g.
# "input:98,99 forward:99,100 output:-99,-98".
ipvs_rs_hook_prios() {
	nf_hooks | awk '
		/hook [a-z]+ \{/ { h = $2 }
		/ipvs_rs_/ { p[h] = p[h] (p[h] ? "," : "") ($1 + 0) }
		END { printf "input:%s forward:%s output:%s", p["input"], p["forward"], p["output"] }'
}

# Netfilter drops, counted by the kernel itself: the skb:kfree_skb
# tracepoint with reason NETFILTER_DROP fires for every packet any hook
# dropped (in every namespace). nf_drops_start clears the trace buffer and
# enables the event (returns 1 if the kernel has no such tracepoint);
# nf_drops_count prints the drops seen since, or "overrun" if the buffer
# lost events.
TRACEFS=/sys/kernel/tracing
nf_drops_start() {
	[ -d "$TRACEFS/events" ] || mount -t tracefs nodev "$TRACEFS" 2>/dev/null
	[ -d "$TRACEFS/events/skb/kfree_skb" ] || return 1
	echo 0 >"$TRACEFS/tracing_on"
	echo 16384 >"$TRACEFS/buffer_size_kb"
	echo >"$TRACEFS/trace"
	echo 1 >"$TRACEFS/events/skb/kfree_skb/enable"
	echo 1 >"$TRACEFS/tracing_on"
}
nf_drops_count() {
	if grep -q '^overrun: [1-9]' "$TRACEFS"/per_cpu/cpu*/stats; then
		echo overrun
	else
		grep -c 'reason: NETFILTER_DROP' "$TRACEFS/trace"
	fi
}
nf_drops_stop() {
	[ -d "$TRACEFS/events/skb/kfree_skb" ] || return 0
	echo 0 >"$TRACEFS/events/skb/kfree_skb/enable"
	echo >"$TRACEFS/trace"
}

# Whether the generic netlink family $1 is registered.
genl_family_exists() { genl ctrl get name "$1" >/dev/null 2>&1; }

# Background processes started by a test (bg CMD... records the pid).
BG_PIDS=()
bg() {
	"$@" &
	BG_PIDS+=($!)
}

cleanup_bg() {
	local p
	for p in "${BG_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${BG_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	BG_PIDS=()
}

# wait_for SECONDS CMD...: poll CMD every 0.5 s until it succeeds
# (SECONDS times TIMEOUT_SCALE).
wait_for() {
	local deadline
	deadline=$(awk -v now="$(date +%s)" -v t="$(scaled "$1")" 'BEGIN { printf "%d", now + t + 0.999 }')
	shift
	until "$@"; do
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.5
	done
}

# Background work in its own session with its output discarded, stopped
# as a whole (process group): nothing it started outlives the test or
# holds run.sh's output pipe.
GROUPS_BG=()
bgg() {
	setsid "$@" </dev/null >/dev/null 2>&1 &
	GROUPS_BG+=($!)
}
stop_bgg() {
	local p
	for p in "${GROUPS_BG[@]}"; do kill -- -"$p" 2>/dev/null; done
	for p in "${GROUPS_BG[@]}"; do wait "$p" 2>/dev/null; done
	GROUPS_BG=()
}

cleanup() {
	stop_bgg
	cleanup_bg
	nf_drops_stop
	cleanup_ns
	unload_all
}
trap cleanup EXIT

# End the test with its result.
exit_test() {
	if [ "$RET" = 0 ]; then
		echo "# PASS"
	else
		echo "# FAILED: $FAILED_MSG"
	fi
	exit "$RET"
}

# Accessing the IPVS netlink family while no module provides it makes the
# kernel autoload upstream ip_vs (MODULE_ALIAS_GENL_FAMILY). Tests load
# what they want explicitly, so block alias-based loading of ip_vs in the
# guest (explicit `modprobe ip_vs` still works). /etc is a throwaway
# overlay in the VM.
if [ "${IPVS_RS_IN_VM:-0}" = 1 ] && [ -d /etc/modprobe.d ]; then
	echo "blacklist ip_vs" >/etc/modprobe.d/ipvs_rs-selftests.conf
fi
