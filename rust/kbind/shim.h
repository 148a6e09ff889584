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
struct notifier_block;
struct pernet_operations;
struct seq_file;
struct sk_buff;

/* --- ipvs_rs: registration objects (ipvs_rs_shim.c) --- */
extern struct genl_family ipvs_rs_genl_family;
extern struct pernet_operations ipvs_rs_pernet_ops;
extern struct notifier_block ipvs_rs_module_nb;
extern const struct nf_hook_ops ipvs_rs_nf_ops[];
extern const unsigned int ipvs_rs_nf_ops_count;

/* --- ipvs_rs: module parameters --- */
unsigned int ipvs_rs_param_conn_tab_bits(void);

/* --- ipvs_rs: /proc/net files of a namespace (ipvs_rs_shim.c) --- */
enum ipvs_rs_proc_file {
	IPVS_RS_PROC_INFO,	/* /proc/net/ip_vs */
	IPVS_RS_PROC_STATS,	/* /proc/net/ip_vs_stats */
	IPVS_RS_PROC_CONN,	/* /proc/net/ip_vs_conn */
};
int ipvs_rs_proc_create(struct net *net);
void ipvs_rs_proc_remove(struct net *net);
unsigned int ipvs_rs_hz(void);

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

#endif /* IPVS_RS_SHIM_H */
