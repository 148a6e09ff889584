# shellcheck shell=bash
# Common settings for the build and test scripts. Source it; do not run it.
#
# Everything that identifies a toolchain or a cache lives here, so the
# kernel build, the module build and the VM runner agree on it.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Pinned tools (see README "Toolchain").
BINDGEN_VERSION=0.72.1
VNG_VERSION=1.42
KERNEL_SERIES=6.12
KERNEL_TARBALL=/usr/src/linux-source-${KERNEL_SERIES}.tar.xz

# The kernel must be built with Debian's rustc (it ships rust-src); the
# rustup toolchain on PATH cannot build kernel Rust. Every module build
# must use the very same rustc, or it cannot read the kernel's crates.
KRUSTC=${KRUSTC:-/usr/bin/rustc}
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
BINDGEN=${BINDGEN:-$CARGO_HOME/bin/bindgen}
export PATH="$CARGO_HOME/bin:$HOME/.local/bin:$PATH"

# Kernel build cache: outside the work tree, survives clones.
IPVS_RS_CACHE=${IPVS_RS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipvs_rs}

# KCONFIG=debug adds kernel/config/debug.config on top of base.config.
KCONFIG=${KCONFIG:-base}

die() { echo "error: $*" >&2; exit 1; }
log() { echo ">>> $*" >&2; }

# Fragments applied for the selected KCONFIG, in order.
kernel_fragments() {
	echo "$REPO/kernel/config/base.config"
	case "$KCONFIG" in
	base) ;;
	debug) echo "$REPO/kernel/config/debug.config" ;;
	*) die "unknown KCONFIG=$KCONFIG (base or debug)" ;;
	esac
}

# Bump when the way the kernel is built changes in a way the inputs below
# do not capture.
KERNEL_RECIPE=1

# The cache key: kernel source version, config fragments, toolchain versions.
kernel_key() {
	{
		echo "recipe $KERNEL_RECIPE"
		dpkg-query -W -f='${Version}\n' "linux-source-$KERNEL_SERIES"
		for f in $(kernel_fragments); do cat "$f"; done
		"$KRUSTC" --version
		"$BINDGEN" --version
		if [ "$KCONFIG" = debug ]; then clang --version | head -n1; else gcc --version | head -n1; fi
	} | sha256sum | cut -c1-16
}

kernel_dir() {
	echo "$IPVS_RS_CACHE/kernel/$KERNEL_SERIES-$KCONFIG-$(kernel_key)"
}

# Arguments every kbuild invocation (kernel and modules) must share.
# The debug kernel is built with clang (LLVM=1): Rust and KASAN together
# need it (init/Kconfig: RUST depends on !KASAN || CC_IS_CLANG).
kbuild_args() {
	echo "RUSTC=$KRUSTC BINDGEN=$BINDGEN HOSTRUSTC=$KRUSTC"
	[ "$KCONFIG" != debug ] || echo "LLVM=1"
}

# icount_qemu_wrapper DIR: put a qemu-system-x86_64 wrapper in DIR, first
# on PATH, that runs TCG guests with the guest clock driven by their
# instruction count (-icount shift=0: one instruction a nanosecond;
# sleep=off: idle time is skipped). Rates measured inside are then per
# second of guest time and do not depend on what else the host runs.
# KVM runs are left alone (icount needs TCG).
icount_qemu_wrapper() {
	local dir=$1 qemu
	qemu=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 not found"
	mkdir -p "$dir"
	cat >"$dir/qemu-system-x86_64" <<-EOF2
	#!/bin/sh
	case " \$* " in
	*kvm* | *" --version "* | *" -version "*) exec "$qemu" "\$@" ;;
	esac
	echo "\$*" >"$dir/icount-used"
	exec "$qemu" -icount shift=0,sleep=off "\$@"
	EOF2
	chmod +x "$dir/qemu-system-x86_64"
	export PATH="$dir:$PATH"
}
