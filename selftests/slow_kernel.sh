# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
# Time limits on slow kernels. Sourced by run.sh and lib.sh.
#
# The debug kernel (make KCONFIG=debug: KASAN, lockdep, kmemleak, debug
# objects) under TCG runs several times slower than the base kernel, and
# the selftests' time limits are tuned for the base one. On a kernel with
# kmemleak, TIMEOUT_SCALE (default 4; 1 elsewhere; set it to override)
# multiplies them: run.sh's per-test limit, wait_for, and — through
# wrappers first on PATH, so they apply inside `ip netns exec` too — the
# durations of `timeout` and of `socat -T`. The Python helpers read
# TIMEOUT_SCALE from the environment. Sleeps that wait for kernel timers
# are not scaled: those timers run on the guest's clock.

if [ "${IPVS_RS_IN_VM:-0}" = 1 ] && ! mountpoint -q /sys/kernel/debug 2>/dev/null; then
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
fi

# Whether the running kernel has kmemleak (the debug kernel).
kmemleak_kernel() { [ -e /sys/kernel/debug/kmemleak ]; }

if [ -z "${TIMEOUT_SCALE:-}" ]; then
	if kmemleak_kernel; then TIMEOUT_SCALE=4; else TIMEOUT_SCALE=1; fi
fi
export TIMEOUT_SCALE

# scaled SECONDS: SECONDS times TIMEOUT_SCALE (a trailing "s" is allowed).
scaled() { awk -v t="${1%s}" -v s="$TIMEOUT_SCALE" 'BEGIN { printf "%g", t * s }'; }

if [ "$TIMEOUT_SCALE" != 1 ] && [ -z "${IPVS_RS_SCALED_BIN:-}" ]; then
	IPVS_RS_SCALED_BIN=$(mktemp -d /tmp/ipvs_rs-scaled.XXXXXX)
	export IPVS_RS_SCALED_BIN
	real_timeout=$(command -v timeout)
	real_socat=$(command -v socat || echo /usr/bin/socat)
	cat >"$IPVS_RS_SCALED_BIN/timeout" <<-EOF2
	#!/bin/bash
	# timeout with its duration multiplied by TIMEOUT_SCALE
	args=()
	while [ \$# -gt 0 ] && [[ \$1 == -* ]]; do args+=("\$1"); shift; done
	if [ \$# -gt 0 ]; then
		args+=("\$(awk -v t="\${1%s}" -v s="\${TIMEOUT_SCALE:-1}" 'BEGIN { printf "%g", t * s }')")
		shift
	fi
	exec $real_timeout "\${args[@]}" "\$@"
	EOF2
	cat >"$IPVS_RS_SCALED_BIN/socat" <<-EOF2
	#!/bin/bash
	# socat with its -T inactivity timeout multiplied by TIMEOUT_SCALE
	args=()
	while [ \$# -gt 0 ]; do
		if [ "\$1" = -T ] && [ \$# -gt 1 ]; then
			args+=(-T "\$(awk -v t="\$2" -v s="\${TIMEOUT_SCALE:-1}" 'BEGIN { printf "%g", t * s }')")
			shift 2
		else
			args+=("\$1")
			shift
		fi
	done
	exec $real_socat "\${args[@]}"
	EOF2
	chmod +x "$IPVS_RS_SCALED_BIN/timeout" "$IPVS_RS_SCALED_BIN/socat"
	export PATH="$IPVS_RS_SCALED_BIN:$PATH"
fi
