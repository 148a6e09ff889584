/* SPDX-License-Identifier: GPL-2.0 */
/*
 * toa_rs: the C side as seen from Rust (registration objects and wrappers
 * of static inline helpers; see toa_rs_shim.c). Included by
 * rust/kbind/bindings_helper.h; toa_rs owns this file.
 */
#ifndef TOA_RS_SHIM_H
#define TOA_RS_SHIM_H

#include <linux/types.h>
#include <linux/spinlock_types.h>

struct kprobe;
struct kretprobe;
struct kretprobe_instance;
struct pt_regs;
struct seq_file;
struct sk_buff;
struct sock;
struct socket;

/* --- the probes (toa_rs_shim.c); Rust registers and unregisters them --- */
extern struct kretprobe toa_rs_krp_syn_recv;	/* tcp_v4_syn_recv_sock */
extern struct kretprobe toa_rs_krp_getname;	/* inet_getname */
extern struct kretprobe toa_rs_krp_getname6;	/* inet6_getname */
extern struct kprobe toa_rs_kp_sock_destruct;	/* inet_sock_destruct */

/* What the entry handlers keep for the return handlers (ri->data). */
struct toa_rs_syn_recv_data {
	bool *own_req;		/* the caller's own_req flag */
	u8 toa[8];		/* the TOA option found on the segment */
};

struct toa_rs_getname_data {
	struct sock *sk;
	void *uaddr;		/* the struct sockaddr being filled in */
};

/* --- module parameters --- */
bool toa_rs_param_enabled(void);
unsigned int toa_rs_param_max_entries(void);

/* --- /proc/net/toa_stats (initial namespace) --- */
int toa_rs_proc_create(void);
void toa_rs_proc_remove(void);

/* --- wrappers of static inline helpers --- */
unsigned long toa_rs_regs_arg(struct pt_regs *regs, unsigned int n);
unsigned long toa_rs_regs_ret(struct pt_regs *regs);
void *toa_rs_ri_data(struct kretprobe_instance *ri);
const u8 *toa_rs_skb_transport(const struct sk_buff *skb, u32 *len);
struct sock *toa_rs_socket_sk(const struct socket *sock);
void toa_rs_sk_peer4(const struct sock *sk, __be32 *addr, __be16 *port);
unsigned long toa_rs_probe_missed(const struct kprobe *kp);
unsigned long toa_rs_rprobe_missed(const struct kretprobe *rp);

/* --- raw spinlocks with interrupts off, usable from probe handlers --- */
void toa_rs_lock_init(raw_spinlock_t *lock);
unsigned long toa_rs_irq_save(void);
void toa_rs_irq_restore(unsigned long flags);
void toa_rs_raw_lock(raw_spinlock_t *lock);
bool toa_rs_raw_trylock(raw_spinlock_t *lock);
void toa_rs_raw_unlock(raw_spinlock_t *lock);
bool toa_rs_in_nmi(void);

#endif /* TOA_RS_SHIM_H */
