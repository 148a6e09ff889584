/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel headers the ipvs_rs and toa_rs modules bind to. bindgen turns this
 * into bindings_generated.rs at build time (see Kbuild); the allowlist in
 * bindgen_parameters keeps the output to what the modules use.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/notifier.h>
#include <linux/skbuff.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/icmp.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/rcupdate.h>
#include <linux/timer.h>
#include <linux/workqueue.h>
#include <linux/kprobes.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <uapi/linux/ip_vs.h>

#include "shim.h"
#include "../toa_rs/toa_rs_shim.h"
