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

# shellcheck source=selftests/slow_kernel.sh
source "$here/slow_kernel.sh"
timeout_s=$(scaled "${SELFTEST_TIMEOUT:-900}")
timeout_s=${timeout_s%.*}

# On the debug kernel, a kmemleak scan after the tests is one more test
# point: suspects left from boot are cleared first.
leakcheck=0
if kmemleak_kernel && [ -w /sys/kernel/debug/kmemleak ]; then
	leakcheck=1
	echo scan >/sys/kernel/debug/kmemleak
	echo clear >/sys/kernel/debug/kmemleak
fi

echo "TAP version 13"
echo "1..$((${#tests[@]} + leakcheck))"
[ "$TIMEOUT_SCALE" = 1 ] || echo "# slow kernel: time limits x$TIMEOUT_SCALE"
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
if [ "$leakcheck" = 1 ]; then
	n=$((n + 1))
	# Objects are reported once unreferenced for 5 s; two scans, as
	# Documentation/dev-tools/kmemleak.rst advises.
	sleep 6
	echo scan >/sys/kernel/debug/kmemleak
	echo scan >/sys/kernel/debug/kmemleak
	leaks=$(cat /sys/kernel/debug/kmemleak)
	if [ -z "$leaks" ]; then
		echo "ok $n kmemleak: no suspected leaks"
	else
		echo "# kmemleak: $(grep -c '^unreferenced object' <<<"$leaks") suspected leaks:"
		head -n 80 <<<"$leaks" | sed 's/^/#   /'
		echo "not ok $n kmemleak: suspected leaks"
		failed=$((failed + 1))
	fi
fi
echo "# $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
