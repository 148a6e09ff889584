// SPDX-License-Identifier: GPL-2.0
//! The structured run: a generated sequence of requests whose outcome an
//! independent model of the table knows — valid ones (applied to the
//! model) interleaved with known-invalid ones (which must be rejected,
//! with the errno upstream gives where it is certain, and change nothing).
//! Every `check_every` requests and at the end the kernel's table must
//! equal the model's.

use std::io;

use ipvs_core::netlink::ext;
use ipvs_core::netlink::ipvs::{cmd, cmd_attr, dest_attr, svc_attr};
use ipvs_core::service::{FwdMethod, Protocol, ServiceKey, TunType};

use crate::gen::{self, enc, Fam, Fams, Req};
use crate::nl::{Sock, NLM_F_DUMP};
use crate::rng::Rng;
use crate::table::{self, Svc, Table};

const ESRCH: i32 = 3;
const ENOENT: i32 = 2;
const EEXIST: i32 = 17;
const EINVAL: i32 = 22;
const ERANGE: i32 = 34;
const EPROTONOSUPPORT: i32 = 93;
const EOPNOTSUPP: i32 = 95;
const EAFNOSUPPORT: i32 = 97;

/// What a request must do.
enum Expect {
    /// Succeed; the model becomes this table.
    Ok(Box<Table>),
    /// Succeed without changing anything (reads).
    Read,
    /// Fail with this errno (any errno if `None`).
    Fail(Option<i32>),
}

/// Counts of the structured run.
#[derive(Debug, Default)]
pub struct ModelStats {
    /// Requests sent.
    pub sent: u64,
    /// Valid requests (all accepted).
    pub valid: u64,
    /// Known-invalid requests (all rejected).
    pub invalid: u64,
    /// Table comparisons made.
    pub compared: u64,
}

fn existing(r: &mut Rng, m: &Table) -> Option<ServiceKey> {
    let keys: Vec<ServiceKey> = m.svcs.keys().copied().collect();
    keys.get(r.below(keys.len())).copied()
}

fn absent(r: &mut Rng, m: &Table) -> Option<ServiceKey> {
    (0..20)
        .map(|_| gen::svc_key(r))
        .find(|k| !m.svcs.contains_key(k))
}

fn direct(f: FwdMethod) -> bool {
    matches!(f, FwdMethod::Tunnel | FwdMethod::Droute)
}

fn synproxy_ok(key: &ServiceKey, s: &Svc) -> bool {
    matches!(
        key,
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            ..
        }
    ) && !s.dests.values().any(|d| direct(d.fwd))
}

/// Appends a 2-byte stub to an attribute stream: malformed.
fn truncated(mut a: Vec<u8>) -> Vec<u8> {
    a.extend_from_slice(&[8, 0]);
    a
}

/// A service nest with one attribute replaced (or, with `None`, removed).
fn svc_with(key: &ServiceKey, conf: bool, kind: u16, val: Option<&[u8]>, r: &mut Rng) -> Vec<u8> {
    let c = gen::svc_conf(r);
    let base = gen::svc_attrs(key, conf.then_some(&c));
    // Rebuild the nest without `kind`, then add the replacement.
    let inner = base.get(4..).unwrap_or(&[]);
    enc(|w| {
        let n = w.nest_start(cmd_attr::SERVICE)?;
        for a in ipvs_core::netlink::Attrs::new(inner).into_iter().flatten() {
            if a.kind() != kind {
                w.put(a.kind(), a.payload())?;
            }
        }
        if let Some(v) = val {
            w.put(kind, v)?;
        }
        w.nest_end(n)
    })
}

/// One request and what it must do, given the model `m`.
fn next(r: &mut Rng, m: &Table, has_ext: bool) -> (Req, Expect) {
    let ipvs = |c, a| Req::new(Fam::Ipvs, c, a);
    let roll = r.below(if has_ext { 40 } else { 30 });
    match roll {
        // --- valid writes ---
        0..=3 => {
            if let Some(key) = absent(r, m) {
                let c = gen::svc_conf(r);
                let mut t = m.clone();
                t.svcs.insert(key, Svc::new(c.resolve(0)));
                return (
                    ipvs(cmd::NEW_SERVICE, gen::svc_attrs(&key, Some(&c))),
                    Expect::Ok(Box::new(t)),
                );
            }
            (
                ipvs(cmd::FLUSH, Vec::new()),
                Expect::Ok(Box::default_with(m)),
            )
        }
        4 | 5 => match existing(r, m) {
            Some(key) => {
                let c = gen::svc_conf(r);
                let mut t = m.clone();
                if let Some(s) = t.svcs.get_mut(&key) {
                    s.conf = c.resolve(s.conf.flags);
                }
                (
                    ipvs(cmd::SET_SERVICE, gen::svc_attrs(&key, Some(&c))),
                    Expect::Ok(Box::new(t)),
                )
            }
            None => (ipvs(cmd::GET_INFO, Vec::new()), Expect::Read),
        },
        6 => match existing(r, m) {
            Some(key) if r.chance(1, 3) => {
                let mut t = m.clone();
                t.svcs.remove(&key);
                (
                    ipvs(cmd::DEL_SERVICE, gen::svc_attrs(&key, None)),
                    Expect::Ok(Box::new(t)),
                )
            }
            _ => (ipvs(cmd::ZERO, Vec::new()), Expect::Read),
        },
        7..=10 => match existing(r, m) {
            Some(key) => {
                let Some(s) = m.svcs.get(&key) else {
                    return (ipvs(cmd::GET_INFO, Vec::new()), Expect::Read);
                };
                let dk = gen::dest_key(r);
                let dc = gen::dest_conf(r, !s.ext.synproxy);
                let mut t = m.clone();
                let ts = t.svcs.get_mut(&key).map(|s| &mut s.dests);
                let (c, exp) = match (s.dests.contains_key(&dk), r.chance(1, 4)) {
                    (false, _) => (cmd::NEW_DEST, true),
                    (true, false) => (cmd::SET_DEST, true),
                    (true, true) => (cmd::DEL_DEST, false),
                };
                if let Some(d) = ts {
                    if exp {
                        d.insert(dk, dc);
                    } else {
                        d.remove(&dk);
                    }
                }
                let a = gen::dest_attrs(&key, &dk, exp.then_some(&dc));
                (ipvs(c, a), Expect::Ok(Box::new(t)))
            }
            None => (ipvs(cmd::GET_CONFIG, Vec::new()), Expect::Read),
        },
        11 => {
            let to = gen::timeouts(r);
            let mut t = m.clone();
            for (cur, new) in [
                (&mut t.timeouts.tcp, to.tcp),
                (&mut t.timeouts.tcp_fin, to.tcp_fin),
                (&mut t.timeouts.udp, to.udp),
            ] {
                if new != 0 {
                    *cur = new;
                }
            }
            (
                ipvs(cmd::SET_CONFIG, gen::timeout_attrs(&to)),
                Expect::Ok(Box::new(t)),
            )
        }
        12 => match existing(r, m) {
            Some(key) => (ipvs(cmd::ZERO, gen::svc_attrs(&key, None)), Expect::Read),
            None => (ipvs(cmd::GET_SERVICE, Vec::new()).dump(), Expect::Read),
        },
        13 if r.chance(1, 8) => (
            ipvs(cmd::FLUSH, Vec::new()),
            Expect::Ok(Box::default_with(m)),
        ),
        13 => (ipvs(cmd::GET_SERVICE, Vec::new()).dump(), Expect::Read),
        // --- known-invalid requests ---
        14 => match existing(r, m) {
            Some(key) => (
                ipvs(
                    cmd::NEW_SERVICE,
                    gen::svc_attrs(&key, Some(&gen::svc_conf(r))),
                ),
                Expect::Fail(Some(EEXIST)),
            ),
            None => (
                ipvs(cmd::NEW_DAEMON, Vec::new()),
                Expect::Fail(Some(EOPNOTSUPP)),
            ),
        },
        15 => match absent(r, m) {
            Some(key) => {
                let (c, a) = match r.below(4) {
                    0 => (
                        cmd::SET_SERVICE,
                        gen::svc_attrs(&key, Some(&gen::svc_conf(r))),
                    ),
                    1 => (cmd::DEL_SERVICE, gen::svc_attrs(&key, None)),
                    2 => (cmd::ZERO, gen::svc_attrs(&key, None)),
                    _ => {
                        let dc = gen::dest_conf(r, true);
                        (
                            cmd::NEW_DEST,
                            gen::dest_attrs(&key, &gen::dest_key(r), Some(&dc)),
                        )
                    }
                };
                (ipvs(c, a), Expect::Fail(Some(ESRCH)))
            }
            None => (
                ipvs(cmd::DEL_DAEMON, Vec::new()),
                Expect::Fail(Some(EOPNOTSUPP)),
            ),
        },
        16 | 17 => {
            // A broken service nest, on a new or an existing service.
            let (key, c) = match existing(r, m) {
                Some(k) if r.chance(1, 2) => (k, cmd::SET_SERVICE),
                _ => match absent(r, m) {
                    Some(k) => (k, cmd::NEW_SERVICE),
                    None => return (ipvs(99, Vec::new()), Expect::Fail(Some(EOPNOTSUPP))),
                },
            };
            let fwmark = matches!(key, ServiceKey::Fwmark { .. });
            let (a, e) = match r.below(10) {
                0 => (svc_with(&key, true, svc_attr::AF, None, r), Some(EINVAL)),
                1 => (
                    svc_with(&key, true, svc_attr::AF, Some(&99u16.to_ne_bytes()), r),
                    Some(EAFNOSUPPORT),
                ),
                2 if !fwmark => (
                    svc_with(&key, true, svc_attr::PROTOCOL, Some(&1u16.to_ne_bytes()), r),
                    Some(EPROTONOSUPPORT),
                ),
                3 if !fwmark => (
                    svc_with(&key, true, svc_attr::PORT, Some(&[0, 80, 0]), r),
                    Some(EINVAL),
                ),
                4 => (
                    svc_with(&key, true, svc_attr::SCHED_NAME, Some(b"nosuch\0"), r),
                    Some(ENOENT),
                ),
                5 => (
                    svc_with(&key, true, svc_attr::SCHED_NAME, Some(b"rr"), r),
                    Some(EINVAL),
                ),
                6 => (
                    svc_with(&key, true, svc_attr::SCHED_NAME, None, r),
                    Some(EINVAL),
                ),
                7 => (
                    svc_with(&key, true, svc_attr::FLAGS, Some(&[0; 9]), r),
                    Some(EINVAL),
                ),
                8 => (
                    svc_with(&key, true, svc_attr::PE_NAME, Some(b"sip\0"), r),
                    Some(ENOENT),
                ),
                _ => (
                    truncated(gen::svc_attrs(&key, Some(&gen::svc_conf(r)))),
                    Some(EINVAL),
                ),
            };
            (ipvs(c, a), Expect::Fail(e))
        }
        18 | 19 => match existing(r, m) {
            Some(key) => {
                let Some(s) = m.svcs.get(&key) else {
                    return (ipvs(cmd::GET_INFO, Vec::new()), Expect::Read);
                };
                let dk = gen::dest_key(r);
                let exists = s.dests.contains_key(&dk);
                // The command that passes the existence check.
                let fits = if exists { cmd::SET_DEST } else { cmd::NEW_DEST };
                let mut dc = gen::dest_conf(r, !s.ext.synproxy);
                let (c, e) = match r.below(9) {
                    0 if exists => (cmd::NEW_DEST, EEXIST),
                    0 => (cmd::SET_DEST, ENOENT),
                    1 => {
                        dc.weight = -1 - r.below(1000) as i32;
                        (fits, ERANGE)
                    }
                    2 => {
                        dc.u_thresh = 10;
                        dc.l_thresh = 11 + r.below(100) as u32;
                        (fits, ERANGE)
                    }
                    3 => {
                        dc.u_thresh = 0x8000_0000;
                        dc.l_thresh = 0;
                        (fits, EINVAL)
                    }
                    4 => {
                        dc.tun_type = TunType::Gue;
                        dc.tun_port = 0;
                        (fits, EINVAL)
                    }
                    5 if s.ext.synproxy => {
                        dc.fwd = FwdMethod::Droute;
                        (fits, EINVAL)
                    }
                    6 if !exists => (cmd::DEL_DEST, ENOENT),
                    7 => {
                        // Forwarding method 6: not one.
                        let a = gen::dest_attrs(&key, &dk, Some(&dc));
                        let a = patch_u32(a, cmd_attr::DEST, dest_attr::FWD_METHOD, 6);
                        return (ipvs(fits, a), Expect::Fail(Some(EINVAL)));
                    }
                    _ => {
                        let a = truncated(gen::dest_attrs(&key, &dk, Some(&dc)));
                        return (ipvs(fits, a), Expect::Fail(Some(EINVAL)));
                    }
                };
                let a = gen::dest_attrs(&key, &dk, (c != cmd::DEL_DEST).then_some(&dc));
                (ipvs(c, a), Expect::Fail(Some(e)))
            }
            None => (ipvs(cmd::GET_DEST, Vec::new()).dump(), Expect::Read),
        },
        20 => {
            // SET_CONFIG with one good and one malformed timeout.
            let mut a = enc(|w| w.put_u32(cmd_attr::TIMEOUT_TCP, 1 + r.below(1000) as u32));
            a.extend(enc(|w| w.put(cmd_attr::TIMEOUT_UDP, &[1, 0])));
            (ipvs(cmd::SET_CONFIG, a), Expect::Fail(Some(EINVAL)))
        }
        21 => {
            // A write sent as a dump: no dump handler.
            let mut q = ipvs(cmd::FLUSH, Vec::new());
            q.flags |= NLM_F_DUMP;
            (q, Expect::Fail(Some(EOPNOTSUPP)))
        }
        22 => (
            ipvs(30 + r.below(200) as u8, Vec::new()),
            Expect::Fail(Some(EOPNOTSUPP)),
        ),
        // --- reads ---
        23 => (ipvs(cmd::GET_INFO, Vec::new()), Expect::Read),
        24 => match existing(r, m) {
            Some(key) => (
                ipvs(cmd::GET_SERVICE, gen::svc_attrs(&key, None)),
                Expect::Read,
            ),
            None => (ipvs(cmd::GET_DAEMON, Vec::new()).dump(), Expect::Read),
        },
        25 => match existing(r, m) {
            Some(key) => (
                ipvs(cmd::GET_DEST, gen::svc_attrs(&key, None)).dump(),
                Expect::Read,
            ),
            None => (ipvs(cmd::GET_CONFIG, Vec::new()), Expect::Read),
        },
        26..=29 => match existing(r, m) {
            // More real servers: the FULLNAT and SYNPROXY checks need some.
            Some(key) => {
                let Some(s) = m.svcs.get(&key) else {
                    return (ipvs(cmd::GET_INFO, Vec::new()), Expect::Read);
                };
                let dk = gen::dest_key(r);
                if s.dests.contains_key(&dk) {
                    return (ipvs(cmd::GET_INFO, Vec::new()), Expect::Read);
                }
                let dc = gen::dest_conf(r, !s.ext.synproxy);
                let mut t = m.clone();
                if let Some(ts) = t.svcs.get_mut(&key) {
                    ts.dests.insert(dk, dc);
                }
                (
                    ipvs(cmd::NEW_DEST, gen::dest_attrs(&key, &dk, Some(&dc))),
                    Expect::Ok(Box::new(t)),
                )
            }
            None => (ipvs(cmd::GET_INFO, Vec::new()), Expect::Read),
        },
        // --- IPVS_RS ---
        _ => ext_step(r, m),
    }
}

fn patch_u32(a: Vec<u8>, nest: u16, kind: u16, v: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for top in ipvs_core::netlink::Attrs::new(&a).into_iter().flatten() {
        if top.kind() != nest {
            out.extend(enc(|w| w.put(top.kind(), top.payload())));
            continue;
        }
        out.extend(enc(|w| {
            let n = w.nest_start(nest)?;
            for x in top.nested().into_iter().flatten() {
                if x.kind() == kind {
                    w.put_u32(kind, v)?;
                } else {
                    w.put(x.kind(), x.payload())?;
                }
            }
            w.nest_end(n)
        }));
    }
    out
}

fn ext_step(r: &mut Rng, m: &Table) -> (Req, Expect) {
    let extr = |c, a| Req::new(Fam::Ext, c, a);
    let Some(key) = existing(r, m) else {
        let key = gen::svc_key(r);
        return (
            extr(
                ext::cmd::NEW_LADDR,
                gen::laddr_attrs(&key, Some(&gen::laddr(r))),
            ),
            Expect::Fail(Some(ESRCH)),
        );
    };
    let Some(s) = m.svcs.get(&key) else {
        return (
            extr(ext::cmd::GET_SVC, Vec::new()),
            Expect::Fail(Some(EINVAL)),
        );
    };
    let la = gen::laddr(r);
    match r.below(10) {
        0..=2 => {
            let mut t = m.clone();
            let has = s.laddrs.contains(&la);
            if let Some(ts) = t.svcs.get_mut(&key) {
                if has {
                    ts.laddrs.remove(&la);
                } else {
                    ts.laddrs.insert(la);
                }
            }
            let c = if has {
                ext::cmd::DEL_LADDR
            } else {
                ext::cmd::NEW_LADDR
            };
            (
                extr(c, gen::laddr_attrs(&key, Some(&la))),
                Expect::Ok(Box::new(t)),
            )
        }
        3 | 4 => {
            let mut set = gen::svc_ext_set(r);
            if set.synproxy == Some(true) && !synproxy_ok(&key, s) {
                return (
                    extr(ext::cmd::SET_SVC, gen::svc_ext_attrs(&key, &set)),
                    Expect::Fail(Some(EINVAL)),
                );
            }
            if set.synproxy.is_none() && s.ext.synproxy && !synproxy_ok(&key, s) {
                // Cannot happen (the model never lets it); keep it valid.
                set.synproxy = Some(false);
            }
            let mut t = m.clone();
            if let Some(ts) = t.svcs.get_mut(&key) {
                ts.ext = set.apply(ts.ext);
            }
            (
                extr(ext::cmd::SET_SVC, gen::svc_ext_attrs(&key, &set)),
                Expect::Ok(Box::new(t)),
            )
        }
        5 => (
            extr(ext::cmd::GET_SVC, gen::laddr_attrs(&key, None)),
            Expect::Read,
        ),
        6 => (
            extr(ext::cmd::GET_LADDR, gen::laddr_attrs(&key, None)).dump(),
            Expect::Read,
        ),
        7 => {
            let (c, e) = if s.laddrs.contains(&la) {
                (ext::cmd::NEW_LADDR, EEXIST)
            } else {
                (ext::cmd::DEL_LADDR, ENOENT)
            };
            (
                extr(c, gen::laddr_attrs(&key, Some(&la))),
                Expect::Fail(Some(e)),
            )
        }
        8 => {
            let zero = ipvs_core::addr::Addr::v4([0, 0, 0, 0]);
            let (a, e) = match r.below(4) {
                0 => (gen::laddr_attrs(&key, Some(&zero)), EINVAL),
                1 => (gen::laddr_attrs(&key, None), EINVAL),
                2 => (truncated(gen::laddr_attrs(&key, Some(&la))), EINVAL),
                _ => {
                    let a = gen::laddr_attrs(&key, Some(&la));
                    (
                        patch_u16(a, ext::attr::LADDR, ext::laddr_attr::AF, 99),
                        EAFNOSUPPORT,
                    )
                }
            };
            (extr(ext::cmd::NEW_LADDR, a), Expect::Fail(Some(e)))
        }
        _ => {
            // TOA or SYNPROXY out of range, or no settings at all.
            let a = match r.below(3) {
                0 => {
                    let mut a = gen::laddr_attrs(&key, None);
                    a.extend(enc(|w| {
                        let n = w.nest_start(ext::attr::SVC_EXT)?;
                        w.put_u8(ext::svc_attr::TOA, 2 + r.below(250) as u8)?;
                        w.nest_end(n)
                    }));
                    a
                }
                1 => {
                    let mut a = gen::laddr_attrs(&key, None);
                    a.extend(enc(|w| {
                        let n = w.nest_start(ext::attr::SVC_EXT)?;
                        w.put_u32(ext::svc_attr::SYNPROXY, 1)?;
                        w.nest_end(n)
                    }));
                    a
                }
                _ => gen::laddr_attrs(&key, None),
            };
            (extr(ext::cmd::SET_SVC, a), Expect::Fail(Some(EINVAL)))
        }
    }
}

fn patch_u16(a: Vec<u8>, nest: u16, kind: u16, v: u16) -> Vec<u8> {
    let mut out = Vec::new();
    for top in ipvs_core::netlink::Attrs::new(&a).into_iter().flatten() {
        if top.kind() != nest {
            out.extend(enc(|w| w.put(top.kind(), top.payload())));
            continue;
        }
        out.extend(enc(|w| {
            let n = w.nest_start(nest)?;
            for x in top.nested().into_iter().flatten() {
                if x.kind() == kind {
                    w.put_u16(kind, v)?;
                } else {
                    w.put(x.kind(), x.payload())?;
                }
            }
            w.nest_end(n)
        }));
    }
    out
}

trait DefaultWith {
    fn default_with(m: &Table) -> Box<Table>;
}

impl DefaultWith for Box<Table> {
    /// `m` flushed: no services, the same timeouts.
    fn default_with(m: &Table) -> Box<Table> {
        Box::new(Table {
            svcs: Default::default(),
            timeouts: m.timeouts,
        })
    }
}

/// Runs `steps` structured requests; `Err` names the first divergence.
pub fn run(
    sock: &mut Sock,
    fams: &Fams,
    seed: u64,
    steps: u64,
    check_every: u64,
) -> io::Result<Result<ModelStats, String>> {
    let mut r = Rng::new(seed);
    let mut m = table::read(sock, fams)?;
    if !m.svcs.is_empty() {
        return Ok(Err("model run: the namespace's table is not empty".into()));
    }
    let mut st = ModelStats::default();
    for i in 0..steps {
        let (req, exp) = next(&mut r, &m, fams.ext.is_some());
        let ans = sock.exchange(&req.message(fams))?;
        st.sent += 1;
        let errno = ans.errno();
        let what = || {
            format!(
                "step {i}: {:?} command {} flags {:#x}",
                req.fam, req.cmd, req.flags
            )
        };
        match exp {
            Expect::Ok(t) => {
                st.valid += 1;
                if errno != 0 {
                    return Ok(Err(format!(
                        "{}: valid request rejected: {:?}\nattrs {:02x?}",
                        what(),
                        ans.status,
                        req.attrs
                    )));
                }
                m = *t;
            }
            Expect::Read => {
                st.valid += 1;
                if errno != 0 {
                    return Ok(Err(format!("{}: read failed: {:?}", what(), ans.status)));
                }
            }
            Expect::Fail(want) => {
                st.invalid += 1;
                if errno == 0 || want.is_some_and(|w| w != errno) {
                    return Ok(Err(format!(
                        "{}: invalid request answered {:?}, expected errno {want:?}\nattrs {:02x?}",
                        what(),
                        ans.status,
                        req.attrs
                    )));
                }
            }
        }
        if (i + 1) % check_every == 0 || i + 1 == steps {
            let got = table::read(sock, fams)?;
            st.compared += 1;
            if got != m {
                return Ok(Err(format!(
                    "after step {i}: the table is not the model's (- model, + kernel):\n{}",
                    table::diff(&m.render(), &got.render())
                )));
            }
        }
    }
    Ok(Ok(st))
}
