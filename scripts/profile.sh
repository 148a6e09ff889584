#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make profile`: where one balancer's packet path spends its time, in
# guest time (QEMU -icount, as `make bench`). Not a test.
#
#   scripts/profile.sh [LB [PATH...]]   # LB: ipvs_rs (default) or upstream
#                                       # PATH: nat dr tun fwd (default nat)
#
# Reports go to build/profile/LB-PATH.txt (perf report by symbol).
# PROFILE_PERF=0: only the rate (guest time, exact to about 1%), no perf.
# PROFILE_PKTS: packets per run (1000000).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO"
lb=${1:-ipvs_rs}
shift || true
paths=("${@:-nat}")
out=build/profile
mkdir -p "$out"
icount_qemu_wrapper "$REPO/$out/qemu"
# The tcp path's client and server (also built by make bench).
cargo build --release --locked -q -p connbench
mkdir -p build/bin
cp target/release/connbench build/bin/
cmd=""
for p in "${paths[@]}"; do
	cmd+="PROFILE_PERF=${PROFILE_PERF:-1} PROFILE_PKTS=${PROFILE_PKTS:-1000000} scripts/profile-guest.sh $out $lb $p; "
done
scripts/vm-exec.sh "$cmd"
