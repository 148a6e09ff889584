#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# PROXY protocol: a service with --proxy-protocol v1|v2 starts every TCP
# connection to its NAT or FULLNAT real servers with a PROXY protocol
# header naming the client, so stock servers learn the client's address
# with no module on the real server.
#
# - Stock nginx with `listen ... proxy_protocol` on the real servers answers
#   and logs the client's real address and port (v2 through FULLNAT, v1
#   through NAT).
# - Long transfers both ways (4 MB echoed, data verified) through FULLNAT
#   and through SYNPROXY+FULLNAT, with timestamps, SACK and window scaling
#   and with 2% loss on the server side; a server that speaks first.
# - The header segment lost on its way to the server (dropped once per
#   connection by nftables on the server): it goes again in front of the
#   client's first data, or, when the client sends nothing, when the
#   server repeats its SYN-ACK; counted as resent.
# - Control: UDP services and DR/TUN servers refused by name; ipvsctl
#   shows the setting and the counters; save/restore keeps it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/topology.sh"
require_root
require_cmd socat ipvsadm python3 nft nginx curl sha256sum
unload_all
here=$(cd "$(dirname "$0")" && pwd)
N=2
topo_lvs $N || exit $ksft_fail
load_ipvs_rs || { echo "# cannot load ipvs_rs"; exit $ksft_fail; }
dir() { ip netns exec "$director" "$@"; }
cli() { ip netns exec "$client" "$@"; }
rs() { ip netns exec "${RS_NS[$(($1 - 1))]}" "${@:2}"; }
rsns() { echo "${RS_NS[$(($1 - 1))]}"; }
LADDR=$DIR_RS_IP
work=$(mktemp -d)

# nginx on each real server: 80 and 81 with proxy_protocol, answering and
# logging the address the header gave.
for i in $(seq $N); do
	d=$work/nginx$i
	mkdir -p "$d"
	cat >"$d/nginx.conf" <<-EOF
	daemon off;
	master_process off;
	pid $d/nginx.pid;
	error_log $d/error.log;
	events { worker_connections 64; }
	http {
		client_body_temp_path $d/body;
		proxy_temp_path $d/proxy;
		fastcgi_temp_path $d/fastcgi;
		uwsgi_temp_path $d/uwsgi;
		scgi_temp_path $d/scgi;
		log_format pp '\$proxy_protocol_addr:\$proxy_protocol_port \$remote_addr';
		access_log $d/access.log pp;
		server {
			listen 80 proxy_protocol;
			listen 81 proxy_protocol;
			location / {
				return 200 "rs$i client=\$proxy_protocol_addr:\$proxy_protocol_port vip=\$proxy_protocol_server_addr:\$proxy_protocol_server_port peer=\$remote_addr\n";
			}
		}
	}
	EOF
	bg ip netns exec "$(rsns "$i")" nginx -e "$d/error.log" -c "$d/nginx.conf"
	bg ip netns exec "$(rsns "$i")" python3 "$here/py/pp_server.py" 82 echo
	bg ip netns exec "$(rsns "$i")" python3 "$here/py/pp_server.py" 83 banner
	# Header segments to 86 and 87 (payload starting with the v2
	# signature): the first of each connection dropped (conntrack marks
	# the connection), the next one let through.
	rs "$i" nft -f - <<-EOF
	table ip pp {
		counter dropped86 {}
		counter dropped87 {}
		chain in {
			type filter hook input priority 0;
			tcp dport 86 @ih,0,32 0x0d0a0d0a ct mark 0 ct mark set 1 counter name dropped86 drop
			tcp dport 87 @ih,0,32 0x0d0a0d0a ct mark 0 ct mark set 1 counter name dropped87 drop
		}
	}
	EOF
	bg ip netns exec "$(rsns "$i")" python3 "$here/py/pp_server.py" 86 echo
	bg ip netns exec "$(rsns "$i")" python3 "$here/py/pp_server.py" 87 banner
done
# (Waiting without connecting: a connection without a header would be an
# error in nginx's log.)
listening() { rs "$1" ss -Hnlt "sport = :$2" | grep -q .; }
for i in $(seq $N); do
	for p in 80 81 82 83 86 87; do
		wait_for 20 listening "$i" $p || log_info "rs$i: nothing listens on $p"
	done
done

# --- services: FULLNAT v2 (80, 82, 83, 86, 87), NAT v1 (81), SYNPROXY +
# FULLNAT v2 (84 -> 82 echo, 85 -> 83 banner).
fnat_svc() { # port rs_port [ipvsctl options]
	dir ipvsctl service add tcp $VIP:"$1" -s rr "${@:3}"
	dir ipvsctl laddr add tcp $VIP:"$1" $LADDR
	for i in $(seq $N); do dir ipvsctl dest add tcp $VIP:"$1" "$(rs_ip "$i")":"$2" --fwd fullnat; done
}
for p in 80 82 83 86 87; do fnat_svc $p $p --proxy-protocol v2; done
fnat_svc 84 82 --proxy-protocol v2 --synproxy
fnat_svc 85 83 --proxy-protocol v2 --synproxy
dir ipvsctl service add tcp $VIP:81 -s rr --proxy-protocol v1
for i in $(seq $N); do dir ipvsctl dest add tcp $VIP:81 "$(rs_ip "$i")":81 --fwd nat; done

# --- control plane.
check_match "service list shows the version" "TCP  $VIP:80 rr proxy-protocol v2" "$(dir ipvsctl service list)"
check_match "v1 on the NAT service" "TCP  $VIP:81 rr proxy-protocol v1" "$(dir ipvsctl service list)"
check_eq "--json: proxy_protocol" "v2" "$(dir ipvsctl --json service list | python3 -c \
	'import json,sys; print([s["proxy_protocol"] for s in json.load(sys.stdin)["services"] if s["port"] == 80][0])')"
check_match "a DR server cannot join (named)" "IPVS_DEST_ATTR_FWD_METHOD.*PROXY protocol" \
	"$(dir ipvsctl dest add tcp $VIP:80 10.0.2.99:80 --fwd dr 2>&1)"
dir ipvsctl service add tcp $VIP:90 -s rr
dir ipvsctl dest add tcp $VIP:90 10.0.2.11:90 --fwd tun
check_match "refused on a service with TUN servers (named)" "IPVS_RS_SVC_ATTR_PROXY_PROTOCOL" \
	"$(dir ipvsctl service edit tcp $VIP:90 --proxy-protocol v2 2>&1)"
check_match "refused on UDP services (named)" "IPVS_RS_SVC_ATTR_PROXY_PROTOCOL" \
	"$(dir ipvsctl service add udp $VIP:53 --proxy-protocol v1 2>&1; dir ipvsctl service del udp $VIP:53 2>&1)"
check_match "a bad version is named" '"v3"' "$(dir ipvsctl service edit tcp $VIP:90 --proxy-protocol v3 2>&1)"
check_not "the refused settings changed nothing" bash -c \
	"ip netns exec $director ipvsctl service list | grep -Eq '10.0.2.99|:90 rr proxy|:53'"
dir ipvsctl service del tcp $VIP:90

# --- nginx: the client's real address, v2 through FULLNAT, v1 through NAT.
got=""
for port in 40101 40102; do
	got+=$(cli curl -s -m 20 --local-port $port http://$VIP:80/ | sed 's/^rs[0-9] //')";"
done
check_eq "nginx behind FULLNAT + v2 sees the client" \
	"client=$CLIENT_IP:40101 vip=$VIP:80 peer=$LADDR;client=$CLIENT_IP:40102 vip=$VIP:80 peer=$LADDR;" "$got"
check_match "nginx behind NAT + v1 sees the client" "client=$CLIENT_IP:40103 vip=$VIP:81 peer=$CLIENT_IP" \
	"$(cli curl -s -m 20 --local-port 40103 http://$VIP:81/)"
check "nginx logged the client's address (v2)" grep -q "^$CLIENT_IP:40101 $LADDR" "$work"/nginx*/access.log
check "nginx logged the client's address (v1)" grep -q "^$CLIENT_IP:40103 $CLIENT_IP" "$work"/nginx*/access.log
check_not "nginx saw no broken header" grep -q "broken header" "$work"/nginx*/error.log

# --- long transfers, data verified.
data=$work/data
head -c 4000000 /dev/urandom >"$data"
want=$(sha256sum <"$data" | cut -d' ' -f1)
# echo_check VIP:PORT: the server's header line, and the echo's checksum.
echo_check() {
	local out=$work/out
	timeout 120 ip netns exec "$client" socat -T 20 -t 30 - "TCP:$1" <"$data" >"$out"
	echo "$(head -1 "$out" | sed 's/:[0-9]* / /') $(tail -c +"$(($(head -1 "$out" | wc -c) + 1))" "$out" | sha256sum | cut -d' ' -f1)"
}
check_eq "FULLNAT + v2: header, then 4 MB echoed intact" "PP v2 $CLIENT_IP $VIP:82 $want" "$(echo_check $VIP:82)"
check_eq "SYNPROXY + FULLNAT + v2: 4 MB echoed intact" "PP v2 $CLIENT_IP $VIP:84 $want" "$(echo_check $VIP:84)"
check_eq "server speaks first: the header reaches it" "PP v2 $CLIENT_IP $VIP:83" \
	"$(cli socat -T 20 -u "TCP:$VIP:83" - | sed 's/:[0-9]* / /')"
dir sysctl -qw net.ipv4.vs.synproxy_timestamp=1 net.ipv4.vs.synproxy_wscale=7 net.ipv4.vs.synproxy_sack=1
check_eq "SYNPROXY (TS/SACK/wscale) + FULLNAT + v2: 4 MB echoed" "PP v2 $CLIENT_IP $VIP:84 $want" "$(echo_check $VIP:84)"
got=$(cli socat -T 20 -u "TCP:$VIP:85" - | sed 's/:[0-9]* / /')
check_eq "SYNPROXY + v2, server speaks first" "PP v2 $CLIENT_IP $VIP:85" "$got"
[ -n "$got" ] || { dir ipvsctl conn list; dir cat /proc/net/ip_vs_ext_stats; dir ipvsctl stats; }
if rs 1 tc qdisc add dev e0 root netem loss 2% 2>/dev/null && rs 2 tc qdisc add dev e0 root netem loss 2% 2>/dev/null; then
	check_eq "FULLNAT + v2 with 2% loss: 4 MB echoed" "PP v2 $CLIENT_IP $VIP:82 $want" "$(echo_check $VIP:82)"
	check_eq "SYNPROXY + FULLNAT + v2 with 2% loss: 4 MB echoed" "PP v2 $CLIENT_IP $VIP:84 $want" "$(echo_check $VIP:84)"
	rs 1 tc qdisc del dev e0 root
	rs 2 tc qdisc del dev e0 root
else
	log_info "no netem: lossy transfers not run"
fi

# --- the header segment lost once per connection.
resent0=$(dir ipvsctl --json stats | python3 -c 'import json,sys; print(sum(s["ext_stats"]["proxy_resent"] for s in json.load(sys.stdin)["services"]))')
got=$(for _ in 1 2 3 4; do echo hello | cli socat -T 20 -t 20 - "TCP:$VIP:86"; done | sed 's/:[0-9]* / /' | LC_ALL=C sort | uniq -c | tr -s ' ' | tr '\n' ';')
check_eq "header lost: sent again before the client's data" " 4 PP v2 $CLIENT_IP $VIP:86; 4 hello;" "$got"
got=$(for _ in 1 2; do cli socat -T 20 -u "TCP:$VIP:87" - | sed 's/:[0-9]* / /'; done | LC_ALL=C sort | uniq -c | tr -s ' ' | tr '\n' ';')
check_eq "header lost, server speaks first: sent again on the repeated SYN-ACK" " 2 PP v2 $CLIENT_IP $VIP:87;" "$got"
dropped=$(for i in $(seq $N); do rs "$i" nft list counters table ip pp; done | grep -o 'packets [0-9]*' | awk '{s += $2} END {print s}')
check_eq "the servers dropped one header per connection" 6 "$dropped"
resent=$(dir ipvsctl --json stats | python3 -c 'import json,sys; print(sum(s["ext_stats"]["proxy_resent"] for s in json.load(sys.stdin)["services"]))')
check_eq "resent headers counted" 6 "$((resent - resent0))"

# --- stats, save, restore.
stats=$(dir ipvsctl stats)
check_match "stats: the PROXY protocol table" "Proxy +HdrSent +HdrResent" "$stats"
check_match "stats: headers sent on 80" "TCP  $VIP:80 +v2 +[1-9]" "$stats"
saved=$(dir ipvsctl save)
check_match "save keeps --proxy-protocol" "-A -t $VIP:81 -s rr --proxy-protocol v1" "$saved"
dir ipvsctl flush
echo "$saved" | dir ipvsctl restore
check_eq "restore: the same table" "$saved" "$(dir ipvsctl save)"
check_match "works after restore" "client=$CLIENT_IP:40104" "$(cli curl -s -m 20 --local-port 40104 http://$VIP:80/)"
dir ipvsctl service edit tcp $VIP:80 --no-proxy-protocol
check_not "--no-proxy-protocol" bash -c "ip netns exec $director ipvsctl service list | grep -q ':80 rr proxy'"
check_match "without the header nginx refuses" "^$" "$(cli curl -s -m 10 http://$VIP:80/)"

cleanup_bg
rm -rf "$work"
exit_test
