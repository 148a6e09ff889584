#!/usr/bin/env bash
# Cost of one scheduling decision with 1,000 real servers, per scheduler:
# ipvs_core's schedulers against a Rust transcription of upstream Linux
# 6.12's (rust/core/benches/sched.rs, which says what is measured and how).
#
# Prints one table on stdout, header first, one line per scheduler:
#
#   scheduler  ipvs_rs_ns  upstream_ns  ratio
#
# ipvs_rs_ns and upstream_ns are criterion's median time per decision;
# ratio = upstream_ns / ipvs_rs_ns (1.00 or more: ipvs_rs at least as
# fast). Build and criterion output go to stderr. About 45 s on two cores
# (the first run also builds the benchmark and criterion: a minute more).
#
# Extra arguments go to criterion (e.g. --measurement-time 5).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

command -v jq >/dev/null || die "jq is needed (scripts/bootstrap.sh installs it)"

SCHEDULERS=(rr wrr lc wlc sed nq lblc lblcr dh sh mh fo ovf twos)

target=$(cd "$REPO" && cargo metadata --locked --format-version 1 --no-deps | jq -r .target_directory)
# A directory of our own, emptied first: no result of an earlier run (or
# of another benchmark) can end up in the table.
export CRITERION_HOME="$target/criterion-sched"
rm -rf "$CRITERION_HOME"

log "bench-sched: cargo bench -p ipvs_core --bench sched"
(cd "$REPO" && cargo bench --locked -p ipvs_core --bench sched -- "$@") >&2

median() {
	local f="$CRITERION_HOME/$1/$2/new/estimates.json"
	[ -f "$f" ] || die "no estimate for $1/$2 ($f)"
	jq -r '.median.point_estimate' "$f"
}

printf '%-10s %12s %12s %7s\n' scheduler ipvs_rs_ns upstream_ns ratio
for s in "${SCHEDULERS[@]}"; do
	ours=$(median "$s" ipvs_rs)
	theirs=$(median "$s" upstream)
	awk -v s="$s" -v a="$ours" -v b="$theirs" \
		'BEGIN { printf "%-10s %12.2f %12.2f %7.2f\n", s, a, b, b / a }'
done
