#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The SYNPROXY benchmark rows (scripts/bench-synproxy-guest.sh) in one VM
# boot; results in build/bench-synproxy/RESULTS.md. Separate from
# scripts/bench.sh for now; like it, the guest clock is driven by the
# instruction count under TCG (BENCH_ICOUNT=1, the default), so rates are
# per second of guest time whatever else runs on the host.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO"
make -s build
cargo build --release --locked -q -p connbench
cp target/release/connbench build/bin/
out=build/bench-synproxy
rm -rf "$out"
mkdir -p "$out/qemu"
if [ "${BENCH_ICOUNT:-1}" = 1 ]; then
	qemu=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 not found"
	cat >"$out/qemu/qemu-system-x86_64" <<-EOF2
	#!/bin/sh
	case " \$* " in
	*kvm* | *" --version "* | *" -version "*) exec "$qemu" "\$@" ;;
	esac
	exec "$qemu" -icount shift=0,sleep=off "\$@"
	EOF2
	chmod +x "$out/qemu/qemu-system-x86_64"
	export PATH="$REPO/$out/qemu:$PATH"
fi
benv=$(env | grep -E '^BENCH_(ROUNDS|FLOOD_SECONDS|TCP_SECONDS)=[0-9]+$' | tr '\n' ' ' || true)
scripts/vm-exec.sh "$benv scripts/bench-synproxy-guest.sh $out"
