#!/usr/bin/env bash
# Cost of one scheduling decision with 1,000 real servers, per scheduler:
# ipvs_core's schedulers against a Rust transcription of upstream Linux
# 6.12's (rust/core/benches/sched.rs, which says what is measured and how).
#
# Prints one table on stdout, header first, one line per scheduler:
#
#   scheduler  ipvs_rs_ns  upstream_ns  ratio  round_ratios
#
# Measured in BENCH_SCHED_ROUNDS rounds (default 3), as make bench's VM
# rows: in a round each scheduler's two sides run back to back (one
# cargo bench each scheduler), upstream first in even rounds, so a change
# of load on a busy host falls on both sides of a pair. ipvs_rs_ns and
# upstream_ns are the medians over the rounds of criterion's median time
# per decision; ratio = upstream_ns / ipvs_rs_ns (1.00 or more: ipvs_rs at
# least as fast); round_ratios the range of the rounds' own ratios. About
# 1 minute a round on two cores (the first run also builds the benchmark
# and criterion: a minute more).
#
# Extra arguments go to criterion (e.g. --measurement-time 5).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

command -v jq >/dev/null || die "jq is needed (scripts/bootstrap.sh installs it)"

SCHEDULERS=(rr wrr lc wlc sed nq lblc lblcr dh sh mh fo ovf twos)

ROUNDS=${BENCH_SCHED_ROUNDS:-3}

target=$(cd "$REPO" && cargo metadata --locked --format-version 1 --no-deps | jq -r .target_directory)
# Directories of our own, emptied first: no result of an earlier run (or
# of another benchmark) can end up in the table.
base="$target/criterion-sched"
rm -rf "$base"
samples="$base/samples.tsv"
mkdir -p "$base"

log "bench-sched: cargo bench -p ipvs_core --bench sched, $ROUNDS rounds"
(cd "$REPO" && cargo bench --locked -p ipvs_core --bench sched --no-run) >&2

median_of() {
	local f="$CRITERION_HOME/$1/$2/new/estimates.json"
	[ -f "$f" ] || die "no estimate for $1/$2 ($f)"
	jq -r '.median.point_estimate' "$f"
}

for r in $(seq "$ROUNDS"); do
	export CRITERION_HOME="$base/round$r"
	for s in "${SCHEDULERS[@]}"; do
		first=0
		[ $((r % 2)) = 0 ] && first=1
		(cd "$REPO" && SCHED_BENCH_ONLY=$s SCHED_BENCH_UPSTREAM_FIRST=$first \
			cargo bench --locked -q -p ipvs_core --bench sched -- "$@") >&2
		printf '%s\t%s\t%s\t%s\n' "$s" "$r" "$(median_of "$s" ipvs_rs)" "$(median_of "$s" upstream)" >>"$samples"
	done
done

printf '%-10s %12s %12s %7s  %s\n' scheduler ipvs_rs_ns upstream_ns ratio round_ratios
for s in "${SCHEDULERS[@]}"; do
	awk -F'\t' -v s="$s" '
		function median(a, n,   i, j, t) {
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		$1 == s { n++; ours[n] = $3; theirs[n] = $4; q[n] = $4 / $3 }
		END {
			a = median(ours, n); b = median(theirs, n); median(q, n)
			printf "%-10s %12.2f %12.2f %7.2f  %.2f-%.2f\n", s, a, b, b / a, q[1], q[n]
		}' "$samples"
done
