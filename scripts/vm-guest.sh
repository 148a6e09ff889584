#!/usr/bin/env bash
# Guest side of vm-exec.sh: run the command in $1/cmd, store its exit status
# in $1/rc and the kernel log in $1/dmesg. Runs as root inside the VM.
run=$1
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo" || exit 1
export PATH="$repo/build/bin:/usr/local/sbin:/usr/sbin:/sbin:$PATH"
export IPVS_RS_IN_VM=1
live=
if [ -f "$run/stream-dmesg" ]; then
	dmesg -w >"$(cat "$run/stream-dmesg")" 2>/dev/null &
	live=$!
fi
bash -c "$(cat "$run/cmd")"
rc=$?
[ -z "$live" ] || kill "$live" 2>/dev/null
dmesg >"$run/dmesg" 2>/dev/null
echo "$rc" >"$run/rc"
sync
exit "$rc"
