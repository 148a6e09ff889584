#!/usr/bin/env bash
# Cost of one scheduling decision with 1,000 real servers, per scheduler:
# ipvs_core's schedulers against a Rust transcription of upstream Linux
# 6.12's (rust/core/benches/sched.rs, which says what is measured and how).
#
# Prints one table on stdout, header first, one line per scheduler:
#
#   scheduler  ipvs_rs_cyc  upstream_cyc  ratio  ipvs_rs_ir  upstream_ir  ir_ratio  ipvs_rs_ns  upstream_ns  ns_ratio
#
# The ratio is deterministic: both sides run under valgrind's callgrind
# (the bench binary's count mode, SCHED_BENCH_COUNT), which counts the
# instructions (ir) of 8,192 decisions from a warm state and simulates the
# caches of a typical x86 core (32 KiB 8-way L1 instruction and data
# caches, an 8 MiB 16-way last level: fixed here, not taken from the
# host). The cost per decision (cyc) is the estimate iai-callgrind and
# KCachegrind use: L1 hits + 5 x last-level hits + 35 x memory accesses.
# ratio = upstream_cyc / ipvs_rs_cyc (1.00 or more: ipvs_rs at least as
# cheap); ir_ratio the same for instructions alone. The same binary and
# inputs give the same counts on any machine, whatever else it runs.
#
# ipvs_rs_ns and upstream_ns are criterion's median time per decision on
# the host, for information: at a few ns they swing with the host's load
# (the same code measured 0.7x to 1.4x between rounds on this 2-core VM).
# BENCH_SCHED_ROUNDS rounds (default 1; 0 skips them): in a round each
# scheduler's two sides run back to back (one cargo bench each scheduler),
# upstream first in even rounds; medians over the rounds.
#
# About 4 minutes for the counts on two cores (BENCH_SCHED_JOBS=2
# callgrind runs at a time), 1 minute a criterion round; the first run
# also builds the benchmark and criterion. Extra arguments go to criterion
# (e.g. --measurement-time 5).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

command -v jq >/dev/null || die "jq is needed (scripts/bootstrap.sh installs it)"
command -v valgrind >/dev/null || die "valgrind is needed (scripts/bootstrap.sh installs it)"

SCHEDULERS=(rr wrr lc wlc sed nq lblc lblcr dh sh mh fo ovf twos)

ROUNDS=${BENCH_SCHED_ROUNDS:-1}
JOBS=${BENCH_SCHED_JOBS:-2}

target=$(cd "$REPO" && cargo metadata --locked --format-version 1 --no-deps | jq -r .target_directory)
# Directories of our own, emptied first: no result of an earlier run (or
# of another benchmark) can end up in the table.
base="$target/criterion-sched"
rm -rf "$base"
samples="$base/samples.tsv"
mkdir -p "$base"

log "bench-sched: cargo bench -p ipvs_core --bench sched: callgrind counts, $ROUNDS criterion rounds"
bin=$(cd "$REPO" && cargo bench --locked -p ipvs_core --bench sched --no-run --message-format=json |
	jq -r 'select(.reason == "compiler-artifact" and .target.name == "sched" and .executable != null) | .executable')
[ -x "$bin" ] || die "no benchmark binary (cargo bench --no-run)"

# count SCHEDULER SIDE: one side of one scheduler under callgrind; writes
# "SCHEDULER SIDE ir cycles" (per decision) to $base/count.SCHEDULER.SIDE.
count() {
	local s=$1 side=$2 out="$base/callgrind.$1.$2" ev tot n
	SCHED_BENCH_COUNT=$side SCHED_BENCH_ONLY=$s valgrind -q --tool=callgrind \
		--cache-sim=yes --I1=32768,8,64 --D1=32768,8,64 --LL=8388608,16,64 \
		--collect-atstart=no --toggle-collect='*counted_*' \
		--callgrind-out-file="$out" "$bin" >"$base/count.$s.$side.log" 2>&1 ||
		{ cat "$base/count.$s.$side.log" >&2; return 1; }
	n=$(awk '/decisions counted/ {print $3}' "$base/count.$s.$side.log")
	ev=$(grep '^events:' "$out")
	tot=$(grep '^totals:' "$out")
	awk -v s="$s" -v side="$side" -v n="$n" -v ev="$ev" -v tot="$tot" 'BEGIN {
		k = split(ev, e, " "); split(tot, t, " ")
		for (i = 2; i <= k; i++) v[e[i]] = t[i] + 0
		l1m = v["I1mr"] + v["D1mr"] + v["D1mw"]; llm = v["ILmr"] + v["DLmr"] + v["DLmw"]
		if (n <= 0 || v["Ir"] <= 0) exit 1
		cyc = (v["Ir"] + v["Dr"] + v["Dw"] - l1m) + 5 * (l1m - llm) + 35 * llm
		printf "%s\t%s\t%.1f\t%.1f\n", s, side, v["Ir"] / n, cyc / n
	}' >"$base/count.$s.$side" || { echo "bench-sched: no counts for $s $side" >&2; return 1; }
}
export -f count
export bin base
# shellcheck disable=SC2016 # expanded by the inner bash
printf '%s\n' "${SCHEDULERS[@]}" | awk '{print $1, "ipvs_rs"; print $1, "upstream"}' |
	xargs -P "$JOBS" -n 2 bash -c 'count "$0" "$1"'

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

cat "$base"/count.*.ipvs_rs "$base"/count.*.upstream >"$base/counts.tsv"
: >>"$samples"
printf '%-9s %11s %12s %6s %10s %11s %8s %10s %11s %8s\n' scheduler ipvs_rs_cyc upstream_cyc ratio \
	ipvs_rs_ir upstream_ir ir_ratio ipvs_rs_ns upstream_ns ns_ratio
for s in "${SCHEDULERS[@]}"; do
	awk -F'\t' -v s="$s" '
		function median(a, n,   i, j, t) {
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		FILENAME ~ /counts/ && $1 == s { ir[$2] = $3; cyc[$2] = $4; next }
		FILENAME ~ /samples/ && $1 == s { n++; ours[n] = $3; theirs[n] = $4 }
		END {
			if (!(("ipvs_rs" in cyc) && ("upstream" in cyc))) exit 1
			printf "%-9s %11.0f %12.0f %6.2f %10.0f %11.0f %8.2f", s, cyc["ipvs_rs"], cyc["upstream"], \
				cyc["upstream"] / cyc["ipvs_rs"], ir["ipvs_rs"], ir["upstream"], ir["upstream"] / ir["ipvs_rs"]
			if (n) { a = median(ours, n); b = median(theirs, n); printf " %10.2f %11.2f %8.2f\n", a, b, b / a }
			else printf " %10s %11s %8s\n", "-", "-", "-"
		}' "$base/counts.tsv" "$samples" || die "bench-sched: $s not measured"
done
