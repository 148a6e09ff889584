#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Run the ipvs_rs selftests (all, or those named as arguments) and print
# TAP 13. Runs as root in the test VM (make selftests / make check).
# After each test the kernel log written during it is scanned; any splat
# fails that test.
set -u
cd "$(dirname "$0")" || exit 1
here=$(pwd)

if [ $# -gt 0 ]; then
	tests=("$@")
else
	mapfile -t tests < <(ls -1 test_*.sh)
fi

timeout_s=${SELFTEST_TIMEOUT:-900}
echo "TAP version 13"
echo "1..${#tests[@]}"
n=0
failed=0
for t in "${tests[@]}"; do
	t=${t##*/}
	n=$((n + 1))
	echo "# selftests: ipvs_rs: $t"
	marker="ipvs_rs-selftest-$n-$RANDOM"
	echo "$marker" >/dev/kmsg
	start=$(date +%s)
	timeout --kill-after=10 "$timeout_s" "$here/$t" 2>&1 | sed 's/^/# /;s/^# #/#/'
	rc=${PIPESTATUS[0]}
	secs=$(($(date +%s) - start))
	splats=$(dmesg | sed -n "/$marker/,\$p" | "$here/../scripts/dmesg-splats.sh")
	if [ -n "$splats" ]; then
		echo "# kernel log splat during $t:"
		echo "$splats" | sed 's/^/#   /'
		dmesg | sed -n "/$marker/,\$p" | tail -n 60 | sed 's/^/#   /'
		rc=1
	fi
	case $rc in
	0) echo "ok $n selftests: ipvs_rs: $t # ${secs}s" ;;
	4) echo "ok $n selftests: ipvs_rs: $t # SKIP" ;;
	124) echo "not ok $n selftests: ipvs_rs: $t # TIMEOUT ${timeout_s}s"; failed=$((failed + 1)) ;;
	*) echo "not ok $n selftests: ipvs_rs: $t # exit=$rc"; failed=$((failed + 1)) ;;
	esac
done
echo "# $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
