#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# ipvsctl's FULLNAT control plane (ipvs_rs's IPVS_RS family): FULLNAT real
# servers, a local address pool and TOA are configured and shown by
# service list, laddr list and stats (text and JSON); stock ipvsadm still
# lists the table; save | flush; restore rebuilds it identically; bad
# requests are named and change nothing; with upstream ip_vs instead, plain
# commands work and the extensions are refused by name. No traffic: the
# data path is test_fullnat.sh's.
source "$(dirname "$0")/lib.sh"
require_root
require_cmd ipvsctl ipvsadm jq genl
unload_all
load_ipvs_rs || { echo "# cannot load ipvs_rs"; exit $ksft_fail; }

V=10.0.1.100
run_ok() { check "$*" "$@"; }
# The whole table, pools included (without the IPVS_RS family: the rules).
snapshot() { ipvsctl save; ipvsctl laddr list 2>/dev/null; }
# fails "description" expected-regex command...: exit status 1, one line on
# stderr matching the regex, nothing on stdout, and the table unchanged.
fails() {
	local what=$1 re=$2 out err rc before
	shift 2
	before=$(snapshot)
	out=$("$@" 2>/tmp/ipvsctl-fullnat.err)
	rc=$?
	err=$(cat /tmp/ipvsctl-fullnat.err)
	check_eq "$what: exit status 1" 1 "$rc"
	check_eq "$what: nothing on stdout" "" "$out"
	check_eq "$what: one line on stderr" 1 "$(wc -l <<<"$err")"
	check_match "$what: message" "$re" "$err"
	check_eq "$what: nothing changed" "$before" "$(snapshot)"
}

check "the IPVS_RS family is registered" genl_family_exists IPVS_RS

run_ok ipvsctl service add tcp $V:80 -s rr --toa
run_ok ipvsctl laddr add tcp $V:80 10.0.5.2
run_ok ipvsctl laddr add tcp $V:80 10.0.5.1
run_ok ipvsctl dest add tcp $V:80 10.0.2.11:8080 --fwd fullnat
run_ok ipvsctl dest add tcp $V:80 10.0.2.12:8080 --fullnat -w 2
run_ok ipvsctl service add udp $V:53 -s wlc
run_ok ipvsctl dest add udp $V:53 10.0.2.11:53 --fwd nat

# Text listings.
list=$(ipvsctl service list)
check_match "service list: toa and the pool size" "TCP  $V:80 rr toa laddrs 2" "$list"
check_match "service list: FULLNAT real server" "-> 10.0.2.11:8080 +FullNat 1 " "$list"
check_match "service list: its weight" "-> 10.0.2.12:8080 +FullNat 2 " "$list"
check_match "service list: the plain service has no flags" $'\n'"UDP  $V:53 wlc"$'\n' "$list"
expect="Prot LocalAddress:Port
  -> LocalAddress                 InUseConn  Exhausted
TCP  $V:80
  -> 10.0.5.1                     0          0
  -> 10.0.5.2                     0          0"
check_eq "laddr list (one service)" "$expect" "$(ipvsctl laddr list tcp $V:80)"
check_eq "laddr list (all: only services with a pool)" "$expect" "$(ipvsctl laddr ls)"
stats=$(ipvsctl stats)
check_match "stats: the extension counters" "TOAWritten TOASkipped +Exhausted" "$stats"
check_match "stats: the service's counters" $'\n'"TCP  $V:80 +0 +0 +0"$'\n' "$stats"
check_match "stats: a local address's counters" "-> 10.0.5.1 +0 +0" "$stats"

# JSON.
json=$(ipvsctl --json service list)
check_eq "service list --json: TCP service" \
	'[true,["10.0.5.1","10.0.5.2"],["fullnat","fullnat"]]' \
	"$(jq -c '.services[] | select(.protocol == "tcp") | [.toa, [.laddrs[].address], [.dests[].forward]]' <<<"$json")"
check_eq "service list --json: UDP service" '[false,[],["masq"]]' \
	"$(jq -c '.services[] | select(.protocol == "udp") | [.toa, .laddrs, [.dests[].forward]]' <<<"$json")"
check_eq "laddr list --json" \
	'{"services":[{"protocol":"tcp","family":"ipv4","address":"10.0.1.100","port":80,"fwmark":null,"laddrs":[{"address":"10.0.5.1","family":"ipv4","conns":0,"exhausted":0},{"address":"10.0.5.2","family":"ipv4","conns":0,"exhausted":0}]}]}' \
	"$(ipvsctl --json laddr list)"
check_eq "stats --json: ext_stats" '{"toa_written":0,"toa_skipped":0,"fnat_exhausted":0,"synproxy_cookies_sent":0,"synproxy_ack_valid":0,"synproxy_ack_bad":0,"synproxy_syn_retrans":0,"synproxy_ack_storm":0,"synproxy_held_drops":0,"proxy_sent":0,"proxy_resent":0}' \
	"$(ipvsctl --json stats tcp $V:80 | jq -c '.services[0].ext_stats')"

# Stock ipvsadm still lists the service and its real servers.
out=$(ipvsadm -L -n 2>&1)
check_eq "ipvsadm -L -n succeeds" 0 "$?"
check_match "ipvsadm -L -n: the service" "TCP  $V:80 rr" "$out"
check_match "ipvsadm -L -n: first FULLNAT real server" "-> 10.0.2.11:8080 " "$out"
check_match "ipvsadm -L -n: second FULLNAT real server" "-> 10.0.2.12:8080 " "$out"
check_match "ipvsadm -L -n: the plain service" "-> 10.0.2.11:53 +Masq" "$out"

# TOA off and on again; a local address removed and added again.
run_ok ipvsctl service edit tcp $V:80 --no-toa
check_eq "--no-toa" false "$(ipvsctl --json service list tcp $V:80 | jq '.services[0].toa')"
run_ok ipvsctl service edit tcp $V:80 --toa -s wlc
check_eq "--toa with another option" '[true,"wlc"]' \
	"$(ipvsctl --json service list tcp $V:80 | jq -c '.services[0] | [.toa, .scheduler]')"
run_ok ipvsctl service edit tcp $V:80 -s rr
run_ok ipvsctl laddr del tcp $V:80 10.0.5.2
check_eq "laddr del" '["10.0.5.1"]' "$(ipvsctl --json laddr list | jq -c '[.services[0].laddrs[].address]')"
run_ok ipvsctl laddr add tcp $V:80 10.0.5.2

# save | flush; restore.
saved=$(ipvsctl save)
expect_saved="-A -t $V:80 -s rr --toa
-P -t $V:80 -z 10.0.5.1
-P -t $V:80 -z 10.0.5.2
-a -t $V:80 -r 10.0.2.11:8080 --fullnat -w 1
-a -t $V:80 -r 10.0.2.12:8080 --fullnat -w 2
-A -u $V:53 -s wlc
-a -u $V:53 -r 10.0.2.11:53 -m -w 1"
check_eq "save: ipvsadm's lines plus the extensions" "$expect_saved" "$saved"
check_eq "save without the extensions is ipvsadm -S -n's" \
	"$(ipvsadm -S -n | grep -v -- "-r 10.0.2.1[12]:8080")" \
	"$(grep -v -- '^-P\|--fullnat' <<<"$saved" | sed 's/ --toa$//')"
run_ok ipvsctl flush
check_eq "flush empties the table" "" "$(ipvsctl save)"
check_eq "flush drops the pools" "$(head -n2 <<<"$expect")" "$(ipvsctl laddr list)"
ipvsctl restore <<<"$saved"
check_eq "restore succeeds" 0 "$?"
check_eq "save | flush; restore: identical rules" "$saved" "$(ipvsctl save)"
check_eq "save | flush; restore: identical listing" "$list" "$(ipvsctl service list)"
check_eq "save | flush; restore: identical pool" "$expect" "$(ipvsctl laddr list)"
ipvsctl restore --flush <<<"$saved"
check_eq "restore --flush over the same table: identical" "$saved" "$(ipvsctl save)"

# Bad requests: named, and nothing changes.
fails "unknown service" '^ipvsctl: no such service TCP 10\.0\.1\.100:81$' \
	ipvsctl laddr add tcp $V:81 10.0.5.3
fails "bad address" '^ipvsctl: invalid local address "10\.0\.5\.300": expected a numeric IPv4 or IPv6 address$' \
	ipvsctl laddr add tcp $V:80 10.0.5.300
fails "IPv6 local address on an IPv4 service" \
	'^ipvsctl: invalid local address "2001:db8::5": IPv6, but service TCP 10\.0\.1\.100:80 is IPv4' \
	ipvsctl laddr add tcp $V:80 2001:db8::5
fails "duplicate local address" \
	'^ipvsctl: IPVS_RS_CMD_NEW_LADDR failed: File exists \(EEXIST\): IPVS_RS_LADDR_ATTR_ADDR: ' \
	ipvsctl laddr add tcp $V:80 10.0.5.1
fails "deleting an absent local address" \
	'^ipvsctl: IPVS_RS_CMD_DEL_LADDR failed: No such file or directory \(ENOENT\): IPVS_RS_LADDR_ATTR_ADDR: ' \
	ipvsctl laddr del tcp $V:80 10.0.5.9
fails "local address with a port" 'invalid local address "10\.0\.5\.3:80": a local address takes no port' \
	ipvsctl laddr add tcp $V:80 10.0.5.3:80
fails "bad forwarding method" 'invalid forwarding method "fulnat": must be nat, dr, tun or fullnat' \
	ipvsctl dest add tcp $V:80 10.0.2.13 --fwd fulnat
fails "TOA on an unknown service" '^ipvsctl: no such service TCP 10\.0\.1\.100:81$' \
	ipvsctl service edit tcp $V:81 --toa
fails "restore: duplicate local address line" 'restore: line 3: this local address was already added on line 2 \(nothing was applied\)' \
	ipvsctl restore --flush <<<"-A -t $V:99 -s rr
-P -t $V:99 -z 10.0.5.1
-P -t $V:99 -z 10.0.5.1"
fails "restore: IPv6 local address on an IPv4 service" 'restore: line 2: invalid local address "2001:db8::5"' \
	ipvsctl restore --flush <<<"-A -t $V:99 -s rr
-P -t $V:99 -z 2001:db8::5"
# What only the kernel checks: IPv6 pools (ipvs_rs takes IPv4 ones only).
run_ok ipvsctl service add fwmark 6 -6 -s rr
err=$(ipvsctl laddr add fwmark 6 -6 2001:db8::5 2>&1)
check_eq "IPv6 local address: refused" 1 "$?"
check_match "IPv6 local address: the kernel names the field" "IPVS_RS_CMD_NEW_LADDR failed: .*IPVS_RS_LADDR_ATTR_AF" "$err"
run_ok ipvsctl service del fwmark 6 -6
check_eq "after the errors: the same table" "$saved" "$(ipvsctl save)"

# Upstream ip_vs has no IPVS_RS family: plain commands work, listings and
# save have no extension data, the extensions are refused by name.
unload_all
if modprobe ip_vs 2>/dev/null; then
	check_not "ip_vs: no IPVS_RS family" genl_family_exists IPVS_RS
	run_ok ipvsctl service add tcp $V:80 -s rr
	run_ok ipvsctl dest add tcp $V:80 10.0.2.11:8080 --fwd nat
	check_eq "ip_vs: save is plain" "-A -t $V:80 -s rr
-a -t $V:80 -r 10.0.2.11:8080 -m -w 1" "$(ipvsctl save)"
	check_match "ip_vs: service list has no flags" "TCP  $V:80 rr"$'\n' "$(ipvsctl service list)"
	check_eq "ip_vs: JSON has null extensions" '[null,null,null]' \
		"$(ipvsctl --json service list | jq -c '.services[0] | [.toa, .laddrs, .ext_stats]')"
	check "ip_vs: stats works" bash -c 'ipvsctl stats >/dev/null'
	fails "ip_vs: laddr add" '^ipvsctl: a local address needs ipvs_rs: the IPVS_RS generic netlink family is not registered' \
		ipvsctl laddr add tcp $V:80 10.0.5.1
	fails "ip_vs: laddr list" 'listing local addresses needs ipvs_rs' ipvsctl laddr list
	fails "ip_vs: --fwd fullnat" 'FULLNAT forwarding needs ipvs_rs' \
		ipvsctl dest add tcp $V:80 10.0.2.12:8080 --fwd fullnat
	fails "ip_vs: --toa" '^ipvsctl: --toa needs ipvs_rs' ipvsctl service edit tcp $V:80 --toa
	fails "ip_vs: restore of extension lines" \
		'^ipvsctl: restore: line 1: --toa needs ipvs_rs: .* \(nothing was applied\)$' \
		ipvsctl restore --flush <<<"$saved"
	unload_all
else
	log_info "upstream ip_vs not available: its part skipped"
fi

exit_test
