#!/usr/bin/env bash
# Build (or reuse from the cache) the test kernel: Debian's linux-source-6.12,
# `allnoconfig` plus the fragments in kernel/config/, Rust enabled.
# Prints the kernel tree's path on stdout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -f "$KERNEL_TARBALL" ] || die "$KERNEL_TARBALL missing: run scripts/bootstrap.sh"
[ -x "$BINDGEN" ] || die "$BINDGEN missing: run scripts/bootstrap.sh"

kdir=$(kernel_dir)
# One build at a time per cache: a second caller (two makes at once) waits
# for the first and then finds its result, instead of deleting the tree
# under it.
mkdir -p "$IPVS_RS_CACHE/kernel"
exec 9>"$IPVS_RS_CACHE/kernel/.lock"
flock 9
if [ -f "$kdir/.ipvs_rs-complete" ]; then
	echo "$kdir/linux"
	exit 0
fi

log "building kernel into $kdir (cache miss; ~9 minutes on 2 cores)"
rm -rf "$kdir"
mkdir -p "$kdir"
tar -xJf "$KERNEL_TARBALL" -C "$kdir"
mv "$kdir/linux-source-$KERNEL_SERIES" "$kdir/linux"
cd "$kdir/linux"

# Merge the fragments; KCONFIG_ALLCONFIG forces them onto allnoconfig.
for f in $(kernel_fragments); do cat "$f"; done >"$kdir/fragments.config"
# shellcheck disable=SC2046
make -s $(kbuild_args) KCONFIG_ALLCONFIG="$kdir/fragments.config" allnoconfig

# Every option asked for must be in the result, or the config silently
# lost something (a missing dependency, a renamed symbol).
missing=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=n) opt=${line%%=*}; want="# $opt is not set" ;;
	CONFIG_*) want=$line ;;
	"# CONFIG_"*" is not set") want=$line ;;
	*) continue ;;
	esac
	if ! grep -qxF -- "$want" .config; then
		# "is not set" may also be satisfied by the option being absent.
		case "$want" in
		"# "*) opt=${want#\# }; opt=${opt%% *}
			grep -q "^$opt=" .config || continue ;;
		esac
		echo "config: wanted '$want', got '$(grep -E "(^|# )${want#\# }" .config | head -n1)'" >&2
		missing=1
	fi
done <"$kdir/fragments.config"
[ "$missing" = 0 ] || die "kernel config does not match kernel/config fragments"

start=$(date +%s)
# shellcheck disable=SC2046
make -j"$(($(nproc) + 1))" $(kbuild_args) bzImage modules >"$kdir/build.log" 2>&1 ||
	{ tail -n 40 "$kdir/build.log" >&2; die "kernel build failed (log: $kdir/build.log)"; }
# virtme-ng finds the modules of a kernel tree by running modules_install
# into .virtme_mods; do it once here so the cache holds it.
make -s $(kbuild_args) INSTALL_MOD_PATH="$kdir/linux/.virtme_mods" modules_install >>"$kdir/build.log" 2>&1
echo "$(($(date +%s) - start))" >"$kdir/build-seconds"
touch "$kdir/.ipvs_rs-complete"

# Keep the cache bounded: the two newest builds of this KCONFIG stay.
# shellcheck disable=SC2012
ls -1dt "$IPVS_RS_CACHE/kernel/$KERNEL_SERIES-$KCONFIG-"* 2>/dev/null | tail -n +3 |
	while read -r old; do log "pruning old kernel build $old"; rm -rf "$old"; done
log "kernel built in $(cat "$kdir/build-seconds") s"
echo "$kdir/linux"
