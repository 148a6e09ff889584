#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Each of the 14 schedulers, observed through a NAT service with three real
# servers: which server answers which new connection. Long-lived
# connections (held open) load servers unevenly where a scheduler counts
# connections; several client source addresses and several VIPs (behind
# firewall-mark services) exercise the hashing and locality schedulers; an
# upper connection threshold (-x) takes a server out.
#
# The same cases run first against upstream ip_vs (when it is available),
# which validates the expectations, then against ipvs_rs; every
# deterministic choice (all but twos and sh-port) must then be the same in
# both: same order, same server for the same client or destination.
# SCHED_UPSTREAM=0 skips the upstream run, SCHED_VERBOSE=1 prints the time
# of each case.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/topology.sh"
require_root
require_cmd socat ipvsadm nft python3
unload_all
N=3
topo_lvs $N || exit $ksft_fail

dir() { ip netns exec "$director" "$@"; }

tmp=$(mktemp -d /tmp/sched.XXXXXX)
cleanup_sched() {
	cleanup
	rm -rf "$tmp"
}
trap cleanup_sched EXIT

# Each real server sends its name and keeps the connection open until the
# client closes it (a file read with ignoreeof: no exec per connection): a
# client that reads the name and closes gets a clean close, one that keeps
# its side open keeps the connection established.
for i in $(seq $N); do
	echo "rs$i" >"$tmp/name$i"
	bg ip netns exec "${RS_NS[$((i - 1))]}" socat -t 5 TCP-LISTEN:80,fork,reuseaddr GOPEN:"$tmp/name$i",ignoreeof
done

# More client source addresses (source hashing) and more VIPs (destination
# hashing and locality); the client reaches both on its link.
CLIENTS=$(echo 10.0.1.{20..29})
VIPS=$(echo 10.0.1.{100..105})
for a in $CLIENTS; do echo "addr add $a/24 dev c0"; done | ip -n "$client" -batch -
for a in ${VIPS#* }; do echo "addr add $a/32 dev d0"; done | ip -n "$director" -batch -
# Firewall-mark services over all six VIPs: one mark per port.
dir nft -f - <<EOF
table ip lvsmark {
	chain pre {
		type filter hook prerouting priority -150;
		ip daddr 10.0.1.100-10.0.1.105 tcp dport 3001 meta mark set 11
		ip daddr 10.0.1.100-10.0.1.105 tcp dport 3002 meta mark set 12
		ip daddr 10.0.1.100-10.0.1.105 tcp dport 3003 meta mark set 13
	}
}
EOF

# --- agents ------------------------------------------------------------------
# Under TCG every exec costs tens of milliseconds, so one long-lived shell
# in the client namespace makes the connections (bash's /dev/tcp) and holds
# the long-lived ones, and one in the director runs ipvsadm. `on AGENT
# CODE` runs one line of shell code there and prints its output.

# In the client: probe DST:PORT...: one new connection each, in order; the
# servers that answered ("-" for none). hold NAME DST PORT: a connection
# kept open (its server printed); release NAME...: closes them.
CLIENT_DEFS='
declare -A H
probe() {
	local s l out=""
	for s; do
		l=-
		{ read -r -t 5 l <&3; } 3<>"/dev/tcp/${s%:*}/${s#*:}"
		out+=" ${l:--}"
	done
	echo "${out# }"
}
hold() {
	local fd l=-
	if exec {fd}<>"/dev/tcp/$2/$3"; then
		H[$1]=$fd
		read -r -t 5 l <&"$fd"
	fi
	echo "${l:--}"
}
release() {
	local n fd
	for n; do
		fd=${H[$n]:-}
		[ -z "$fd" ] || exec {fd}<&-
		unset "H[$n]"
	done
}
'
# In the client too, for connections from given source addresses (bash
# cannot bind): python reading lines of "DST:PORT@SRC" and answering each
# with the servers that answered.
PY_AGENT='
import socket, sys
for line in sys.stdin:
    out = []
    for spec in line.split():
        dst, _, src = spec.partition("@")
        host, port = dst.rsplit(":", 1)
        try:
            with socket.create_connection((host, int(port)), timeout=5,
                                          source_address=(src, 0) if src else None) as s:
                out.append(s.makefile().readline().strip() or "-")
        except OSError:
            out.append("-")
    print(" ".join(out) + "\n\n@@END 0", flush=True)
'

# agent_start NAME NETNS CMD...: CMD reads one command a line on stdin and
# answers with its output, an empty line and "@@END STATUS".
declare -A AGENT_W AGENT_R
agent_start() {
	local name=$1 ns=$2 in="$tmp/$1.in" out="$tmp/$1.out" w r
	shift 2
	mkfifo "$in" "$out"
	# (Not through bg: the fifos must be opened by the background process.)
	ip netns exec "$ns" "$@" <"$in" >"$out" &
	BG_PIDS+=($!)
	exec {w}<>"$in" {r}<>"$out"
	AGENT_W[$name]=$w
	AGENT_R[$name]=$r
}
# A shell agent: DEFS, then each line is evaluated (its stdin /dev/null).
# shellcheck disable=SC2016
SH_LOOP='
exec 9<&0 </dev/null
while IFS= read -r -u 9 line; do
	eval "$line"
	printf "\n@@END %s\n" "$?"
done'
on() { # on AGENT CODE
	local l out="" st=1
	printf '%s\n' "$2" >&"${AGENT_W[$1]}"
	while IFS= read -r -t 120 l <&"${AGENT_R[$1]}"; do
		if [[ $l == "@@END "* ]]; then
			st=${l#@@END }
			break
		fi
		out+="$l"$'\n'
	done
	out=${out%$'\n'}
	out=${out%$'\n'}
	[ -z "$out" ] || printf '%s\n' "$out"
	return "$st"
}
agent_start cli "$client" bash -c "$CLIENT_DEFS$SH_LOOP"
agent_start dir "$director" bash -c "$SH_LOOP"
agent_start py "$client" python3 -c "$PY_AGENT"
for a in cli dir; do
	on "$a" true || { echo "# agent $a does not answer"; exit $ksft_fail; }
done
on py "" || { echo "# agent py does not answer"; exit $ksft_fail; }
# The real servers listen (seen from the director).
# shellcheck disable=SC2016
on dir '(for i in 1 2 3; do l=; for ((t = 0; t < 100; t++)); do { read -r -t 5 l <&3; } 3<>/dev/tcp/10.0.2.1$i/80 && break; sleep 0.1; done; [ "$l" = rs$i ] || exit 1; done) 2>/dev/null' ||
	{ echo "# real servers not listening"; exit $ksft_fail; }

# --- helpers -----------------------------------------------------------------

# probe SPEC...: one new connection per SPEC, "DST:PORT" or "DST:PORT@SRC",
# in order; prints the servers that answered ("-" for none).
probe() {
	case "$*" in
	*@*) on py "$*" ;;
	*) on cli "probe $(printf '%q ' "$@")" ;;
	esac
}

# conns PORT COUNT [SRC [DST]]: COUNT new connections to DST:PORT (default
# the VIP) from SRC (default the client's address).
conns() {
	local port=$1 n=$2 src=${3:-} dst=${4:-$VIP} i
	local -a specs=()
	for ((i = 0; i < n; i++)); do
		specs+=("$dst:$port${src:+@$src}")
	done
	probe "${specs[@]}"
}

# hold NAME PORT [DST]: open a connection and keep it established;
# HELD_ON is the server that answered.
hold() { HELD_ON=$(on cli "hold $1 ${3:-$VIP} $2"); }
release() { on cli "release $*"; }
release_all() { on cli 'release "${!H[@]}"'; }

# hold_on SVC PORT SERVER COUNT: COUNT held connections on server number
# SERVER (the others quiesced meanwhile; the caller restores the weights).
HOLDS=0
hold_on() {
	local s=$1 port=$2 rs=$3 n=$4 i got=""
	case $rs in
	1) setw "$s" 1 0 0 ;;
	2) setw "$s" 0 1 0 ;;
	3) setw "$s" 0 0 1 ;;
	esac
	for ((i = 0; i < n; i++)); do
		HOLDS=$((HOLDS + 1))
		hold "h$HOLDS" "$port"
		got+="$HELD_ON "
	done
	[ "$(tally "$got")" = "rs$rs=$n" ] || check_fail "$IMPL: $n held connections on rs$rs (got '$got')"
}

# tally "rs1 rs2 rs1": "rs1=2 rs2=1" ("-" counts failed connections)
tally() {
	local -A c=()
	local x out=""
	for x in $1; do c[$x]=$((${c[$x]:-0} + 1)); done
	for x in - rs1 rs2 rs3; do
		[ -z "${c[$x]:-}" ] || out+="$x=${c[$x]} "
	done
	echo "${out% }"
}

# count rsN "SEQ": how many times rsN answered
count() {
	local x n=0
	for x in $2; do [ "$x" != "$1" ] || n=$((n + 1)); done
	echo $n
}

# distinct "rs1 rs2 rs1": how many different servers answered (2)
distinct() {
	local -A c=()
	local x
	for x in $1; do [ "$x" = - ] || c[$x]=1; done
	echo ${#c[@]}
}

# all_same "rs1 rs1 rs1": one server answered them all
all_same() { [ "$(distinct "$1")" = 1 ] && [[ " $1 " != *" - "* ]]; }

# ipvs LINE...: ipvsadm commands in the director, in one ipvsadm -R.
ipvs() { on dir "printf '%s\n' $(printf '%q ' "$@") | ipvsadm -R" || check_fail "$IMPL: ipvsadm -R: $*"; }

# svc_add SVC SCHED W1 W2 W3 [ipvsadm -A options]: a NAT service (SVC is
# "-t VIP:PORT" or "-f MARK") over the three real servers with weights.
svc_add() {
	local s=$1 sched=$2 w1=$3 w2=$4 w3=$5
	shift 5
	ipvs "-A $s -s $sched $*" "-a $s -r $(rs_ip 1):80 -m -w $w1" \
		"-a $s -r $(rs_ip 2):80 -m -w $w2" "-a $s -r $(rs_ip 3):80 -m -w $w3"
}

# setw SVC W1 W2 W3: edit the three weights.
setw() {
	ipvs "-e $1 -r $(rs_ip 1):80 -m -w $2" "-e $1 -r $(rs_ip 2):80 -m -w $3" \
		"-e $1 -r $(rs_ip 3):80 -m -w $4"
}

# actives SVC: the servers' ActiveConn counts, "a1 a2 a3".
actives() {
	local -a a=(- - -)
	local arrow addr fwd w act rest
	while read -r arrow addr fwd w act rest; do
		case $arrow:$addr in
		"->:10.0.2.1"[1-3]":80") a[${addr:8:1} - 1]=$act ;;
		esac
	done < <(on dir "ipvsadm -L -n $1")
	echo "${a[*]}"
}
actives_are() { [ "$(actives "$1")" = "$2" ]; }
# active_is SVC SERVER N: server number SERVER has N active connections.
active_is() { [ "$(actives "$1" | cut -d' ' -f"$2")" = "$3" ]; }

# trace NAME VALUE: a deterministic outcome, compared across implementations.
declare -A TRACE
TRACE_ORDER=()
trace() {
	[ -n "${TRACE[$1]+x}" ] || TRACE_ORDER+=("$1")
	TRACE[$1]=$2
}

# rotation3 "a b c a b c ...": period 3 and the first three differ.
rotation3() {
	local -a s
	local i
	read -ra s <<<"$1"
	[ "$(distinct "${s[*]:0:3}")" = 3 ] || return 1
	for ((i = 3; i < ${#s[@]}; i++)); do
		[ "${s[$i]}" = "${s[$((i - 3))]}" ] || return 1
	done
}

# --- the cases -----------------------------------------------------------------

case_rr() {
	local s="-t $VIP:2001" seq a b
	svc_add "$s" rr 1 1 1
	seq=$(conns 2001 9)
	trace "rr: 9 connections" "$seq"
	check_eq "$IMPL: rr: 9 connections spread 3/3/3" "rs1=3 rs2=3 rs3=3" "$(tally "$seq")"
	check "$IMPL: rr: in rotation ($seq)" rotation3 "$seq"
	check_eq "$IMPL: rr: the first connection goes to the newest real server (the head of upstream's list)" \
		rs3 "${seq%% *}"
	# Editing a real server (same weight) does not restart the rotation.
	a=$(conns 2001 1)
	ipvs "-e $s -r $(rs_ip 2):80 -m -w 1"
	b=$(conns 2001 1)
	check "$IMPL: rr: an edited real server does not restart the rotation ($a, edit, $b)" \
		[ -n "$a" -a "$a" != "$b" ]
	setw "$s" 1 0 1
	seq=$(conns 2001 4)
	trace "rr: rs2 quiesced" "$seq"
	check_eq "$IMPL: rr: a weight-0 server gets none" "rs1=2 rs3=2" "$(tally "$seq")"
}

case_wrr() {
	local s="-t $VIP:2002" seq
	svc_add "$s" wrr 3 2 1
	seq=$(conns 2002 12)
	trace "wrr: 3:2:1" "$seq"
	check_eq "$IMPL: wrr: weights 3:2:1, 6 connections -> 3/2/1" "rs1=3 rs2=2 rs3=1" \
		"$(tally "$(cut -d' ' -f1-6 <<<"$seq")")"
	check_eq "$IMPL: wrr: 12 connections -> 6/4/2" "rs1=6 rs2=4 rs3=2" "$(tally "$seq")"
}

# lc and wlc on the same loads: active connections 3/1/2, weights 5/1/1.
case_lc_wlc() {
	local s="-t $VIP:2003" seq
	svc_add "$s" lc 5 1 1
	hold_on "$s" 2003 1 3
	hold_on "$s" 2003 2 1
	hold_on "$s" 2003 3 2
	setw "$s" 5 1 1
	check_eq "$IMPL: lc: loads (ActiveConn)" "3 1 2" "$(actives "$s")"
	seq=$(conns 2003 3)
	trace "lc: loads 3/1/2" "$seq"
	check_eq "$IMPL: lc: new connections go to the fewest connections (rs2), weights aside" "rs2 rs2 rs2" "$seq"
	ipvs "-E $s -s wlc"
	seq=$(conns 2003 3)
	trace "wlc: loads 3/1/2, weights 5/1/1" "$seq"
	check_eq "$IMPL: wlc: same loads, new connections go to the fewest per weight (rs1: 3/5)" "rs1 rs1 rs1" "$seq"
	release_all
}

# sed and nq (and wlc for contrast): active connections 0/1/1, weights
# 1/10/1.
case_sed_nq() {
	local s="-t $VIP:2005" seq
	svc_add "$s" sed 1 10 1
	hold_on "$s" 2005 2 1
	hold_on "$s" 2005 3 1
	setw "$s" 1 10 1
	check_eq "$IMPL: sed: loads (ActiveConn)" "0 1 1" "$(actives "$s")"
	seq=$(conns 2005 3)
	trace "sed: loads 0/1/1, weights 1/10/1" "$seq"
	check_eq "$IMPL: sed: (active+1)/weight picks rs2 (2/10) over idle rs1 (1/1)" "rs2 rs2 rs2" "$seq"
	ipvs "-E $s -s wlc"
	seq=$(conns 2005 1)
	trace "wlc: loads 0/1/1, weights 1/10/1" "$seq"
	check_eq "$IMPL: wlc: the same loads pick idle rs1" "rs1" "$seq"
	ipvs "-E $s -s nq"
	seq=$(conns 2005 3)
	trace "nq: loads 0/1/1" "$seq"
	check_eq "$IMPL: nq: an idle server (rs1) is chosen at once" "rs1 rs1 rs1" "$seq"
	hold_on "$s" 2005 1 1
	setw "$s" 1 10 1
	check_eq "$IMPL: nq: loads (ActiveConn)" "1 1 1" "$(actives "$s")"
	seq=$(conns 2005 2)
	trace "nq: loads 1/1/1" "$seq"
	check_eq "$IMPL: nq: with no idle server, (active+1)/weight picks rs2" "rs2 rs2" "$seq"
	release_all
}

case_fo() {
	local s="-t $VIP:2007" seq
	svc_add "$s" fo 1 3 2
	seq=$(conns 2007 3)
	trace "fo: 1/3/2" "$seq"
	check_eq "$IMPL: fo: all to the highest weight (rs2)" "rs2 rs2 rs2" "$seq"
	setw "$s" 1 0 2
	seq=$(conns 2007 3)
	trace "fo: 1/0/2" "$seq"
	check_eq "$IMPL: fo: rs2 at weight 0, all to the next (rs3)" "rs3 rs3 rs3" "$seq"
	setw "$s" 1 3 2
	check_eq "$IMPL: fo: rs2 back" "rs2" "$(conns 2007 1)"
}

case_ovf() {
	local s="-t $VIP:2008" seq="" i
	svc_add "$s" ovf 3 2 1
	seq=$(conns 2008 2)
	check_eq "$IMPL: ovf: short connections to the highest weight (rs1)" "rs1 rs1" "$seq"
	seq=""
	for i in 1 2 3 4 5; do
		hold "o$i" 2008
		seq+="$HELD_ON "
	done
	seq=${seq% }
	trace "ovf: 5 held, 3/2/1" "$seq"
	check_eq "$IMPL: ovf: rs1 (weight 3) takes held connections until its active ones exceed 3, then rs2" \
		"rs1 rs1 rs1 rs1 rs2" "$seq"
	release o1
	check "$IMPL: ovf: rs1 back to 3 active" wait_for 10 actives_are "$s" "3 1 0"
	check_eq "$IMPL: ovf: rs1 at 3 active takes the next" "rs1" "$(conns 2008 1)"
	release_all
}

case_twos() {
	local s="-t $VIP:2009" seq n1
	svc_add "$s" twos 100 1 0
	seq=$(conns 2009 30)
	n1=$(count rs1 "$seq")
	log_info "$IMPL: twos 100/1/0 over 30: $(tally "$seq")"
	check_eq "$IMPL: twos: 30 connections answered" 0 "$(count - "$seq")"
	check "$IMPL: twos: the weight-100 server gets most ($n1 of 30)" [ "$n1" -ge 20 ]
	check_eq "$IMPL: twos: the weight-0 server gets none" 0 "$(count rs3 "$seq")"
}

# Upper connection threshold (-x): an overloaded server gets no new
# connections; all its connections count (active and inactive).
case_thresh() {
	local s="-t $VIP:2010" seq
	svc_add "$s" fo 3 2 1
	ipvs "-e $s -r $(rs_ip 1):80 -m -w 3 -x 2"
	hold t1 2010
	seq="$HELD_ON"
	hold t2 2010
	seq+=" $HELD_ON"
	check_eq "$IMPL: -x 2: fo's rs1 takes 2 held connections" "rs1 rs1" "$seq"
	seq=$(conns 2010 3)
	trace "-x 2 on fo's rs1" "$seq"
	check_eq "$IMPL: -x 2: rs1 overloaded, fo goes to rs2" "rs2 rs2 rs2" "$seq"
	check_eq "$IMPL: -x 2: rs1 kept its 2 connections" "2 0 0" "$(actives "$s")"
	release_all

	s="-t $VIP:2011"
	svc_add "$s" rr 1 1 1
	ipvs "-e $s -r $(rs_ip 1):80 -m -w 1 -x 1"
	seq=$(conns 2011 6)
	trace "-x 1 on rr's rs1" "$seq"
	check_eq "$IMPL: -x 1: rr gives rs1 one of 6 connections (a closed one still counts), then skips it" \
		"1 0" "$(count rs1 "$seq") $(count - "$seq")"
}

# by_key PER "KEY..." "RESULT...": checks that every run of PER results
# (one key each) is a single server; sets MAP ("key=server ...") and BAD.
by_key() {
	local per=$1 i k
	local -a keys res
	read -ra keys <<<"$2"
	read -ra res <<<"$3"
	MAP="" BAD="" FIRSTS=""
	for ((i = 0; i < ${#keys[@]}; i++)); do
		k="${res[*]:$((i * per)):per}"
		all_same "$k" || BAD+="${keys[$i]}:${k// /,} "
		MAP+="${keys[$i]}=${k%% *} "
		FIRSTS+="${k%% *} "
	done
	MAP=${MAP% }
}

case_sh() {
	local s="-t $VIP:2012" a seq clients
	local -a specs=()
	clients=$(cut -d' ' -f1-8 <<<"$CLIENTS")
	svc_add "$s" sh 1 1 1
	for a in $clients; do specs+=("$VIP:2012@$a" "$VIP:2012@$a" "$VIP:2012@$a"); done
	by_key 3 "$clients" "$(probe "${specs[@]}")"
	trace "sh: client -> server" "$MAP"
	log_info "$IMPL: sh: $MAP"
	check_eq "$IMPL: sh: each client source always lands on the same server (3 connections each)" "" "$BAD"
	check "$IMPL: sh: 8 client sources spread over several servers ($(tally "$FIRSTS"))" \
		[ "$(distinct "$FIRSTS")" -ge 2 ]

	s="-t $VIP:2013"
	svc_add "$s" sh 1 1 1 -b sh-port
	seq=$(conns 2013 9 10.0.1.20)
	check "$IMPL: sh-port: one client source's connections (other ports) spread ($(tally "$seq"))" \
		[ "$(distinct "$seq")" -ge 2 ]
}

case_dh() {
	local s="-f 11" v
	local -a specs=()
	svc_add "$s" dh 1 1 1
	for v in $VIPS; do specs+=("$v:3001@10.0.1.20" "$v:3001@10.0.1.21"); done
	by_key 2 "$VIPS" "$(probe "${specs[@]}")"
	trace "dh: destination -> server" "$MAP"
	log_info "$IMPL: dh: $MAP"
	check_eq "$IMPL: dh: each destination lands on one server, whatever the client source" "" "$BAD"
	check "$IMPL: dh: 6 destinations spread over several servers ($(tally "$FIRSTS"))" \
		[ "$(distinct "$FIRSTS")" -ge 2 ]
}

case_mh() {
	local s="-t $VIP:2014" a removed moved=0 bad="" i
	local -a specs=() was now keys
	svc_add "$s" mh 1 1 1
	for a in $CLIENTS; do specs+=("$VIP:2014@$a" "$VIP:2014@$a"); done
	by_key 2 "$CLIENTS" "$(probe "${specs[@]}")"
	trace "mh: client -> server" "$MAP"
	log_info "$IMPL: mh: $MAP"
	check_eq "$IMPL: mh: each client source always lands on the same server" "" "$BAD"
	check "$IMPL: mh: 10 client sources spread over several servers ($(tally "$FIRSTS"))" \
		[ "$(distinct "$FIRSTS")" -ge 2 ]

	# Remove the first client's server: only its clients move.
	read -ra keys <<<"$CLIENTS"
	read -ra was <<<"$FIRSTS"
	removed=${was[0]}
	ipvs "-d $s -r $(rs_ip "${removed#rs}"):80"
	specs=()
	for a in $CLIENTS; do specs+=("$VIP:2014@$a"); done
	read -ra now <<<"$(probe "${specs[@]}")"
	MAP=""
	for ((i = 0; i < ${#keys[@]}; i++)); do
		MAP+="${keys[$i]}=${now[$i]} "
		if [ "${was[$i]}" = "$removed" ]; then
			if [[ "${now[$i]}" =~ ^rs[0-9]$ ]] && [ "${now[$i]}" != "$removed" ]; then
				moved=$((moved + 1))
			else
				bad+="${keys[$i]}:${now[$i]} "
			fi
		else
			[ "${now[$i]}" = "${was[$i]}" ] || bad+="${keys[$i]}:${was[$i]}->${now[$i]} "
		fi
	done
	trace "mh: client -> server without $removed" "$MAP"
	log_info "$IMPL: mh without $removed: $MAP"
	check_eq "$IMPL: mh: removing $removed moves only its $moved clients, the others keep their server" "" "$bad"
}

# lblc and lblcr: a firewall-mark service over the six VIPs, keyed by
# destination address.
case_lblc() { # case_lblc lblc|lblcr MARK PORT
	local sched=$1 s="-f $2" port=$3 seq first second other
	local -a vip
	read -ra vip <<<"$VIPS"
	svc_add "$s" "$sched" 1 1 1
	# Three destinations in turn, twice: each sticks to the server it got;
	# each new one went to the least loaded server.
	by_key 2 "${vip[*]:0:3}" "$(probe "${vip[0]}:$port" "${vip[0]}:$port" \
		"${vip[1]}:$port" "${vip[1]}:$port" "${vip[2]}:$port" "${vip[2]}:$port")"
	trace "$sched: 3 destinations twice" "$MAP"
	log_info "$IMPL: $sched: $MAP"
	check_eq "$IMPL: $sched: each destination sticks to its server" "" "$BAD"
	check_eq "$IMPL: $sched: new destinations go to the least loaded: 3 servers" 3 "$(distinct "$FIRSTS")"
	first=${FIRSTS%% *}

	# A fourth destination: its server (weight 1) takes two held
	# connections, is then overloaded (active > weight while another
	# server is below half its weight) and the third goes elsewhere.
	hold "${sched}1" "$port" "${vip[3]}"
	first=$HELD_ON
	hold "${sched}2" "$port" "${vip[3]}"
	check_eq "$IMPL: $sched: a second held connection to it sticks" "$first" "$HELD_ON"
	hold "${sched}3" "$port" "${vip[3]}"
	second=$HELD_ON
	trace "$sched: 3 held to one destination" "$first $first $second"
	check "$IMPL: $sched: the third (its server's active > weight) goes to another server ($first -> $second)" \
		[ -n "$second" -a "$first" != "$second" ]
	# The first server idle again: lblc keeps the replacement, lblcr's
	# set {first, second} yields its least loaded member, the first.
	release "${sched}1" "${sched}2"
	check "$IMPL: $sched: $first idle again" wait_for 10 active_is "$s" "${first#rs}" 0
	seq=$(conns "$port" 2 "" "${vip[3]}")
	trace "$sched: after release" "$seq"
	if [ "$sched" = lblc ]; then
		check_eq "$IMPL: lblc: the destination stays on the replacement server" "$second $second" "$seq"
	else
		check_eq "$IMPL: lblcr: the destination's set yields its least loaded member, the first server" \
			"$first $first" "$seq"
	fi
	release_all

	# Editing another server's weight keeps the cache: the first
	# destination stays on its server although the edited one is now the
	# least loaded per weight.
	first=${FIRSTS%% *}
	other=rs$((${first#rs} % 3 + 1))
	ipvs "-e $s -r $(rs_ip "${other#rs}"):80 -m -w 10"
	check_eq "$IMPL: $sched: a weight edit (of $other) keeps the destination cache" \
		"$first" "$(conns "$port" 1 "" "${vip[0]}")"
}

run_cases() {
	IMPL=$1
	TRACE=()
	TRACE_ORDER=()
	local t0=$SECONDS t c
	for c in rr wrr lc_wlc sed_nq fo ovf twos thresh sh dh mh "lblc lblc 12 3002" "lblc lblcr 13 3003"; do
		t=$SECONDS
		# shellcheck disable=SC2086
		case_$c
		[ "${SCHED_VERBOSE:-0}" = 0 ] || log_info "$IMPL: $c: $((SECONDS - t)) s"
	done
	release_all
	log_info "$IMPL: $((SECONDS - t0)) s"
}

declare -A UP_TRACE
UP_ORDER=()
SCHEDS="rr wrr lc wlc sed nq lblc lblcr dh sh mh fo ovf twos"
# (All of upstream's modules in one modprobe: loading each on first use
# costs a usermode helper each.)
if [ "${SCHED_UPSTREAM:-1}" = 1 ] && modprobe -a ip_vs $(printf 'ip_vs_%s ' $SCHEDS) 2>/dev/null; then
	run_cases upstream
	for k in "${TRACE_ORDER[@]}"; do UP_TRACE[$k]=${TRACE[$k]}; done
	UP_ORDER=("${TRACE_ORDER[@]}")
	release_all
	# Upstream's scheduler modules stay in use while services exist; one
	# modprobe for all of them is faster than unload_all's one each.
	on dir "ipvsadm -C"
	modprobe -r -a $(awk '$1 ~ /^ip_vs_/ {print $1}' /proc/modules) ip_vs
	unload_all
else
	unload_all
	log_info "upstream ip_vs not run: no comparison"
fi

load_ipvs_rs || { echo "# cannot load ipvs_rs"; exit $ksft_fail; }
run_cases ipvs_rs
for k in "${UP_ORDER[@]}"; do
	check_eq "same choices as upstream: $k" "${UP_TRACE[$k]}" "${TRACE[$k]-}"
done
release_all
on dir "ipvsadm -C"
exit_test
