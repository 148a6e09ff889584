#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make selftests` (and so `make check`): every selftest, or those named,
# in the test VM (selftests/run.sh: TAP 13, the kernel log scanned after
# each test, a kmemleak scan at the end on the debug kernel).
#
#   scripts/selftests.sh [test_x.sh ...]
#
# VM_SHARDS=N splits the tests over N VM boots run side by side, each its
# own TAP stream (printed one after the other when all are done, and kept
# in build/vm/shard-N.log) and, on
# the debug kernel, its own kmemleak scan; the run fails if any shard
# does. The default is 1, and 2 with KCONFIG=debug: a debug-kernel VM
# keeps about one host CPU busy (KASAN and lockdep under TCG; a test takes
# 3 to 11 minutes), so on a 2-CPU host two boots take the 23 tests in
# about half the time of one, which fits a working session.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO"

if [ $# -gt 0 ]; then
	tests=("$@")
else
	mapfile -t tests < <(cd selftests && ls -1 test_*.sh)
fi
if [ "$KCONFIG" = debug ]; then shards=${VM_SHARDS:-2}; else shards=${VM_SHARDS:-1}; fi
[[ $shards =~ ^[1-9][0-9]*$ ]] || die "VM_SHARDS must be a positive number"
[ "$shards" -le "${#tests[@]}" ] || shards=${#tests[@]}

if [ "$shards" = 1 ]; then
	exec scripts/vm-exec.sh selftests/run.sh "${tests[@]}"
fi

# Tests dealt out in turn (alphabetical order mixes long and short ones).
declare -a part
for i in "${!tests[@]}"; do
	part[i % shards]+="${tests[i]} "
done
# Each shard's output also stays in build/vm/shard-N.log (to follow a
# long run: tail -f).
logs=build/vm
mkdir -p "$logs"
log "selftests: ${#tests[@]} tests in $shards VM boots side by side"
pids=()
for s in $(seq 0 $((shards - 1))); do
	log "shard $((s + 1)): ${part[s]}"
	# shellcheck disable=SC2086 # the test names are words
	scripts/vm-exec.sh selftests/run.sh ${part[s]} >"$logs/shard-$((s + 1)).log" 2>&1 &
	pids+=($!)
done
rc=0
for s in $(seq 0 $((shards - 1))); do
	wait "${pids[s]}" || rc=1
done
for s in $(seq 0 $((shards - 1))); do
	echo "# === shard $((s + 1)) of $shards: ${part[s]}"
	cat "$logs/shard-$((s + 1)).log"
done
exit "$rc"
