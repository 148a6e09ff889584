/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Functions implemented in Rust (#[no_mangle] extern "C") that the C
 * registration objects point at. Included by the C shims only.
 */
#ifndef IPVS_RS_EXPORTS_H
#define IPVS_RS_EXPORTS_H

#include <linux/types.h>

struct genl_info;
struct net;
struct netlink_callback;
struct nf_hook_state;
struct notifier_block;
struct seq_file;
struct sk_buff;

/* ipvs_rs: rust/ipvs_rs/netns.rs */
int ipvs_rs_net_init(struct net *net);
void ipvs_rs_net_exit(struct net *net);

/* ipvs_rs: rust/ipvs_rs/genl.rs */
int ipvs_rs_genl_doit(struct sk_buff *skb, struct genl_info *info);
int ipvs_rs_genl_dumpit(struct sk_buff *skb, struct netlink_callback *cb);
int ipvs_rs_ext_doit(struct sk_buff *skb, struct genl_info *info);
int ipvs_rs_ext_dumpit(struct sk_buff *skb, struct netlink_callback *cb);

/* ipvs_rs: rust/ipvs_rs/procfs.rs */
int ipvs_rs_proc_show(struct seq_file *seq, struct net *net, int which);

/* ipvs_rs: rust/ipvs_rs/guard.rs */
int ipvs_rs_module_notify(struct notifier_block *nb, unsigned long action,
			  void *data);

/* ipvs_rs: rust/ipvs_rs/hooks.rs */
unsigned int ipvs_rs_reply4(void *priv, struct sk_buff *skb,
			    const struct nf_hook_state *state);
unsigned int ipvs_rs_local_in_reply4(void *priv, struct sk_buff *skb,
				     const struct nf_hook_state *state);
unsigned int ipvs_rs_remote_request4(void *priv, struct sk_buff *skb,
				     const struct nf_hook_state *state);
unsigned int ipvs_rs_local_request4(void *priv, struct sk_buff *skb,
				    const struct nf_hook_state *state);
unsigned int ipvs_rs_forward_icmp4(void *priv, struct sk_buff *skb,
				   const struct nf_hook_state *state);

#endif /* IPVS_RS_EXPORTS_H */
