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
#  3. The recorded requests replayed in a fresh namespace B are all
#     accepted again, and B's table equals A's (ipvsadm -S -n, ipvsadm
#     --timeout, ipvsctl save, ipvsctl laddr list, genlfuzz table): the
#     rejected requests changed nothing.
#  4. In namespace C, FUZZ_MSGS/4 structured requests: valid ones applied
#     to a model, known-invalid ones that must be rejected (with upstream's
#     errno) in between; the kernel's table must equal the model's every
#     250 requests and at the end.
# The seed is printed; FUZZ_SEED=<seed> sends the same requests again.
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
	ip netns exec "$ns" genlfuzz table
}

t0=$(date +%s)
out=$(ip netns exec "$A" genlfuzz fuzz --seed "$SEED" --count "$MSGS" --record "$work/rec" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
check_eq "privileged fuzzing: every check held" 0 "$rc"
sent=$(sed -n 's/.* sent \([0-9]*\) accepted \([0-9]*\) rejected \([0-9]*\).*/\1 \2 \3/p' <<<"$out")
read -r n_sent n_acc n_rej <<<"$sent"
check_eq "privileged fuzzing sent all requests" "$MSGS" "${n_sent:-0}"
check "some requests were accepted" [ "${n_acc:-0}" -gt 0 ]
check "some requests were rejected" [ "${n_rej:-0}" -gt 0 ]
tables "$A" >"$work/a"
check "namespace A has services after fuzzing (or was just flushed)" [ -s "$work/a" ]

nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
unpriv=$((MSGS / 10))
out=$(ip netns exec "$A" "${nobody[@]}" genlfuzz fuzz --unpriv --seed "$((SEED + 1))" --count "$unpriv" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
check_eq "uid nobody: every command refused with EPERM" 0 "$rc"
out=$(ip netns exec "$A" "${nobody[@]}" unshare -U -r genlfuzz fuzz --unpriv --seed "$((SEED + 2))" --count "$unpriv" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
check_eq "root of a user namespace not owning the netns: every command refused with EPERM" 0 "$rc"
tables "$A" >"$work/a2"
check "unprivileged requests changed nothing" cmp -s "$work/a" "$work/a2"

out=$(ip netns exec "$B" genlfuzz replay "$work/rec" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
check_eq "replay: every accepted request is accepted again" 0 "$rc"
tables "$B" >"$work/b"
if cmp -s "$work/a" "$work/b"; then
	check_ok "the table equals what the accepted requests alone produce ($(grep -c . "$work/a") lines)"
else
	check_fail "the table differs from what the accepted requests alone produce"
	diff "$work/a" "$work/b" | head -n 40 | sed 's/^/#   /'
fi

out=$(ip netns exec "$C" genlfuzz model --seed "$SEED" --count "$((MSGS / 4))" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
check_eq "structured requests: the table always equals the model's" 0 "$rc"

log_info "$((MSGS + 2 * unpriv + MSGS / 4)) requests in $(($(date +%s) - t0)) s"
exit_test
