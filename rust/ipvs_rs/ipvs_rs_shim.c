// SPDX-License-Identifier: GPL-2.0
/*
 * ipvs_rs C shim: registration objects and wrappers of static inline
 * helpers. All behaviour lives in Rust (see ipvs_rs_main.rs); the objects
 * below only point the kernel at the Rust entry points in exports.h.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/notifier.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/seq_file_net.h>
#include <linux/ip.h>
#include <linux/random.h>
#include <linux/timer.h>
#include <linux/sysctl.h>
#include <linux/workqueue.h>
#include <linux/slab.h>
#include <linux/percpu.h>
#include <net/dst.h>
#include <net/genetlink.h>
#include <net/icmp.h>
#include <net/gso.h>
#include <net/ip.h>
#include <net/ip_tunnels.h>
#include <net/route.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/net_namespace.h>
#include <net/sock.h>
#include <net/netns/generic.h>
#include <uapi/linux/ip_vs.h>

#include "../kbind/shim.h"
#include "../kbind/exports.h"

/* Parsed and range-checked in Rust (ipvs_core::config::conn_tab_bits). */
static unsigned int conn_tab_bits = 12;
module_param(conn_tab_bits, uint, 0444);
MODULE_PARM_DESC(conn_tab_bits, "log2 of the connection hash table size (8..20, default 12)");

unsigned int ipvs_rs_param_conn_tab_bits(void)
{
	return READ_ONCE(conn_tab_bits);
}

static unsigned int conn_max = 1 << 20;
module_param(conn_max, uint, 0444);
MODULE_PARM_DESC(conn_max, "most connections per network namespace (default 1048576); more are refused and counted");

unsigned int ipvs_rs_param_conn_max(void)
{
	return READ_ONCE(conn_max);
}

/* Checked in Rust (fnat.rs): 8..64512, from port 1024 up. */
static unsigned int fnat_ports = 64512;
module_param(fnat_ports, uint, 0444);
MODULE_PARM_DESC(fnat_ports, "FULLNAT source ports per local address and protocol, from 1024 (8..64512, default 64512)");

unsigned int ipvs_rs_param_fnat_ports(void)
{
	return READ_ONCE(fnat_ports);
}

/* --- per network namespace state: one pointer, owned by Rust --- */

static unsigned int ipvs_rs_net_id __read_mostly;

struct pernet_operations ipvs_rs_pernet_ops = {
	.init = ipvs_rs_net_init,
	.exit = ipvs_rs_net_exit,
	.id = &ipvs_rs_net_id,
	.size = sizeof(void *),
};

void **ipvs_rs_net_slot(const struct net *net)
{
	return net_generic(net, ipvs_rs_net_id);
}

/* --- /proc/net/ip_vs, ip_vs_stats, ip_vs_conn: the text comes from Rust --- */

static int ipvs_rs_proc_info_show(struct seq_file *seq, void *v)
{
	return ipvs_rs_proc_show(seq, seq_file_single_net(seq), IPVS_RS_PROC_INFO);
}

static int ipvs_rs_proc_stats_show(struct seq_file *seq, void *v)
{
	return ipvs_rs_proc_show(seq, seq_file_single_net(seq), IPVS_RS_PROC_STATS);
}

static int ipvs_rs_proc_conn_show(struct seq_file *seq, void *v)
{
	return ipvs_rs_proc_show(seq, seq_file_single_net(seq), IPVS_RS_PROC_CONN);
}

static int ipvs_rs_proc_ext_show(struct seq_file *seq, void *v)
{
	return ipvs_rs_proc_show(seq, seq_file_single_net(seq), IPVS_RS_PROC_EXT);
}

int ipvs_rs_proc_create(struct net *net)
{
	if (!proc_create_net_single("ip_vs", 0444, net->proc_net,
				    ipvs_rs_proc_info_show, NULL))
		goto err;
	if (!proc_create_net_single("ip_vs_stats", 0444, net->proc_net,
				    ipvs_rs_proc_stats_show, NULL))
		goto err;
	if (!proc_create_net_single("ip_vs_conn", 0444, net->proc_net,
				    ipvs_rs_proc_conn_show, NULL))
		goto err;
	if (!proc_create_net_single("ip_vs_ext_stats", 0444, net->proc_net,
				    ipvs_rs_proc_ext_show, NULL))
		goto err;
	return 0;
err:
	ipvs_rs_proc_remove(net);
	return -ENOMEM;
}

void ipvs_rs_proc_remove(struct net *net)
{
	remove_proc_entry("ip_vs_ext_stats", net->proc_net);
	remove_proc_entry("ip_vs_conn", net->proc_net);
	remove_proc_entry("ip_vs_stats", net->proc_net);
	remove_proc_entry("ip_vs", net->proc_net);
}

/*
 * --- netfilter hooks: the same places and priorities as upstream IPVS
 * (net/netfilter/ipvs/ip_vs_core.c, ip_vs_ops4[]), less upstream's
 * LOCAL_OUT ip_vs_local_reply4, which has nothing to do here (real servers
 * on the director are forwarding method Local: nothing to translate).
 * Registered in a namespace with its first virtual service (netns.rs).
 */
const struct nf_hook_ops ipvs_rs_nf_ops[] = {
	/* Replies from a real server to a local client (NAT) or to a local
	 * address (FULLNAT), LOCAL_IN. */
	{ .hook = ipvs_rs_local_in_reply4, .pf = NFPROTO_IPV4,
	  .hooknum = NF_INET_LOCAL_IN, .priority = NF_IP_PRI_NAT_SRC - 2 },
	/* Requests to a virtual service. */
	{ .hook = ipvs_rs_remote_request4, .pf = NFPROTO_IPV4,
	  .hooknum = NF_INET_LOCAL_IN, .priority = NF_IP_PRI_NAT_SRC - 1 },
	/* Requests from local clients. */
	{ .hook = ipvs_rs_local_request4, .pf = NFPROTO_IPV4,
	  .hooknum = NF_INET_LOCAL_OUT, .priority = NF_IP_PRI_NAT_DST + 2 },
	/* ICMP errors about forwarded connections. */
	{ .hook = ipvs_rs_forward_icmp4, .pf = NFPROTO_IPV4,
	  .hooknum = NF_INET_FORWARD, .priority = 99 },
	/* NAT replies passing through the director. */
	{ .hook = ipvs_rs_reply4, .pf = NFPROTO_IPV4,
	  .hooknum = NF_INET_FORWARD, .priority = 100 },
};
const unsigned int ipvs_rs_nf_ops_count = ARRAY_SIZE(ipvs_rs_nf_ops);

/* --- generic netlink family IPVS, version 1: upstream's ABI --- */

/*
 * No attribute policy: the family has maxattr 0, so genetlink hands the raw
 * payload to Rust, which validates it (ipvs_core::netlink). Every command
 * needs CAP_NET_ADMIN in the caller's network namespace.
 */
#define IPVS_RS_DO(c)	{ .cmd = (c), .flags = GENL_UNS_ADMIN_PERM, \
			  .doit = ipvs_rs_genl_doit }
#define IPVS_RS_DUMP(c)	{ .cmd = (c), .flags = GENL_UNS_ADMIN_PERM, \
			  .doit = ipvs_rs_genl_doit, .dumpit = ipvs_rs_genl_dumpit }

static const struct genl_small_ops ipvs_rs_genl_ops[] = {
	IPVS_RS_DO(IPVS_CMD_NEW_SERVICE),
	IPVS_RS_DO(IPVS_CMD_SET_SERVICE),
	IPVS_RS_DO(IPVS_CMD_DEL_SERVICE),
	IPVS_RS_DUMP(IPVS_CMD_GET_SERVICE),
	IPVS_RS_DO(IPVS_CMD_NEW_DEST),
	IPVS_RS_DO(IPVS_CMD_SET_DEST),
	IPVS_RS_DO(IPVS_CMD_DEL_DEST),
	IPVS_RS_DUMP(IPVS_CMD_GET_DEST),
	IPVS_RS_DO(IPVS_CMD_NEW_DAEMON),
	IPVS_RS_DO(IPVS_CMD_DEL_DAEMON),
	IPVS_RS_DUMP(IPVS_CMD_GET_DAEMON),
	IPVS_RS_DO(IPVS_CMD_SET_CONFIG),
	IPVS_RS_DO(IPVS_CMD_GET_CONFIG),
	IPVS_RS_DO(IPVS_CMD_GET_INFO),
	IPVS_RS_DO(IPVS_CMD_ZERO),
	IPVS_RS_DO(IPVS_CMD_FLUSH),
};

struct genl_family ipvs_rs_genl_family = {
	.name = IPVS_GENL_NAME,
	.version = IPVS_GENL_VERSION,
	.maxattr = 0,
	.netnsok = true,
	.parallel_ops = true,
	.module = THIS_MODULE,
	.small_ops = ipvs_rs_genl_ops,
	.n_small_ops = ARRAY_SIZE(ipvs_rs_genl_ops),
	.resv_start_op = IPVS_CMD_FLUSH + 1,
};

/*
 * --- generic netlink family IPVS_RS, version 1: what the IPVS family cannot
 * express (FULLNAT local addresses, TOA). A family of its own so nothing can
 * collide with future upstream commands; see Documentation/extension.rst
 * and ipvs_core::netlink::ext. Same rules as IPVS: raw attributes
 * validated in Rust, CAP_NET_ADMIN in the caller's namespace.
 */
#define IPVS_RS_EXT_DO(c)	{ .cmd = (c), .flags = GENL_UNS_ADMIN_PERM, \
				  .doit = ipvs_rs_ext_doit }
#define IPVS_RS_EXT_DUMP(c)	{ .cmd = (c), .flags = GENL_UNS_ADMIN_PERM, \
				  .dumpit = ipvs_rs_ext_dumpit }

static const struct genl_small_ops ipvs_rs_ext_genl_ops[] = {
	IPVS_RS_EXT_DO(IPVS_RS_CMD_NEW_LADDR),
	IPVS_RS_EXT_DO(IPVS_RS_CMD_DEL_LADDR),
	IPVS_RS_EXT_DUMP(IPVS_RS_CMD_GET_LADDR),
	IPVS_RS_EXT_DO(IPVS_RS_CMD_SET_SVC),
	IPVS_RS_EXT_DO(IPVS_RS_CMD_GET_SVC),
};

struct genl_family ipvs_rs_ext_genl_family = {
	.name = "IPVS_RS",
	.version = 1,
	.maxattr = 0,
	.netnsok = true,
	.parallel_ops = true,
	.module = THIS_MODULE,
	.small_ops = ipvs_rs_ext_genl_ops,
	.n_small_ops = ARRAY_SIZE(ipvs_rs_ext_genl_ops),
	.resv_start_op = IPVS_RS_CMD_GET_SVC + 1,
};

struct net *ipvs_rs_genl_info_net(const struct genl_info *info)
{
	return genl_info_net(info);
}

struct net *ipvs_rs_cb_net(const struct netlink_callback *cb)
{
	return sock_net(cb->skb->sk);
}

void ipvs_rs_extack_set_msg(struct netlink_ext_ack *extack, const char *msg)
{
	/*
	 * NL_SET_ERR_MSG() without its string-literal copy: msg is a static
	 * Rust string, valid when the ack is built after the handler returns.
	 */
	if (extack)
		extack->_msg = msg;
}

int ipvs_rs_genl_reply(struct genl_info *info, u8 cmd, const void *attrs,
		       u32 len)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(len, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, info->family, 0, cmd);
	if (!hdr || skb_tailroom(msg) < len) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	skb_put_data(msg, attrs, len);
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

int ipvs_rs_genl_dump_put(struct sk_buff *skb, struct netlink_callback *cb,
			  u8 cmd, const void *attrs, u32 len)
{
	void *hdr;

	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  genl_info_dump(cb)->family, NLM_F_MULTI, cmd);
	if (!hdr)
		return -EMSGSIZE;
	if (skb_tailroom(skb) < len) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	skb_put_data(skb, attrs, len);
	genlmsg_end(skb, hdr);
	return 0;
}

/* --- refusing upstream ip_vs while loaded --- */

struct notifier_block ipvs_rs_module_nb = {
	.notifier_call = ipvs_rs_module_notify,
};

const char *ipvs_rs_module_name(const struct module *mod)
{
	return mod->name;
}

/*
 * --- data path: mechanical skb, route and transmit steps. What to do with
 * a packet is decided in Rust (rust/ipvs_rs/xmit.rs, dataplane.rs). ---
 */

/* The network header, with at least len bytes linear (and writable). */
unsigned char *ipvs_rs_skb_header(struct sk_buff *skb, unsigned int len,
				  bool writable)
{
	if (writable ? skb_ensure_writable(skb, len) : !pskb_may_pull(skb, len))
		return NULL;
	return skb_network_header(skb);
}

/*
 * A hook's first look at a packet, in one call: NULL for the director's own
 * packets (ipvs_property) and when the headers cannot be pulled; otherwise
 * the network header with min(max, *len) bytes linear, where *len is the
 * length from the network header on.
 */
unsigned char *ipvs_rs_skb_look(struct sk_buff *skb, unsigned int max,
				unsigned int *len)
{
	unsigned int n;

	if (skb->ipvs_property)
		return NULL;
	n = skb->len - skb_network_offset(skb);
	*len = n;
	if (!pskb_may_pull(skb, min(n, max)))
		return NULL;
	return skb_network_header(skb);
}

/*
 * The first *len bytes from the network header (fewer if the packet is
 * shorter: *len is set to how many), linear and writable, for rewriting
 * headers in place with incremental checksum updates: *summed is
 * skb->ip_summed before the rewrite, and a CHECKSUM_COMPLETE skb becomes
 * CHECKSUM_NONE (skb->csum will not match the rewritten bytes). NULL, and
 * the skb's checksum state untouched, if the bytes cannot be made writable.
 */
unsigned char *ipvs_rs_skb_rewrite(struct sk_buff *skb, unsigned int *len,
				   u8 *summed)
{
	unsigned int n = min(*len, skb->len - skb_network_offset(skb));

	if (skb_ensure_writable(skb, n))
		return NULL;
	*len = n;
	*summed = skb->ip_summed;
	if (skb->ip_summed == CHECKSUM_COMPLETE)
		skb->ip_summed = CHECKSUM_NONE;
	return skb_network_header(skb);
}

/* Bytes from the network header to the end of the packet. */
unsigned int ipvs_rs_skb_len(const struct sk_buff *skb)
{
	return skb->len - skb_network_offset(skb);
}

u8 ipvs_rs_skb_ip_summed(const struct sk_buff *skb)
{
	return skb->ip_summed;
}

u32 ipvs_rs_skb_mark(const struct sk_buff *skb)
{
	return skb->mark;
}

bool ipvs_rs_skb_ipvs_property(const struct sk_buff *skb)
{
	return skb->ipvs_property;
}

void ipvs_rs_kfree_skb(struct sk_buff *skb)
{
	kfree_skb(skb);
}

/* A route to daddr (as next hop only, with known_nh), as upstream's
 * do_output_route4. Returns a held route or NULL. */
struct rtable *ipvs_rs_route4(struct net *net, __be32 daddr, bool known_nh,
			      bool *local, unsigned int *mtu, __be32 *saddr)
{
	struct flowi4 fl4;
	struct rtable *rt;

	memset(&fl4, 0, sizeof(fl4));
	fl4.daddr = daddr;
	fl4.flowi4_flags = known_nh ? FLOWI_FLAG_KNOWN_NH : 0;
	rt = ip_route_output_key(net, &fl4);
	if (IS_ERR(rt))
		return NULL;
	*local = !!(rt->rt_flags & RTCF_LOCAL);
	*mtu = dst_mtu(&rt->dst);
	*saddr = fl4.saddr;
	return rt;
}

/*
 * A real server's cached route (upstream's dest->dest_dst): readers use it
 * under RCU without a reference (skb_dst_set_noref); a stale one
 * (dst_check) is replaced under the lock. The replaced route is released
 * with dst_release, which frees it only after a grace period.
 */
void ipvs_rs_dst_cache_init(struct ipvs_rs_dst_cache *c)
{
	spin_lock_init(&c->lock);
	RCU_INIT_POINTER(c->rt, NULL);
	c->saddr = 0;
	c->local = false;
	c->known_nh = false;
}

/* The cache's miss: a new route, published (out of line, so the hit
 * path does not set up the lookup's flow key). */
static noinline struct rtable *
ipvs_rs_dst_cache_refresh(struct ipvs_rs_dst_cache *c, struct net *net,
			  __be32 daddr, bool known_nh)
{
	struct rtable *rt, *old;
	struct flowi4 fl4;

	memset(&fl4, 0, sizeof(fl4));
	fl4.daddr = daddr;
	fl4.flowi4_flags = known_nh ? FLOWI_FLAG_KNOWN_NH : 0;
	rt = ip_route_output_key(net, &fl4);
	if (IS_ERR(rt))
		return NULL;
	spin_lock_bh(&c->lock);
	old = rcu_replace_pointer(c->rt, rt, lockdep_is_held(&c->lock));
	WRITE_ONCE(c->saddr, fl4.saddr);
	WRITE_ONCE(c->local, !!(rt->rt_flags & RTCF_LOCAL));
	WRITE_ONCE(c->known_nh, known_nh);
	spin_unlock_bh(&c->lock);
	if (old)
		dst_release(&old->dst);
	return rt;
}

struct rtable *ipvs_rs_dst_cache_get(struct ipvs_rs_dst_cache *c,
				     struct net *net, __be32 daddr,
				     bool known_nh, bool *local,
				     unsigned int *mtu, __be32 *saddr)
{
	struct rtable *rt;

	rt = rcu_dereference(c->rt);
	if (unlikely(!rt || READ_ONCE(c->known_nh) != known_nh ||
		     (rt->dst.obsolete && !dst_check(&rt->dst, 0)))) {
		rt = ipvs_rs_dst_cache_refresh(c, net, daddr, known_nh);
		if (!rt)
			return NULL;
	}
	*local = READ_ONCE(c->local);
	*saddr = READ_ONCE(c->saddr);
	*mtu = dst_mtu(&rt->dst);
	return rt;
}

void ipvs_rs_dst_cache_reset(struct ipvs_rs_dst_cache *c)
{
	struct rtable *old;

	spin_lock_bh(&c->lock);
	old = rcu_replace_pointer(c->rt, NULL, lockdep_is_held(&c->lock));
	spin_unlock_bh(&c->lock);
	if (old)
		dst_release(&old->dst);
}

/*
 * A slot of a table of routes by destination address (FULLNAT replies'
 * routes to their clients): the route, the address it is for and what the
 * lookup said, in one entry published with RCU, so a reader sees them
 * together. Readers use the route without a reference; a miss (another
 * address, or a stale route) looks the route up and publishes a new entry
 * without a lock (xchg: of two racing writers, each frees what it
 * replaced). The replaced entry is freed after a grace period
 * (kfree_rcu) and its route released with dst_release, which also frees
 * only after one. Without memory for an entry the looked-up route is
 * returned held (*held): the caller owns the reference.
 */
struct ipvs_rs_rt_entry {
	struct rcu_head rcu;
	struct rtable *rt;
	__be32 daddr;
	__be32 saddr;
	bool local;
};

static void ipvs_rs_rt_entry_free(struct ipvs_rs_rt_entry *e)
{
	if (e) {
		dst_release(&e->rt->dst);
		kfree_rcu(e, rcu);
	}
}

struct rtable *ipvs_rs_rt_slot_get(struct ipvs_rs_rt_slot *s,
				   struct net *net, __be32 daddr, bool *held,
				   bool *local, unsigned int *mtu,
				   __be32 *saddr)
{
	struct ipvs_rs_rt_entry *e;
	struct rtable *rt;
	struct flowi4 fl4;

	e = rcu_dereference(s->e);
	if (e && e->daddr == daddr &&
	    !(e->rt->dst.obsolete && !dst_check(&e->rt->dst, 0))) {
		rt = e->rt;
		*held = false;
		*local = e->local;
		*saddr = e->saddr;
		goto out;
	}
	memset(&fl4, 0, sizeof(fl4));
	fl4.daddr = daddr;
	rt = ip_route_output_key(net, &fl4);
	if (IS_ERR(rt))
		return NULL;
	*local = !!(rt->rt_flags & RTCF_LOCAL);
	*saddr = fl4.saddr;
	*held = true;
	e = kmalloc(sizeof(*e), GFP_ATOMIC | __GFP_NOWARN);
	if (e) {
		/* The entry takes the lookup's reference. */
		e->rt = rt;
		e->daddr = daddr;
		e->saddr = fl4.saddr;
		e->local = *local;
		*held = false;
		ipvs_rs_rt_entry_free(unrcu_pointer(xchg(&s->e, RCU_INITIALIZER(e))));
	}
out:
	*mtu = dst_mtu(&rt->dst);
	return rt;
}

void ipvs_rs_rt_slot_reset(struct ipvs_rs_rt_slot *s)
{
	ipvs_rs_rt_entry_free(unrcu_pointer(xchg(&s->e, NULL)));
}

void ipvs_rs_skb_set_route_noref(struct sk_buff *skb, struct rtable *rt)
{
	skb_dst_drop(skb);
	skb_dst_set_noref(skb, &rt->dst);
}

void ipvs_rs_rt_put(struct rtable *rt)
{
	ip_rt_put(rt);
}

/* Attach a held route to the skb (the skb takes the reference). */
void ipvs_rs_skb_set_route(struct sk_buff *skb, struct rtable *rt)
{
	skb_dst_drop(skb);
	skb_dst_set(skb, &rt->dst);
}

/* Send a routed skb out through LOCAL_OUT, as upstream's
 * ip_vs_nat_send_or_cont / ip_vs_send_or_cont: marked as ours so our own
 * hooks let it pass, detached from conntrack and any early-demux socket. */
static inline void __ipvs_rs_send4(struct net *net, struct sk_buff *skb)
{
#if IS_ENABLED(CONFIG_NF_CONNTRACK)
	enum ip_conntrack_info ctinfo;
	struct nf_conn *ct = nf_ct_get(skb, &ctinfo);

	if (ct) {
		nf_conntrack_put(&ct->ct_general);
		nf_ct_set(skb, NULL, IP_CT_UNTRACKED);
	}
#endif
	skb->ipvs_property = 1;
	/* From LOCAL_IN, not from a local socket: drop early demux's socket. */
	if (skb->dev)
		skb_orphan(skb);
	skb_forward_csum(skb);
	if (skb->dev)
		skb_clear_tstamp(skb);
	NF_HOOK(NFPROTO_IPV4, NF_INET_LOCAL_OUT, net, NULL, skb, NULL,
		skb_dst(skb)->dev, dst_output);
}

void ipvs_rs_send4(struct net *net, struct sk_buff *skb)
{
	__ipvs_rs_send4(net, skb);
}

/* ipvs_rs_skb_set_route_noref and ipvs_rs_send4 in one call. */
void ipvs_rs_send4_noref(struct net *net, struct sk_buff *skb,
			 struct rtable *rt)
{
	skb_dst_drop(skb);
	skb_dst_set_noref(skb, &rt->dst);
	__ipvs_rs_send4(net, skb);
}

/* Make room for len bytes of outer header before the network header and
 * make them the new network header (tunnels). */
unsigned char *ipvs_rs_skb_push_outer4(struct sk_buff *skb, unsigned int len)
{
	if (skb_cow_head(skb, len + LL_RESERVED_SPACE(skb_dst(skb)->dev)))
		return NULL;
	/* GSO packets must be segmented as IPIP (upstream's
	 * iptunnel_handle_offloads with __tun_gso_type_mask). */
	if (iptunnel_handle_offloads(skb, SKB_GSO_IPXIP4))
		return NULL;
	skb_set_inner_ipproto(skb, IPPROTO_IPIP);
	skb_push(skb, len);
	skb_reset_network_header(skb);
	memset(IPCB(skb), 0, sizeof(*IPCB(skb)));
	return skb_network_header(skb);
}

void ipvs_rs_icmp_send4(struct sk_buff *skb, int type, int code, __be32 info)
{
	icmp_send(skb, type, code, info);
}

/* Upstream's ip_vs_exceeds_mtu: GSO packets are measured per segment. */
/*
 * An ICMP error about one of our IPIP packets (the tunnel case of upstream's
 * ip_vs_in_icmp): drop the outer IP and ICMP headers (`off` bytes) so the
 * data starts at our IPIP header, and let the route towards the real
 * server learn the reported MTU.
 */
int ipvs_rs_skb_ipip_update_pmtu(struct net *net, struct sk_buff *skb,
				 unsigned int off, unsigned int hlen_ipip,
				 u32 mtu)
{
	if (!pskb_pull(skb, off))
		return -EINVAL;
	skb_reset_network_header(skb);
	if (!pskb_may_pull(skb, hlen_ipip))
		return -EINVAL;
	ipv4_update_pmtu(skb, net, mtu, 0, 0);
	return 0;
}

/*
 * Sends an ICMP error about the packet `off` bytes into the data (with an
 * IP header of `hlen` bytes) to its source, then frees the skb.
 */
void ipvs_rs_skb_icmp_send_inner(struct sk_buff *skb, unsigned int off,
				 unsigned int hlen, int type, int code,
				 __be32 info)
{
	if (!pskb_pull(skb, off))
		goto out;
	skb_reset_network_header(skb);
	memset(&(IPCB(skb)->opt), 0, sizeof(IPCB(skb)->opt));
	if (!pskb_may_pull(skb, hlen))
		goto out;
	skb_set_transport_header(skb, hlen);
	if (ip_hdr(skb)->ihl * 4 != hlen)
		goto out;
	icmp_send(skb, type, code, info);
out:
	consume_skb(skb);
}

/*
 * Reassembles a forwarded fragment (upstream's ip_vs_gather_frags for the
 * FORWARD hook). Returns 0 with the whole datagram in skb, or non-zero if
 * the fragment was queued or dropped (the skb is no longer ours).
 */
int ipvs_rs_skb_defrag4(struct net *net, struct sk_buff *skb)
{
	int err;

	local_bh_disable();
	err = ip_defrag(net, skb, IP_DEFRAG_VS_FWD);
	local_bh_enable();
	if (!err)
		ip_send_check(ip_hdr(skb));
	return err;
}

/*
 * Makes `len` bytes of room right after the first `hdr_len` bytes (the IP
 * and TCP headers) by moving those headers towards the head: the TOA
 * option goes into the gap. Returns the new start of the IP header, or
 * NULL if memory is short (the skb is unchanged then).
 */
unsigned char *ipvs_rs_skb_insert_room(struct sk_buff *skb,
				       unsigned int hdr_len, unsigned int len)
{
	if (skb_ensure_writable(skb, hdr_len) || skb_cow_head(skb, len))
		return NULL;
	skb_push(skb, len);
	memmove(skb->data, skb->data + len, hdr_len);
	skb_reset_network_header(skb);
	skb_set_transport_header(skb, ip_hdrlen(skb));
	if (skb->ip_summed == CHECKSUM_PARTIAL)
		skb->csum_start -= len;
	return skb->data;
}

/* The IP ID of an outer IPIP header, as ip_select_ident picks it (host order). */
u16 ipvs_rs_ip_ident(struct net *net, __be32 saddr, __be32 daddr)
{
	struct iphdr iph = {
		.saddr = saddr,
		.daddr = daddr,
		.protocol = IPPROTO_IPIP,
	};

	__ip_select_ident(net, &iph, 1);
	return ntohs(iph.id);
}

bool ipvs_rs_skb_is_gso(const struct sk_buff *skb)
{
	return skb_is_gso(skb);
}

bool ipvs_rs_skb_exceeds_mtu(const struct sk_buff *skb, unsigned int mtu)
{
	if (skb->len <= mtu)
		return false;
	if (skb_is_gso(skb) && skb_gso_validate_network_len(skb, mtu))
		return false;
	return true;
}

/* After an incremental L4 checksum update a CHECKSUM_COMPLETE value no
 * longer matches the packet. */
void ipvs_rs_skb_csum_rewritten(struct sk_buff *skb)
{
	if (skb->ip_summed == CHECKSUM_COMPLETE)
		skb->ip_summed = CHECKSUM_NONE;
}

/* --- RCU, bottom halves, timers, randomness --- */

void ipvs_rs_rcu_read_lock(void)
{
	rcu_read_lock();
}

void ipvs_rs_rcu_read_unlock(void)
{
	rcu_read_unlock();
}

/*
 * Bottom halves off, unless they are already (softirq context, where the
 * packet path runs, or a caller that disabled them): true if this call
 * disabled them and the matching ipvs_rs_local_bh_enable is due. Spares
 * the packet path local_bh_enable's pending-softirq check.
 */
bool ipvs_rs_local_bh_disable(void)
{
	if (softirq_count())
		return false;
	local_bh_disable();
	return true;
}

void ipvs_rs_local_bh_enable(void)
{
	local_bh_enable();
}

void ipvs_rs_timer_setup(struct timer_list *timer,
			 void (*fn)(struct timer_list *))
{
	timer_setup(timer, fn, 0);
}

/*
 * --- the connection cache (upstream's ip_vs_conn_cachep): objects of
 * exactly the size Rust asks for, no cache-line rounding, so that memory
 * per connection stays below upstream's. Created before any namespace,
 * destroyed after the last one (whose exit waited for the RCU frees).
 */
static struct kmem_cache *ipvs_rs_conn_cachep;

int ipvs_rs_conn_cache_create(unsigned int size, unsigned int align)
{
	ipvs_rs_conn_cachep = kmem_cache_create("ipvs_rs_conn", size, align, 0,
						NULL);
	return ipvs_rs_conn_cachep ? 0 : -ENOMEM;
}

void ipvs_rs_conn_cache_destroy(void)
{
	kmem_cache_destroy(ipvs_rs_conn_cachep);
	ipvs_rs_conn_cachep = NULL;
}

void *ipvs_rs_conn_alloc(void)
{
	return kmem_cache_alloc(ipvs_rs_conn_cachep, GFP_ATOMIC);
}

void ipvs_rs_conn_free(void *conn)
{
	kmem_cache_free(ipvs_rs_conn_cachep, conn);
}

/* The connection table's writer locks (upstream's ct_write_lock_bh). */
void ipvs_rs_conn_lock_init(spinlock_t *lock)
{
	spin_lock_init(lock);
}

/* The lock with bottom halves off (as ipvs_rs_local_bh_disable: only
 * disabled here if they are not already); true if the unlock must enable
 * them again. */
bool ipvs_rs_conn_lock_bh(spinlock_t *lock)
{
	if (softirq_count()) {
		spin_lock(lock);
		return false;
	}
	spin_lock_bh(lock);
	return true;
}

void ipvs_rs_conn_unlock_bh(spinlock_t *lock, bool bh)
{
	if (bh)
		spin_unlock_bh(lock);
	else
		spin_unlock(lock);
}

u32 ipvs_rs_random_u32(void)
{
	return get_random_u32();
}

u64 ipvs_rs_random_u64(void)
{
	return get_random_u64();
}

/*
 * --- /proc/sys/net/ipv4/vs: the sysctls that apply, with upstream's names,
 * handlers and defaults. The values live in Rust's per-namespace state
 * (an int array indexed by enum ipvs_rs_sysctl); Rust reads them. ---
 */
static const struct ctl_table ipvs_rs_sysctl_template[IPVS_RS_SYSCTL_COUNT] = {
	[IPVS_RS_SYSCTL_EXPIRE_NODEST_CONN] = {
		.procname = "expire_nodest_conn", .maxlen = sizeof(int),
		.mode = 0644, .proc_handler = proc_dointvec },
	[IPVS_RS_SYSCTL_EXPIRE_QUIESCENT_TEMPLATE] = {
		.procname = "expire_quiescent_template", .maxlen = sizeof(int),
		.mode = 0644, .proc_handler = proc_dointvec },
	[IPVS_RS_SYSCTL_CONN_REUSE_MODE] = {
		.procname = "conn_reuse_mode", .maxlen = sizeof(int),
		.mode = 0644, .proc_handler = proc_dointvec },
	[IPVS_RS_SYSCTL_SLOPPY_TCP] = {
		.procname = "sloppy_tcp", .maxlen = sizeof(int),
		.mode = 0644, .proc_handler = proc_dointvec },
	[IPVS_RS_SYSCTL_SLOPPY_SCTP] = {
		.procname = "sloppy_sctp", .maxlen = sizeof(int),
		.mode = 0644, .proc_handler = proc_dointvec },
	[IPVS_RS_SYSCTL_NAT_ICMP_SEND] = {
		.procname = "nat_icmp_send", .maxlen = sizeof(int),
		.mode = 0644, .proc_handler = proc_dointvec },
	[IPVS_RS_SYSCTL_PMTU_DISC] = {
		.procname = "pmtu_disc", .maxlen = sizeof(int),
		.mode = 0644, .proc_handler = proc_dointvec },
	[IPVS_RS_SYSCTL_SCHEDULE_ICMP] = {
		.procname = "schedule_icmp", .maxlen = sizeof(int),
		.mode = 0644, .proc_handler = proc_dointvec },
	[IPVS_RS_SYSCTL_RUN_ESTIMATION] = {
		.procname = "run_estimation", .maxlen = sizeof(int),
		.mode = 0644, .proc_handler = proc_dointvec_minmax,
		.extra1 = SYSCTL_ZERO, .extra2 = SYSCTL_ONE },
	[IPVS_RS_SYSCTL_LBLC_EXPIRATION] = {
		.procname = "lblc_expiration", .maxlen = sizeof(int),
		.mode = 0644, .proc_handler = proc_dointvec_jiffies },
	[IPVS_RS_SYSCTL_LBLCR_EXPIRATION] = {
		.procname = "lblcr_expiration", .maxlen = sizeof(int),
		.mode = 0644, .proc_handler = proc_dointvec_jiffies },
	/* SYNPROXY: ranges are enforced where Rust reads the values. */
	[IPVS_RS_SYSCTL_SYNPROXY_INIT_MSS] = {
		.procname = "synproxy_init_mss", .maxlen = sizeof(int),
		.mode = 0644, .proc_handler = proc_dointvec },
	[IPVS_RS_SYSCTL_SYNPROXY_SACK] = {
		.procname = "synproxy_sack", .maxlen = sizeof(int),
		.mode = 0644, .proc_handler = proc_dointvec },
	[IPVS_RS_SYSCTL_SYNPROXY_WSCALE] = {
		.procname = "synproxy_wscale", .maxlen = sizeof(int),
		.mode = 0644, .proc_handler = proc_dointvec },
	[IPVS_RS_SYSCTL_SYNPROXY_TIMESTAMP] = {
		.procname = "synproxy_timestamp", .maxlen = sizeof(int),
		.mode = 0644, .proc_handler = proc_dointvec },
	[IPVS_RS_SYSCTL_SYNPROXY_SYNACK_TTL] = {
		.procname = "synproxy_synack_ttl", .maxlen = sizeof(int),
		.mode = 0644, .proc_handler = proc_dointvec },
	[IPVS_RS_SYSCTL_SYNPROXY_DEFER] = {
		.procname = "synproxy_defer", .maxlen = sizeof(int),
		.mode = 0644, .proc_handler = proc_dointvec },
	[IPVS_RS_SYSCTL_SYNPROXY_DUP_ACK_THRESH] = {
		.procname = "synproxy_dup_ack_thresh", .maxlen = sizeof(int),
		.mode = 0644, .proc_handler = proc_dointvec },
	[IPVS_RS_SYSCTL_SYNPROXY_SKB_STORE_THRESH] = {
		.procname = "synproxy_skb_store_thresh", .maxlen = sizeof(int),
		.mode = 0644, .proc_handler = proc_dointvec },
	[IPVS_RS_SYSCTL_SYNPROXY_SYN_RETRY] = {
		.procname = "synproxy_syn_retry", .maxlen = sizeof(int),
		.mode = 0644, .proc_handler = proc_dointvec },
};

void *ipvs_rs_sysctl_register(struct net *net, int *vals)
{
	struct ctl_table_header *hdr;
	struct ctl_table *tbl;
	unsigned int i;

	tbl = kmemdup(ipvs_rs_sysctl_template, sizeof(ipvs_rs_sysctl_template),
		      GFP_KERNEL);
	if (!tbl)
		return NULL;
	for (i = 0; i < IPVS_RS_SYSCTL_COUNT; i++)
		tbl[i].data = &vals[i];
	hdr = register_net_sysctl_sz(net, "net/ipv4/vs", tbl,
				     IPVS_RS_SYSCTL_COUNT);
	if (!hdr)
		kfree(tbl);
	return hdr;
}

void ipvs_rs_sysctl_unregister(void *header)
{
	struct ctl_table_header *hdr = header;
	const struct ctl_table *tbl = hdr->ctl_table_arg;

	unregister_net_sysctl_table(hdr);
	kfree(tbl);
}

/* --- the per-namespace periodic work (estimators, scheduler caches) --- */
void ipvs_rs_delayed_work_init(struct delayed_work *dw,
			       void (*fn)(struct work_struct *))
{
	INIT_DELAYED_WORK(dw, fn);
}

struct delayed_work *ipvs_rs_to_delayed_work(struct work_struct *w)
{
	return to_delayed_work(w);
}

bool ipvs_rs_schedule_delayed_work(struct delayed_work *dw,
				   unsigned long delay)
{
	return queue_delayed_work(system_long_wq, dw, delay);
}

/*
 * --- per-CPU counters of services, real servers and the namespace
 * (upstream's cpustats): no atomics on the packet path; the totals are
 * summed over the CPUs when read. u64 loads and stores are single
 * instructions on the 64-bit architectures ipvs_rs builds for.
 */
void *ipvs_rs_stats_alloc(void)
{
	return (void __force *)alloc_percpu(struct ipvs_rs_cpustats);
}

void ipvs_rs_stats_free(void *p)
{
	free_percpu((struct ipvs_rs_cpustats __percpu __force *)p);
}

/* One packet on a service, its real server and the namespace at once,
 * spelt out (six per-CPU additions, no loop). */
#define IPVS_RS_PCPU(p) ((struct ipvs_rs_cpustats __percpu __force *)(p))
void ipvs_rs_stats3_in(void *svc, void *dest, void *total, unsigned int bytes)
{
	this_cpu_inc(IPVS_RS_PCPU(svc)->inpkts);
	this_cpu_add(IPVS_RS_PCPU(svc)->inbytes, bytes);
	this_cpu_inc(IPVS_RS_PCPU(dest)->inpkts);
	this_cpu_add(IPVS_RS_PCPU(dest)->inbytes, bytes);
	this_cpu_inc(IPVS_RS_PCPU(total)->inpkts);
	this_cpu_add(IPVS_RS_PCPU(total)->inbytes, bytes);
}

void ipvs_rs_stats3_out(void *svc, void *dest, void *total, unsigned int bytes)
{
	this_cpu_inc(IPVS_RS_PCPU(svc)->outpkts);
	this_cpu_add(IPVS_RS_PCPU(svc)->outbytes, bytes);
	this_cpu_inc(IPVS_RS_PCPU(dest)->outpkts);
	this_cpu_add(IPVS_RS_PCPU(dest)->outbytes, bytes);
	this_cpu_inc(IPVS_RS_PCPU(total)->outpkts);
	this_cpu_add(IPVS_RS_PCPU(total)->outbytes, bytes);
}

/* A new connection on a service, its real server and the namespace. */
void ipvs_rs_stats_conn3(void *svc, void *dest, void *total)
{
	this_cpu_inc(IPVS_RS_PCPU(svc)->conns);
	this_cpu_inc(IPVS_RS_PCPU(dest)->conns);
	this_cpu_inc(IPVS_RS_PCPU(total)->conns);
}

void ipvs_rs_stats_sum(void *p, struct ipvs_rs_cpustats *out)
{
	struct ipvs_rs_cpustats __percpu *s = (void __percpu __force *)p;
	int cpu;

	memset(out, 0, sizeof(*out));
	for_each_possible_cpu(cpu) {
		const struct ipvs_rs_cpustats *c = per_cpu_ptr(s, cpu);

		out->conns += READ_ONCE(c->conns);
		out->inpkts += READ_ONCE(c->inpkts);
		out->outpkts += READ_ONCE(c->outpkts);
		out->inbytes += READ_ONCE(c->inbytes);
		out->outbytes += READ_ONCE(c->outbytes);
	}
}

/*
 * --- SYNPROXY (synproxy.rs): the packets the director builds itself (its
 * cookie SYN-ACKs, the SYN to the real server, window updates, resets),
 * and client packets it holds while the real server answers. ---
 */
struct sk_buff *ipvs_rs_skb_alloc4(const void *data, unsigned int len)
{
	const unsigned int room = MAX_HEADER + 64;
	struct sk_buff *skb;

	if (len < sizeof(struct iphdr))
		return NULL;
	skb = alloc_skb(room + len, GFP_ATOMIC);
	if (!skb)
		return NULL;
	skb_reserve(skb, room);
	skb_reset_network_header(skb);
	skb_put_data(skb, data, len);
	skb_set_transport_header(skb, ip_hdr(skb)->ihl * 4);
	skb->protocol = htons(ETH_P_IP);
	return skb;
}

/* A packet held past its hook: no socket, route, conntrack entry or device
 * it would keep a reference to (or a stale pointer of). */
void ipvs_rs_skb_detach(struct sk_buff *skb)
{
	skb_orphan(skb);
	skb_dst_drop(skb);
	nf_reset_ct(skb);
	skb->dev = NULL;
}
