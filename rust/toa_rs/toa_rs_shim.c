// SPDX-License-Identifier: GPL-2.0
/*
 * toa_rs C shim: the probe and proc registration objects, the module
 * parameters and wrappers of static inline helpers. All behaviour lives in
 * Rust (toa_rs_main.rs and the files it mounts); the objects below only
 * point the kernel at the Rust entry points declared here.
 */
#include <linux/hardirq.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/proc_fs.h>
#include <linux/ptrace.h>
#include <linux/seq_file.h>
#include <linux/skbuff.h>
#include <linux/spinlock.h>
#include <net/inet_sock.h>
#include <net/net_namespace.h>
#include <net/sock.h>

#include "toa_rs_shim.h"

/* Implemented in Rust (#[no_mangle] extern "C"): rust/toa_rs/probes.rs. */
int toa_rs_syn_recv_entry(struct kretprobe_instance *ri, struct pt_regs *regs);
int toa_rs_syn_recv_ret(struct kretprobe_instance *ri, struct pt_regs *regs);
int toa_rs_getname_entry(struct kretprobe_instance *ri, struct pt_regs *regs);
int toa_rs_getname_ret(struct kretprobe_instance *ri, struct pt_regs *regs);
int toa_rs_sock_destruct_pre(struct kprobe *p, struct pt_regs *regs);
/* rust/toa_rs/stats.rs */
int toa_rs_proc_show(struct seq_file *seq);

/* --- module parameters (range-checked in Rust) --- */

static bool enabled = true;
module_param(enabled, bool, 0644);
MODULE_PARM_DESC(enabled, "tag new connections that carry TOA (default 1); 0 leaves new connections alone");

bool toa_rs_param_enabled(void)
{
	return READ_ONCE(enabled);
}

static unsigned int max_entries = 65536;
module_param(max_entries, uint, 0444);
MODULE_PARM_DESC(max_entries, "most tagged sockets at once (1..4194304, default 65536); more are counted and left untagged");

unsigned int toa_rs_param_max_entries(void)
{
	return READ_ONCE(max_entries);
}

/* --- the probes --- */

/*
 * The child socket of a completed handshake: the entry sees the segment
 * that completed it (the ACK, or the SYN with Fast Open), the return the
 * new socket. Runs in softirq, or in process context for a listener's
 * backlog; never sleeps.
 */
struct kretprobe toa_rs_krp_syn_recv = {
	.kp.symbol_name = "tcp_v4_syn_recv_sock",
	.entry_handler = toa_rs_syn_recv_entry,
	.handler = toa_rs_syn_recv_ret,
	.data_size = sizeof(struct toa_rs_syn_recv_data),
	.maxactive = 64,
};

/*
 * accept() and getpeername(): inet_getname() takes the socket lock and may
 * sleep, so many calls can be in flight; each holds an instance.
 */
struct kretprobe toa_rs_krp_getname = {
	.kp.symbol_name = "inet_getname",
	.entry_handler = toa_rs_getname_entry,
	.handler = toa_rs_getname_ret,
	.data_size = sizeof(struct toa_rs_getname_data),
	.maxactive = 512,
};

/* The same for IPv6 sockets (v4-mapped peers of dual-stack listeners). */
struct kretprobe toa_rs_krp_getname6 = {
	.kp.symbol_name = "inet6_getname",
	.entry_handler = toa_rs_getname_entry,
	.handler = toa_rs_getname_ret,
	.data_size = sizeof(struct toa_rs_getname_data),
	.maxactive = 512,
};

/*
 * Every IPv4 and IPv6 socket passes here once (__sk_destruct() calls it
 * through sk->sk_destruct, also from inet6_sock_destruct()), just before
 * its memory is released. Only ever called through a pointer or from
 * another file, so never inlined (sk_destruct() is, into __sk_free(), by
 * clang).
 */
struct kprobe toa_rs_kp_sock_destruct = {
	.symbol_name = "inet_sock_destruct",
	.pre_handler = toa_rs_sock_destruct_pre,
};

unsigned long toa_rs_probe_missed(const struct kprobe *kp)
{
	return READ_ONCE(kp->nmissed);
}

unsigned long toa_rs_rprobe_missed(const struct kretprobe *rp)
{
	return READ_ONCE(rp->kp.nmissed) + (unsigned int)READ_ONCE(rp->nmissed);
}

unsigned long toa_rs_regs_arg(struct pt_regs *regs, unsigned int n)
{
	return regs_get_kernel_argument(regs, n);
}

unsigned long toa_rs_regs_ret(struct pt_regs *regs)
{
	return regs_return_value(regs);
}

void *toa_rs_ri_data(struct kretprobe_instance *ri)
{
	return ri->data;
}

/* --- sockets and packets --- */

/*
 * The linear bytes from the transport header on (for a segment in TCP's
 * receive path: the TCP header and its options, pulled by tcp_v4_rcv()).
 */
const u8 *toa_rs_skb_transport(const struct sk_buff *skb, u32 *len)
{
	const u8 *th, *tail;

	if (!skb_transport_header_was_set(skb))
		return NULL;
	th = skb_transport_header(skb);
	tail = skb_tail_pointer(skb);
	if (th < skb->head || th > tail)
		return NULL;
	*len = tail - th;
	return th;
}

struct sock *toa_rs_socket_sk(const struct socket *sock)
{
	return sock->sk;
}

void toa_rs_sk_peer4(const struct sock *sk, __be32 *addr, __be16 *port)
{
	*addr = READ_ONCE(sk->sk_daddr);
	*port = READ_ONCE(sk->sk_dport);
}

/* --- locks --- */

void toa_rs_lock_init(raw_spinlock_t *lock)
{
	raw_spin_lock_init(lock);
}

unsigned long toa_rs_irq_save(void)
{
	unsigned long flags;

	local_irq_save(flags);
	return flags;
}

void toa_rs_irq_restore(unsigned long flags)
{
	local_irq_restore(flags);
}

void toa_rs_raw_lock(raw_spinlock_t *lock)
{
	raw_spin_lock(lock);
}

bool toa_rs_raw_trylock(raw_spinlock_t *lock)
{
	return raw_spin_trylock(lock);
}

void toa_rs_raw_unlock(raw_spinlock_t *lock)
{
	raw_spin_unlock(lock);
}

bool toa_rs_in_nmi(void)
{
	return in_nmi();
}

/* --- /proc/net/toa_stats, in the initial namespace; the text is Rust's --- */

static int toa_rs_stats_show(struct seq_file *seq, void *v)
{
	return toa_rs_proc_show(seq);
}

int toa_rs_proc_create(void)
{
	if (!proc_create_single("toa_stats", 0444, init_net.proc_net,
				toa_rs_stats_show))
		return -ENOMEM;
	return 0;
}

void toa_rs_proc_remove(void)
{
	remove_proc_entry("toa_stats", init_net.proc_net);
}
