#!/usr/bin/env bash
# Install whatever this machine lacks to build and test ipvs_rs. Idempotent:
# a second run checks and returns in about a second.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# Debian packages: kernel source and the toolchain that builds kernel Rust,
# the emulator, and the userspace the tests drive.
APT_PACKAGES=(
	linux-source-6.12 rustc-web rust-web-src rust-web-clippy libclang-dev clang lld llvm
	build-essential flex bison bc libelf-dev libssl-dev cpio kmod xz-utils
	qemu-system-x86 python3-pip
	iproute2 iputils-ping socat ipvsadm keepalived tcpdump python3-scapy
	busybox-static procps psmisc jq udev nftables curl python3 hping3 nginx valgrind
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	log "apt: installing ${missing[*]}"
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# bindgen-cli, pinned, built with the rustup cargo (needs libclang-dev).
if ! "$BINDGEN" --version 2>/dev/null | grep -qx "bindgen $BINDGEN_VERSION"; then
	log "cargo: installing bindgen-cli $BINDGEN_VERSION"
	cargo install --locked --quiet bindgen-cli --version "$BINDGEN_VERSION"
fi

# virtme-ng, pinned, from PyPI.
if ! vng --version 2>/dev/null | grep -q "$VNG_VERSION"; then
	log "pip: installing virtme-ng $VNG_VERSION"
	pip install --quiet --disable-pip-version-check "virtme-ng==$VNG_VERSION" 2>&1 |
		grep -v "Running pip as the 'root' user" || true
fi

# rustfmt and clippy for the host checks (part of the rustup toolchain).
for c in fmt:rustfmt clippy:clippy; do
	if ! cargo "${c%%:*}" --version >/dev/null 2>&1; then
		log "rustup: adding ${c#*:}"
		rustup component add "${c#*:}" >/dev/null 2>&1 || die "cannot install ${c#*:}"
	fi
done

# The kernel's Rust needs Debian's rustc and its library sources.
"$KRUSTC" --print sysroot >/dev/null || die "$KRUSTC not usable"
[ -d "$("$KRUSTC" --print sysroot)/lib/rustlib/src/rust/library/core" ] ||
	die "rust-src for $KRUSTC missing (package rust-web-src)"
