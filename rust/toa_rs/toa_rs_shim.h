/* SPDX-License-Identifier: GPL-2.0 */
/*
 * toa_rs: the C side as seen from Rust (registration objects and wrappers
 * of static inline helpers; see toa_rs_shim.c). Included by
 * rust/kbind/bindings_helper.h; toa_rs owns this file.
 */
#ifndef TOA_RS_SHIM_H
#define TOA_RS_SHIM_H

#include <linux/types.h>

#endif /* TOA_RS_SHIM_H */
