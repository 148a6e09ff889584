// SPDX-License-Identifier: GPL-2.0
//! Mutations of a request: on its attribute tree (wrong types, wrong and
//! oversized payloads, out-of-range values, duplicates, deleted or unknown
//! attributes, garbage and deeply nested nests), on its bytes (bit flips,
//! corrupted length fields, truncation, trailing garbage) and on its
//! headers (command, version, flags, `nlmsg_len`, the other family).
//! Attribute types are drawn from `ipvs_core`'s attribute tables (their
//! `TABLE` sizes), so new attributes are covered when they are added.

use ipvs_core::netlink::attr::{NLA_F_NESTED, NLA_F_NET_BYTEORDER};
use ipvs_core::netlink::ext;
use ipvs_core::netlink::ipvs::{cmd_attr, daemon_attr, dest_attr, stats_attr, svc_attr};

use crate::gen::{Fam, Req};
use crate::nl::{NLMSG_HDRLEN, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};
use crate::rng::Rng;

/// An attribute: a leaf with its payload, or a nest of attributes.
#[derive(Clone, Debug)]
enum Node {
    Leaf { ty: u16, payload: Vec<u8> },
    Nest { ty: u16, kids: Vec<Node> },
}

/// Attribute type table sizes of the nests below a top-level attribute.
fn nest_table(fam: Fam, top: u16) -> Option<usize> {
    match (fam, top & !(NLA_F_NESTED | NLA_F_NET_BYTEORDER)) {
        (Fam::Ipvs, cmd_attr::SERVICE) => Some(svc_attr::TABLE),
        (Fam::Ipvs, cmd_attr::DEST) => Some(dest_attr::TABLE),
        (Fam::Ipvs, cmd_attr::DAEMON) => Some(daemon_attr::TABLE),
        (Fam::Ext, ext::attr::SERVICE) => Some(svc_attr::TABLE),
        (Fam::Ext, ext::attr::LADDR) => Some(ext::laddr_attr::TABLE),
        (Fam::Ext, ext::attr::SVC_EXT) => Some(ext::svc_attr::TABLE),
        _ => None,
    }
}

fn top_table(fam: Fam) -> usize {
    match fam {
        Fam::Ipvs => cmd_attr::TABLE,
        Fam::Ext => ext::attr::TABLE,
    }
}

fn rd16(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(buf.get(at..at + 2)?.try_into().ok()?))
}

/// Writes `v` at `at` if it fits.
fn wr(buf: &mut [u8], at: usize, v: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at + v.len()) {
        dst.copy_from_slice(v);
    }
}

fn parse_flat(buf: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 4 <= buf.len() {
        let len = usize::from(rd16(buf, off).unwrap_or(0));
        let ty = rd16(buf, off + 2).unwrap_or(0);
        let Some(p) = buf.get(off + 4..off + len) else {
            break;
        };
        out.push((ty, p.to_vec()));
        off += (len + 3) & !3;
    }
    out
}

fn parse(fam: Fam, buf: &[u8]) -> Vec<Node> {
    parse_flat(buf)
        .into_iter()
        .map(|(ty, payload)| match nest_table(fam, ty) {
            Some(_) => Node::Nest {
                ty,
                kids: parse_flat(&payload)
                    .into_iter()
                    .map(|(ty, payload)| Node::Leaf { ty, payload })
                    .collect(),
            },
            None => Node::Leaf { ty, payload },
        })
        .collect()
}

fn put(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let len = (4 + payload.len()).min(usize::from(u16::MAX));
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(payload.get(..len - 4).unwrap_or(payload));
    out.resize((out.len() + 3) & !3, 0);
}

fn serialize(nodes: &[Node]) -> Vec<u8> {
    let mut out = Vec::new();
    for n in nodes {
        match n {
            Node::Leaf { ty, payload } => put(&mut out, *ty, payload),
            Node::Nest { ty, kids } => put(&mut out, *ty, &serialize(kids)),
        }
    }
    out
}

/// A random payload: often the size of some attribute type (1, 2, 4, 8,
/// 16), sometimes empty, odd or oversized.
fn payload(r: &mut Rng) -> Vec<u8> {
    let len = r.pick(
        &[0, 1, 2, 3, 4, 4, 4, 5, 8, 15, 16, 16, 17, 64, 300, 2000],
        4,
    );
    let mut p = r.bytes(len);
    if len == 4 && r.chance(1, 2) {
        p.copy_from_slice(&r.edgy_u32().to_ne_bytes());
    }
    if len > 1 && r.chance(1, 4) {
        // A string, NUL-terminated or not.
        let s = r.pick(
            &["rr", "wlc", "mh", "sip", "nosuch", "lo", "rrrrrrrrrrrrrrrr"],
            "rr",
        );
        p = s.as_bytes().to_vec();
        if r.chance(3, 4) {
            p.push(0);
        }
    }
    p
}

fn random_type(r: &mut Rng, table: usize) -> u16 {
    let ty = match r.below(10) {
        0 => r.u32() as u16,
        _ => r.below(table + 2) as u16,
    };
    match r.below(8) {
        0 => ty | NLA_F_NESTED,
        1 => ty | NLA_F_NET_BYTEORDER,
        _ => ty,
    }
}

/// A nest of garbage: random leaves, or nests `depth` deep.
fn garbage_nest(r: &mut Rng, ty: u16, depth: usize) -> Node {
    if depth == 0 {
        return Node::Leaf {
            ty,
            payload: payload(r),
        };
    }
    let mut kids = Vec::new();
    for _ in 0..r.below(3) {
        kids.push(Node::Leaf {
            ty: random_type(r, 16),
            payload: payload(r),
        });
    }
    let t = random_type(r, stats_attr::PAD as usize);
    kids.push(garbage_nest(r, t, depth - 1));
    Node::Nest {
        ty: ty | NLA_F_NESTED,
        kids,
    }
}

/// Replaces a payload by an edge value of the same size, or a wrong size.
fn mutate_leaf(r: &mut Rng, ty: &mut u16, p: &mut Vec<u8>, table: usize) {
    match r.below(6) {
        0 => *ty = random_type(r, table),
        1 => *p = payload(r),
        2 => match p.len() {
            1 => wr(p, 0, &[r.pick(&[0, 1, 2, 0x7f, 0xff], 0xff)]),
            2 => wr(p, 0, &(r.edgy_u32() as u16).to_ne_bytes()),
            4 => wr(p, 0, &r.edgy_u32().to_ne_bytes()),
            8 => {
                wr(p, 0, &r.edgy_u32().to_ne_bytes());
                wr(p, 4, &r.edgy_u32().to_ne_bytes());
            }
            _ => *p = payload(r),
        },
        3 => {
            // One byte too few or too many.
            if r.chance(1, 2) {
                p.pop();
            } else {
                p.push(r.next_u64() as u8);
            }
        }
        4 => {
            let at = r.below(p.len().max(1));
            if let Some(b) = p.get_mut(at) {
                *b ^= 1 << r.below(8);
            }
        }
        _ => {
            let n = r.pick(&[100, 1000, 4000], 100);
            p.extend(r.bytes(n));
        }
    }
}

/// One mutation of the attribute tree.
fn mutate_tree(r: &mut Rng, fam: Fam, nodes: &mut Vec<Node>) {
    let top = top_table(fam);
    // Half the time, work inside a nest.
    let nest_at = nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| matches!(n, Node::Nest { .. }))
        .map(|(i, _)| i)
        .collect::<Vec<_>>();
    if !nest_at.is_empty() && r.chance(1, 2) {
        let i = r.pick(&nest_at, 0);
        if let Some(Node::Nest { ty, kids }) = nodes.get_mut(i) {
            let table = nest_table(fam, *ty).unwrap_or(16);
            match r.below(6) {
                0..=2 if !kids.is_empty() => {
                    let k = r.below(kids.len());
                    if let Some(Node::Leaf { ty, payload }) = kids.get_mut(k) {
                        mutate_leaf(r, ty, payload, table);
                    }
                }
                3 if !kids.is_empty() => {
                    let k = r.below(kids.len());
                    kids.remove(k);
                }
                4 if !kids.is_empty() => {
                    let k = r.below(kids.len());
                    if let Some(dup) = kids.get(k).cloned() {
                        kids.push(dup);
                    }
                }
                _ => {
                    let at = r.below(kids.len() + 1);
                    let n = if r.chance(1, 4) {
                        let t = random_type(r, table);
                        let d = 1 + r.below(4);
                        garbage_nest(r, t, d)
                    } else {
                        Node::Leaf {
                            ty: random_type(r, table),
                            payload: payload(r),
                        }
                    };
                    kids.insert(at, n);
                }
            }
            return;
        }
    }
    match r.below(6) {
        0 if !nodes.is_empty() => {
            let k = r.below(nodes.len());
            nodes.remove(k);
        }
        1 if !nodes.is_empty() => {
            // A nest turned leaf with its payload garbled, or a type swap.
            let k = r.below(nodes.len());
            let ty = random_type(r, top);
            if let Some(Node::Nest { ty: t, .. } | Node::Leaf { ty: t, .. }) = nodes.get_mut(k) {
                *t = ty;
            }
        }
        2 => {
            let depth = r.pick(&[1, 2, 8, 32, 100], 2);
            let t = random_type(r, top);
            let n = garbage_nest(r, t, depth);
            nodes.insert(r.below(nodes.len() + 1), n);
        }
        3 if !nodes.is_empty() => {
            let k = r.below(nodes.len());
            if let Some(dup) = nodes.get(k).cloned() {
                let at = r.below(nodes.len() + 1);
                nodes.insert(at, dup);
            }
        }
        4 => {
            // Many attributes: an oversized request.
            for _ in 0..r.pick(&[10, 100, 500], 10) {
                nodes.push(Node::Leaf {
                    ty: random_type(r, top),
                    payload: payload(r),
                });
            }
        }
        _ => {
            let at = r.below(nodes.len().max(1));
            if let Some(Node::Leaf { ty, payload }) = nodes.get_mut(at) {
                mutate_leaf(r, ty, payload, top);
            } else {
                nodes.push(Node::Leaf {
                    ty: random_type(r, top),
                    payload: payload(r),
                });
            }
        }
    }
}

/// Offsets of the attribute headers in `buf` (top level and one below).
fn attr_offsets(buf: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 4 <= buf.len() {
        out.push(off);
        let len = usize::from(rd16(buf, off).unwrap_or(0));
        if len < 4 || off + len > buf.len() {
            break;
        }
        let mut inner = off + 4;
        while inner + 4 <= off + len {
            out.push(inner);
            let l = usize::from(rd16(buf, inner).unwrap_or(0));
            if l < 4 {
                break;
            }
            inner += (l + 3) & !3;
        }
        off += (len + 3) & !3;
    }
    out
}

/// One mutation of the attribute bytes.
fn mutate_bytes(r: &mut Rng, a: &mut Vec<u8>) {
    match r.below(5) {
        0 if !a.is_empty() => {
            for _ in 0..1 + r.below(4) {
                let i = r.below(a.len());
                let bit = 1u8 << r.below(8);
                if let Some(b) = a.get_mut(i) {
                    *b ^= bit;
                }
            }
        }
        1 if !a.is_empty() => a.truncate(r.below(a.len())),
        2 => {
            let n = r.below(12);
            a.extend(r.bytes(n));
        }
        _ => {
            let offs = attr_offsets(a);
            if offs.is_empty() {
                a.extend(r.bytes(4));
                return;
            }
            let o = r.pick(&offs, 0);
            let len = r.pick(&[0u16, 1, 3, 4, 5, 7, 0xff, 0x1000, 0xffff], 3);
            let len = if r.chance(1, 3) {
                rd16(a, o)
                    .unwrap_or(0)
                    .wrapping_add(r.pick(&[1, 2, 4, 0xfffc], 4))
            } else {
                len
            };
            wr(a, o, &len.to_ne_bytes());
        }
    }
}

/// What a mutated request is, for the checks.
pub struct Mutated {
    /// The message bytes.
    pub msg: Vec<u8>,
}

/// `req` with `rounds` mutations, framed; `fams` gives the family ids.
pub fn mutate(r: &mut Rng, req: &Req, rounds: usize, ipvs: u16, ext_id: Option<u16>) -> Mutated {
    let mut fam = req.fam;
    let mut cmd = req.cmd;
    let mut flags = req.flags;
    let mut version = 1u8;
    let mut reserved = 0u16;
    let mut attrs = req.attrs.clone();
    let mut len_delta: Option<i64> = None;
    for _ in 0..rounds {
        match r.below(20) {
            0..=7 => {
                let mut tree = parse(fam, &attrs);
                mutate_tree(r, fam, &mut tree);
                attrs = serialize(&tree);
            }
            8..=10 => mutate_bytes(r, &mut attrs),
            11 => {
                cmd = if r.chance(1, 2) {
                    r.below(24) as u8
                } else {
                    r.u32() as u8
                }
            }
            12 => version = r.u32() as u8,
            13 => reserved = r.u32() as u16,
            14 => flags ^= NLM_F_DUMP,
            15 => {
                flags = match r.below(4) {
                    0 => flags & !NLM_F_ACK,
                    1 => flags & !NLM_F_REQUEST,
                    2 => flags | 0x0008 | 0x0010,
                    _ => r.u32() as u16 | NLM_F_REQUEST,
                }
            }
            16 => {
                // The other family's command numbers and attributes.
                fam = match fam {
                    Fam::Ipvs if ext_id.is_some() => Fam::Ext,
                    _ => Fam::Ipvs,
                };
            }
            17 => len_delta = Some(r.pick(&[-1, -4, -8, 1, 4, 100, -1000], -4)),
            18 => {
                let n = r.below(64);
                attrs = r.bytes(n);
            }
            _ => {
                let mut tree = parse(fam, &attrs);
                for _ in 0..2 {
                    mutate_tree(r, fam, &mut tree);
                }
                attrs = serialize(&tree);
            }
        }
    }
    attrs.truncate(16384);
    let ty = match fam {
        Fam::Ipvs => ipvs,
        Fam::Ext => ext_id.unwrap_or(ipvs),
    };
    let mut msg = crate::nl::message(ty, flags, cmd, version, &attrs);
    wr(&mut msg, NLMSG_HDRLEN + 2, &reserved.to_ne_bytes());
    if let Some(d) = len_delta {
        let len = (msg.len() as i64 + d).max(0) as u32;
        wr(&mut msg, 0, &len.to_ne_bytes());
        if (len as usize) < msg.len() {
            // Cut what would follow the shortened message down to less
            // than a header: the kernel must not read a second message
            // (to whatever family) out of the leftover bytes.
            let keep = ((len as usize + 3) & !3) + (msg.len() - len as usize).min(15);
            msg.truncate(keep.min(msg.len()));
        }
    }
    Mutated { msg }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::plausible;

    #[test]
    fn parse_serialize_round_trip() {
        let mut r = Rng::new(3);
        for _ in 0..300 {
            let req = plausible(&mut r, true);
            let tree = parse(req.fam, &req.attrs);
            assert_eq!(serialize(&tree), req.attrs);
        }
    }

    #[test]
    fn mutations_are_deterministic_and_bounded() {
        let mut a = Rng::new(9);
        let mut b = Rng::new(9);
        for _ in 0..500 {
            let ra = plausible(&mut a, true);
            let rb = plausible(&mut b, true);
            let ma = mutate(&mut a, &ra, 3, 0x20, Some(0x21));
            let mb = mutate(&mut b, &rb, 3, 0x20, Some(0x21));
            assert_eq!(ma.msg, mb.msg);
            assert!(ma.msg.len() <= NLMSG_HDRLEN + crate::nl::GENL_HDRLEN + 16384);
            // The type is always one of the two families.
            let ty = u16::from_ne_bytes([ma.msg[4], ma.msg[5]]);
            assert!(ty == 0x20 || ty == 0x21);
        }
    }
}
