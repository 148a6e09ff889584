#!/usr/bin/env bash
# Run a shell command as root in the test VM and exit with its status.
#
#   scripts/vm-exec.sh 'ipvsadm -L -n'
#   scripts/vm-exec.sh            # no command: interactive shell
#
# The guest is the cached test kernel under QEMU (virtme-ng), sharing the
# host's root filesystem copy-on-write, with the repository writable and as
# the working directory, build/bin (ipvsctl) on PATH and the modules at
# build/ipvs_rs.ko and build/toa_rs.ko. The command's exit status travels
# back through a file in build/vm/, because virtme-ng's console fallback
# does not propagate it. After the command, the kernel log is scanned: any
# splat (WARNING, BUG, Oops, KASAN, lockdep, RCU stall) fails the run.
#
# Environment: VM_KVM=auto|0|1 (default auto: KVM only if a probe boot
# works), VM_CPUS (2), VM_MEMORY (2G), VM_TIMEOUT seconds (3600; 14400 with
# KCONFIG=debug),
# VM_KERNEL_ARGS (extra kernel command-line options),
# VM_ALLOW_SPLAT=1 to report splats without failing, VM_STREAM_DMESG=1 to
# have the guest stream its kernel log into build/vm/live-dmesg.log while the
# command runs (to read a stuck VM; off by default because every kernel
# message then becomes a 9p write, which under a packet flood and -icount
# can stall the writing vCPU long enough for an RCU stall report).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kdir=$("$REPO/scripts/kernel-build.sh")
[ -f "$kdir/arch/x86/boot/bzImage" ] || die "no kernel image in $kdir"

VM_CPUS=${VM_CPUS:-2}
VM_MEMORY=${VM_MEMORY:-2G}
# The debug kernel runs several times slower (selftests/slow_kernel.sh).
if [ "$KCONFIG" = debug ]; then VM_TIMEOUT=${VM_TIMEOUT:-14400}; else VM_TIMEOUT=${VM_TIMEOUT:-3600}; fi
VM_KVM=${VM_KVM:-auto}

vng_base=(vng -r "$kdir" --user root --cpus "$VM_CPUS" --memory "$VM_MEMORY"
	--rwdir "$REPO")
# Extra kernel command-line options (VM_KERNEL_ARGS, space-separated).
for a in ${VM_KERNEL_ARGS:-}; do vng_base+=(--append "$a"); done

# KVM hangs at boot on some hosts of this kind; probe once per kernel build.
kvm_probe() {
	local stamp="$kdir/../kvm-probe"
	if [ ! -f "$stamp" ]; then
		local ok=0
		if [ -w /dev/kvm ] &&
			timeout 60 "${vng_base[@]}" -e true </dev/null >/dev/null 2>&1; then
			ok=1
		fi
		echo "$ok" >"$stamp"
	fi
	[ "$(cat "$stamp")" = 1 ]
}
case "$VM_KVM" in
1) accel=() ;;
0) accel=(--disable-kvm) ;;
auto) if kvm_probe; then accel=(); else accel=(--disable-kvm); fi ;;
*) die "VM_KVM must be auto, 0 or 1" ;;
esac

mkdir -p "$REPO/build/vm"
run=$(mktemp -d "$REPO/build/vm/run.XXXXXX")
trap 'rm -rf "$run"' EXIT

if [ $# -eq 0 ]; then
	# Interactive: no status to carry back.
	exec "${vng_base[@]}" "${accel[@]}" --cwd "$REPO"
fi

printf '%s\n' "$*" >"$run/cmd"
if [ "${VM_STREAM_DMESG:-0}" = 1 ]; then
	: >"$REPO/build/vm/live-dmesg.log"
	echo "$REPO/build/vm/live-dmesg.log" >"$run/stream-dmesg"
fi
set +e
timeout --foreground "$VM_TIMEOUT" "${vng_base[@]}" "${accel[@]}" --cwd "$REPO" \
	-e "$REPO/scripts/vm-guest.sh $run" </dev/null
vng_rc=$?
set -e

if [ ! -f "$run/rc" ]; then
	[ "$vng_rc" = 124 ] && echo "vm-exec: timed out after ${VM_TIMEOUT}s" >&2
	echo "vm-exec: the guest did not report an exit status (vng exit $vng_rc); kernel log:" >&2
	tail -n 50 "$run/dmesg" 2>/dev/null >&2 ||
		tail -n 50 "$REPO/build/vm/live-dmesg.log" 2>/dev/null >&2 || true
	exit 125
fi
rc=$(cat "$run/rc")

if [ -f "$run/dmesg" ]; then
	cp "$run/dmesg" "$REPO/build/vm/last-dmesg.log"
	if splats=$("$REPO/scripts/dmesg-splats.sh" <"$run/dmesg"); then
		echo "vm-exec: kernel log has splats (full log: build/vm/last-dmesg.log):" >&2
		echo "$splats" >&2
		[ "${VM_ALLOW_SPLAT:-0}" = 1 ] || [ "$rc" != 0 ] || rc=1
	fi
fi
exit "$rc"
