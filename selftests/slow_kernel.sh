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
# durations of `timeout` and of socat's -T and -t (its 0.5 s default
# too). The Python helpers read TIMEOUT_SCALE from the environment.
# Sleeps that wait for kernel timers are not scaled: those timers run on
# the guest's clock.

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
	# socat with its -T inactivity timeout and its -t close timeout (how
	# long it waits for the other side after EOF; default 0.5 s)
	# multiplied by TIMEOUT_SCALE
	scale() { awk -v t="\$1" -v s="\${TIMEOUT_SCALE:-1}" 'BEGIN { printf "%g", t * s }'; }
	args=()
	close=0.5
	while [ \$# -gt 0 ]; do
		case "\$1" in
		-T) [ \$# -gt 1 ] && { args+=(-T "\$(scale "\$2")"); shift 2; continue; } ;;
		-t) [ \$# -gt 1 ] && { close=\$2; shift 2; continue; } ;;
		esac
		args+=("\$1")
		shift
	done
	exec $real_socat -t "\$(scale "\$close")" "\${args[@]}"
	EOF2
	chmod +x "$IPVS_RS_SCALED_BIN/timeout" "$IPVS_RS_SCALED_BIN/socat"
	export PATH="$IPVS_RS_SCALED_BIN:$PATH"
fi
