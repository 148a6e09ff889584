#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The control plane under fuzzing (tools/genlfuzz), both generic netlink
# families (IPVS and IPVS_RS), every command:
#  1. FUZZ_MSGS random, mostly mutated requests (wrong types, truncated and
#     oversized attributes, garbage nests, out-of-range values, unknown
#     commands and attributes, bad headers and lengths, dumps with garbage)
#     in namespace A, from root: every request answered, errors are the
#     control plane's errnos with an extended ack naming the cause; the
#     accepted ones are recorded.
#  2. Unprivileged callers (uid nobody; and root of a user namespace that
#     does not own A's network namespace) send FUZZ_MSGS/10 requests each
#     to A: every request reaching a command gets EPERM, none gets data,
#     A's table does not change.
#  3. After each of four rounds of 1., the requests A accepted, replayed in
#     namespace B, are all accepted again, and B's table equals A's
#     (ipvsadm -S -n, ipvsadm --timeout, ipvsctl save, ipvsctl laddr list,
#     genlfuzz table): the rejected requests changed nothing.
#  4. In namespace C, FUZZ_MSGS/4 structured requests: valid ones applied
#     to a model, known-invalid ones that must be rejected (with upstream's
#     errno) in between; the kernel's table must equal the model's every
#     100 requests and at the end.
#  5. Concurrently in namespace D: two privileged fuzzers, an unprivileged
#     one and table reads; then D is deleted with its table full.
# The seed is printed; FUZZ_SEED=<seed> sends the same requests again
# (the concurrent part interleaves differently each time).
# Kernel splats fail the test (run.sh); kmemleak is scanned by run.sh at
# the end of the run on the debug kernel.
source "$(dirname "$0")/lib.sh"
require_root
require_cmd genlfuzz ipvsadm ipvsctl setpriv unshare

# Fewer by default on slow (debug) kernels: TIMEOUT_SCALE times fewer.
scale=${TIMEOUT_SCALE%.*}
MSGS=${FUZZ_MSGS:-$((14000 / (${scale:-1} > 1 ? ${scale:-1} : 1)))}
SEED=${FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
log_info "seed $SEED (FUZZ_SEED=$SEED reproduces), FUZZ_MSGS=$MSGS"

load_ipvs_rs || { echo "# cannot load ipvs_rs"; exit $ksft_fail; }
setup_ns A B C || exit $ksft_fail
work=$(mktemp -d)
trap 'rm -rf "$work"; cleanup' EXIT

# Everything a namespace's table shows, as the tools print it.
tables() {
	local ns=$1
	ip netns exec "$ns" ipvsadm -S -n
	ip netns exec "$ns" ipvsadm -L -n --timeout
	ip netns exec "$ns" ipvsctl save
	ip netns exec "$ns" ipvsctl laddr list
	ip netns exec "$ns" genlfuzz table || echo "TABLE READ FAILED in $ns"
}

t0=$(date +%s)
# Four rounds: fuzz A, replay what A accepted in B, compare A and B.
rounds=4
sent=0 acc=0 rej=0 ok=1
for k in $(seq "$rounds"); do
	out=$(ip netns exec "$A" genlfuzz fuzz --seed "$((SEED + k))" --count "$((MSGS / rounds))" --record "$work/rec$k" 2>&1)
	rc=$?
	echo "$out" | sed 's/^/# /'
	[ "$rc" = 0 ] || { ok=0; check_fail "round $k: privileged fuzzing checks"; }
	read -r s a r <<<"$(sed -n 's/.* sent \([0-9]*\) accepted \([0-9]*\) rejected \([0-9]*\).*/\1 \2 \3/p' <<<"$out")"
	sent=$((sent + ${s:-0})) acc=$((acc + ${a:-0})) rej=$((rej + ${r:-0}))
	out=$(ip netns exec "$B" genlfuzz replay "$work/rec$k" 2>&1)
	rc=$?
	echo "$out" | sed 's/^/# /'
	[ "$rc" = 0 ] || { ok=0; check_fail "round $k: a request accepted in A was refused on replay in B"; }
	tables "$A" >"$work/a"
	tables "$B" >"$work/b"
	if grep -q "TABLE READ FAILED" "$work/a" "$work/b"; then
		ok=0
		check_fail "round $k: a namespace's table could not be read"
	elif cmp -s "$work/a" "$work/b"; then
		log_info "round $k: tables equal ($(grep -c '^-[Aa] ' "$work/a") service and real server lines)"
	else
		ok=0
		check_fail "round $k: the table differs from what the accepted requests alone produce"
		diff "$work/a" "$work/b" | head -n 40 | sed 's/^/#   /'
	fi
done
[ "$ok" = 1 ] && check_ok "privileged fuzzing: every check held; replaying the accepted requests gives the same table, $rounds times"
log_info "privileged: sent $sent accepted $acc rejected $rej"
check_eq "privileged fuzzing sent all requests" "$(((MSGS / rounds) * rounds))" "$sent"
check "some requests were accepted" [ "$acc" -gt 0 ]
check "some requests were rejected" [ "$rej" -gt 0 ]

nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
unpriv=$((MSGS / 10))
out=$(ip netns exec "$A" "${nobody[@]}" genlfuzz fuzz --unpriv --seed "$((SEED + 11))" --count "$unpriv" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
check_eq "uid nobody: every command refused with EPERM" 0 "$rc"
out=$(ip netns exec "$A" "${nobody[@]}" unshare -U -r genlfuzz fuzz --unpriv --seed "$((SEED + 12))" --count "$unpriv" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
check_eq "root of a user namespace not owning the netns: every command refused with EPERM" 0 "$rc"
tables "$A" >"$work/a2"
check "unprivileged requests changed nothing" cmp -s "$work/a" "$work/a2"

out=$(ip netns exec "$C" genlfuzz model --seed "$SEED" --count "$((MSGS / 4))" --check-every 100 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
check_eq "structured requests: the table always equals the model's" 0 "$rc"

# Concurrent callers (the families run handlers in parallel): two
# privileged fuzzers, an unprivileged one and a table reader at once in
# namespace D; then D is deleted with its table full. No splat (run.sh),
# every check of each fuzzer holds, the table reads back consistent.
setup_ns D || exit $ksft_fail
par=$((MSGS / 8))
for k in 1 2; do
	ip netns exec "$D" genlfuzz fuzz --seed "$((SEED + 20 + k))" --count "$par" >"$work/par$k" 2>&1 &
done
ip netns exec "$D" "${nobody[@]}" genlfuzz fuzz --unpriv --seed "$((SEED + 23))" --count "$par" >"$work/par3" 2>&1 &
readers=0
for _ in $(seq 20); do
	ip netns exec "$D" genlfuzz table >/dev/null 2>&1 && readers=$((readers + 1))
done
par_ok=1
for k in 1 2 3; do
	wait -n || par_ok=0
done
sed -n 's/^\(genlfuzz fuzz: sent.*\)/# concurrent: \1/p; /FAIL/s/^/# /p' "$work"/par[123]
check_eq "concurrent fuzzers: every check held" 1 "$par_ok"
check "the table reads back consistent after concurrent fuzzing" bash -c "ip netns exec $D genlfuzz table >/dev/null"
log_info "concurrent: $readers of 20 table reads during the fuzzing were consistent"
ip netns del "$D"

log_info "$((sent + 2 * unpriv + MSGS / 4 + 3 * par)) requests in $(($(date +%s) - t0)) s"
exit_test
