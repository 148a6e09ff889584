/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C side of the modules, as seen from Rust: registration objects the
 * Rust side cannot build (they embed THIS_MODULE, macros, or are statics the
 * kernel links into its lists) and wrappers for static inline helpers.
 * Nothing here decides anything; see rust/ipvs_rs/ipvs_rs_shim.c.
 */
#ifndef IPVS_RS_SHIM_H
#define IPVS_RS_SHIM_H

#include <linux/types.h>

struct genl_family;
struct genl_info;
struct module;
struct net;
struct netlink_callback;
struct netlink_ext_ack;
struct nf_hook_ops;
struct nf_hook_state;
struct notifier_block;
struct pernet_operations;
struct seq_file;
struct sk_buff;

/* --- ipvs_rs: registration objects (ipvs_rs_shim.c) --- */
extern struct genl_family ipvs_rs_genl_family;
extern struct genl_family ipvs_rs_ext_genl_family;
/* Commands of the IPVS_RS family (ipvs_core::netlink::ext::cmd). */
enum {
	IPVS_RS_CMD_NEW_LADDR = 1,
	IPVS_RS_CMD_DEL_LADDR = 2,
	IPVS_RS_CMD_GET_LADDR = 3,
	IPVS_RS_CMD_SET_SVC = 4,
	IPVS_RS_CMD_GET_SVC = 5,
};
extern struct pernet_operations ipvs_rs_pernet_ops;
extern struct notifier_block ipvs_rs_module_nb;
extern const struct nf_hook_ops ipvs_rs_nf_ops[];
extern const unsigned int ipvs_rs_nf_ops_count;

/* --- ipvs_rs: module parameters --- */
unsigned int ipvs_rs_param_conn_tab_bits(void);
unsigned int ipvs_rs_param_conn_max(void);
unsigned int ipvs_rs_param_fnat_ports(void);

/* --- ipvs_rs: /proc/net files of a namespace (ipvs_rs_shim.c) --- */
enum ipvs_rs_proc_file {
	IPVS_RS_PROC_INFO,	/* /proc/net/ip_vs */
	IPVS_RS_PROC_STATS,	/* /proc/net/ip_vs_stats */
	IPVS_RS_PROC_CONN,	/* /proc/net/ip_vs_conn */
	IPVS_RS_PROC_EXT,	/* /proc/net/ip_vs_ext_stats */
};
int ipvs_rs_proc_create(struct net *net);
void ipvs_rs_proc_remove(struct net *net);

/* --- wrappers of static inline kernel helpers --- */
void **ipvs_rs_net_slot(const struct net *net);
struct net *ipvs_rs_genl_info_net(const struct genl_info *info);
struct net *ipvs_rs_cb_net(const struct netlink_callback *cb);
const char *ipvs_rs_module_name(const struct module *mod);
void ipvs_rs_extack_set_msg(struct netlink_ext_ack *extack, const char *msg);
int ipvs_rs_genl_reply(struct genl_info *info, u8 cmd, const void *attrs,
		       u32 len);
int ipvs_rs_genl_dump_put(struct sk_buff *skb, struct netlink_callback *cb,
			  u8 cmd, const void *attrs, u32 len);

/* --- data path: skb, routes, transmit (ipvs_rs_shim.c) --- */
struct rtable;
struct timer_list;
unsigned char *ipvs_rs_skb_header(struct sk_buff *skb, unsigned int len,
				  bool writable);
unsigned int ipvs_rs_skb_len(const struct sk_buff *skb);
unsigned char *ipvs_rs_skb_rewrite(struct sk_buff *skb, unsigned int *len,
				   u8 *summed);
unsigned char *ipvs_rs_skb_look(struct sk_buff *skb, unsigned int max,
				unsigned int *len);
u8 ipvs_rs_skb_ip_summed(const struct sk_buff *skb);
u32 ipvs_rs_skb_mark(const struct sk_buff *skb);
bool ipvs_rs_skb_ipvs_property(const struct sk_buff *skb);
void ipvs_rs_kfree_skb(struct sk_buff *skb);
struct rtable *ipvs_rs_route4(struct net *net, __be32 daddr, bool known_nh,
			      bool *local, unsigned int *mtu, __be32 *saddr);
void ipvs_rs_rt_put(struct rtable *rt);

/* A real server's cached route (ipvs_rs_shim.c). */
#include <linux/spinlock_types.h>
struct ipvs_rs_dst_cache {
	spinlock_t lock;
	struct rtable __rcu *rt;
	__be32 saddr;
	bool local;
	bool known_nh;
};
void ipvs_rs_dst_cache_init(struct ipvs_rs_dst_cache *c);
struct rtable *ipvs_rs_dst_cache_get(struct ipvs_rs_dst_cache *c,
				     struct net *net, __be32 daddr,
				     bool known_nh, bool *local,
				     unsigned int *mtu, __be32 *saddr);
void ipvs_rs_dst_cache_reset(struct ipvs_rs_dst_cache *c);

/* One slot of a table of routes by destination address (ipvs_rs_shim.c):
 * NULL or an entry published with RCU. */
struct ipvs_rs_rt_entry;
struct ipvs_rs_rt_slot {
	struct ipvs_rs_rt_entry __rcu *e;
};
struct rtable *ipvs_rs_rt_slot_get(struct ipvs_rs_rt_slot *s,
				   struct net *net, __be32 daddr, bool *held,
				   bool *local, unsigned int *mtu,
				   __be32 *saddr);
void ipvs_rs_rt_slot_reset(struct ipvs_rs_rt_slot *s);
void ipvs_rs_skb_set_route_noref(struct sk_buff *skb, struct rtable *rt);
void ipvs_rs_skb_set_route(struct sk_buff *skb, struct rtable *rt);
void ipvs_rs_send4(struct net *net, struct sk_buff *skb);
void ipvs_rs_send4_noref(struct net *net, struct sk_buff *skb,
			 struct rtable *rt);
unsigned char *ipvs_rs_skb_push_outer4(struct sk_buff *skb, unsigned int len);
void ipvs_rs_icmp_send4(struct sk_buff *skb, int type, int code, __be32 info);
int ipvs_rs_skb_ipip_update_pmtu(struct net *net, struct sk_buff *skb,
				 unsigned int off, unsigned int hlen_ipip,
				 u32 mtu);
void ipvs_rs_skb_icmp_send_inner(struct sk_buff *skb, unsigned int off,
				 unsigned int hlen, int type, int code,
				 __be32 info);
int ipvs_rs_skb_defrag4(struct net *net, struct sk_buff *skb);
unsigned char *ipvs_rs_skb_insert_room(struct sk_buff *skb,
				       unsigned int hdr_len, unsigned int len);
bool ipvs_rs_skb_is_gso(const struct sk_buff *skb);
u16 ipvs_rs_ip_ident(struct net *net, __be32 saddr, __be32 daddr);
bool ipvs_rs_skb_exceeds_mtu(const struct sk_buff *skb, unsigned int mtu);
void ipvs_rs_skb_csum_rewritten(struct sk_buff *skb);

/* --- ipvs_rs: /proc/sys/net/ipv4/vs (ipvs_rs_shim.c) --- */
enum ipvs_rs_sysctl {
	IPVS_RS_SYSCTL_EXPIRE_NODEST_CONN,
	IPVS_RS_SYSCTL_EXPIRE_QUIESCENT_TEMPLATE,
	IPVS_RS_SYSCTL_CONN_REUSE_MODE,
	IPVS_RS_SYSCTL_SLOPPY_TCP,
	IPVS_RS_SYSCTL_SLOPPY_SCTP,
	IPVS_RS_SYSCTL_NAT_ICMP_SEND,
	IPVS_RS_SYSCTL_PMTU_DISC,
	IPVS_RS_SYSCTL_SCHEDULE_ICMP,
	IPVS_RS_SYSCTL_RUN_ESTIMATION,
	IPVS_RS_SYSCTL_LBLC_EXPIRATION,
	IPVS_RS_SYSCTL_LBLCR_EXPIRATION,
	/* SYNPROXY (synproxy.rs), the LVS ecosystem's names and defaults */
	IPVS_RS_SYSCTL_SYNPROXY_INIT_MSS,
	IPVS_RS_SYSCTL_SYNPROXY_SACK,
	IPVS_RS_SYSCTL_SYNPROXY_WSCALE,
	IPVS_RS_SYSCTL_SYNPROXY_TIMESTAMP,
	IPVS_RS_SYSCTL_SYNPROXY_SYNACK_TTL,
	IPVS_RS_SYSCTL_SYNPROXY_DEFER,
	IPVS_RS_SYSCTL_SYNPROXY_DUP_ACK_THRESH,
	IPVS_RS_SYSCTL_SYNPROXY_SKB_STORE_THRESH,
	IPVS_RS_SYSCTL_SYNPROXY_SYN_RETRY,
	IPVS_RS_SYSCTL_COUNT,
};
void *ipvs_rs_sysctl_register(struct net *net, int *vals);
void ipvs_rs_sysctl_unregister(void *header);

/* --- deferred work --- */
struct delayed_work;
struct work_struct;
void ipvs_rs_delayed_work_init(struct delayed_work *dw,
			       void (*fn)(struct work_struct *));
struct delayed_work *ipvs_rs_to_delayed_work(struct work_struct *w);
bool ipvs_rs_schedule_delayed_work(struct delayed_work *dw,
				   unsigned long delay);

/* --- per-CPU counters (ipvs_rs_shim.c) --- */
struct ipvs_rs_cpustats {
	u64 conns;
	u64 inpkts;
	u64 outpkts;
	u64 inbytes;
	u64 outbytes;
};
void *ipvs_rs_stats_alloc(void);
void ipvs_rs_stats_free(void *p);
void ipvs_rs_stats3_in(void *svc, void *dest, void *total, unsigned int bytes);
void ipvs_rs_stats3_out(void *svc, void *dest, void *total, unsigned int bytes);
void ipvs_rs_stats_conn3(void *svc, void *dest, void *total);
void ipvs_rs_stats_sum(void *p, struct ipvs_rs_cpustats *out);

/* --- RCU, bottom halves, timers --- */
void ipvs_rs_rcu_read_lock(void);
void ipvs_rs_rcu_read_unlock(void);
bool ipvs_rs_local_bh_disable(void);
void ipvs_rs_local_bh_enable(void);
void ipvs_rs_timer_setup(struct timer_list *timer,
			 void (*fn)(struct timer_list *));
int ipvs_rs_conn_cache_create(unsigned int size, unsigned int align);
void ipvs_rs_conn_cache_destroy(void);
void *ipvs_rs_conn_alloc(void);
void ipvs_rs_conn_free(void *conn);
void ipvs_rs_conn_lock_init(spinlock_t *lock);
bool ipvs_rs_conn_lock_bh(spinlock_t *lock);
void ipvs_rs_conn_unlock_bh(spinlock_t *lock, bool bh);
u32 ipvs_rs_random_u32(void);
u64 ipvs_rs_random_u64(void);

/* --- SYNPROXY (synproxy.rs): packets the director builds itself --- */
struct sk_buff *ipvs_rs_skb_alloc4(const void *data, unsigned int len);
void ipvs_rs_skb_detach(struct sk_buff *skb);

#endif /* IPVS_RS_SHIM_H */
