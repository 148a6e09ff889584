// SPDX-License-Identifier: GPL-2.0
//! The random run: plausible requests to every command of both families,
//! most of them mutated, from a privileged or an unprivileged caller.
//!
//! Privileged: every request must be answered; every error must be an
//! errno the control plane gives, and a handler's error must carry an
//! extended ack message; the requests the kernel accepted are recorded so
//! `replay` can apply exactly them to a fresh namespace (the tables must
//! then be equal: a rejected request changed nothing).
//!
//! Unprivileged: every request that reaches a command must fail with
//! `EPERM`, and none may get data back.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use ipvs_core::netlink::ext;
use ipvs_core::netlink::ipvs::cmd;

use crate::gen::{self, Fam, Fams, Req};
use crate::mutate::mutate;
use crate::nl::{Sock, Status, GENL_HDRLEN, NLMSG_HDRLEN, NLM_F_DUMP, NLM_F_REQUEST};
use crate::rng::Rng;

/// `EPERM`.
const EPERM: i32 = 1;

/// Counts of a random run.
#[derive(Debug, Default)]
pub struct FuzzStats {
    /// Requests sent.
    pub sent: u64,
    /// Accepted (no error): recorded for the replay.
    pub accepted: u64,
    /// Rejected with an error.
    pub rejected: u64,
    /// Dumps (ended by `NLMSG_DONE`).
    pub dumps: u64,
    /// Of those sent, how many were mutated.
    pub mutated: u64,
    /// Rejections per errno.
    pub errnos: BTreeMap<i32, u64>,
    /// Check failures (first ones kept).
    pub failures: Vec<String>,
    /// Number of check failures.
    pub failed: u64,
}

impl FuzzStats {
    fn fail(&mut self, what: String) {
        self.failed += 1;
        if self.failures.len() < 20 {
            self.failures.push(what);
        }
    }
}

/// The errnos a privileged caller may get: the control plane's answers to
/// bad requests (upstream's), and generic netlink's own for bad headers
/// and unknown commands. Anything else (ENOMEM, EMSGSIZE, ENODEV, EPERM
/// for root, ...) is a failure.
const KNOWN_ERRNOS: [i32; 8] = [
    2,  // ENOENT
    3,  // ESRCH
    17, // EEXIST
    22, // EINVAL
    34, // ERANGE
    93, // EPROTONOSUPPORT
    95, // EOPNOTSUPP
    97, // EAFNOSUPPORT
];

fn hdr_u16(m: &[u8], at: usize) -> u16 {
    m.get(at..at + 2)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u16::from_ne_bytes)
}

fn hdr_u32(m: &[u8], at: usize) -> u32 {
    m.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_ne_bytes)
}

/// What generic netlink does with a message before any handler: whether
/// it reaches a command of one of the families (with `NLM_F_REQUEST`, a
/// whole generic netlink header and a command the family has).
fn reaches_command(m: &[u8], fams: &Fams) -> Option<(Fam, u8)> {
    let len = hdr_u32(m, 0) as usize;
    let ty = hdr_u16(m, 4);
    let flags = hdr_u16(m, 6);
    if len < NLMSG_HDRLEN + GENL_HDRLEN || len > m.len() || flags & NLM_F_REQUEST == 0 {
        return None;
    }
    let c = *m.get(NLMSG_HDRLEN)?;
    // Generic netlink looks the command up as a dump or as a plain
    // request; a command without that handler is EOPNOTSUPP before any
    // permission check.
    let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
    if ty == fams.ipvs {
        let reaches = if dump {
            matches!(c, cmd::GET_SERVICE | cmd::GET_DEST | cmd::GET_DAEMON)
        } else {
            (1..cmd::MAX_PLUS_ONE).contains(&c) && c != cmd::SET_INFO
        };
        return reaches.then_some((Fam::Ipvs, c));
    }
    if Some(ty) == fams.ext {
        let reaches = if dump {
            c == ext::cmd::GET_LADDR
        } else {
            (1..=ext::cmd::GET_SVC).contains(&c) && c != ext::cmd::GET_LADDR
        };
        return reaches.then_some((Fam::Ext, c));
    }
    None
}

/// A recording of the accepted requests.
pub struct Recording {
    fams: Fams,
    msgs: Vec<Vec<u8>>,
}

const MAGIC: &[u8; 8] = b"GFZREC01";

impl Recording {
    /// Writes the recording.
    pub fn save(&self, w: &mut impl Write) -> io::Result<()> {
        w.write_all(MAGIC)?;
        w.write_all(&self.fams.ipvs.to_ne_bytes())?;
        w.write_all(&self.fams.ext.unwrap_or(0).to_ne_bytes())?;
        for m in &self.msgs {
            w.write_all(&(m.len() as u32).to_ne_bytes())?;
            w.write_all(m)?;
        }
        Ok(())
    }

    /// Reads a recording.
    pub fn load(r: &mut impl Read) -> io::Result<Recording> {
        let mut all = Vec::new();
        r.read_to_end(&mut all)?;
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "not a genlfuzz recording");
        if all.get(..8) != Some(MAGIC.as_slice()) {
            return Err(bad());
        }
        let ipvs = hdr_u16(&all, 8);
        let ext = hdr_u16(&all, 10);
        let mut msgs = Vec::new();
        let mut off = 12;
        while off < all.len() {
            let len = hdr_u32(&all, off) as usize;
            let m = all.get(off + 4..off + 4 + len).ok_or_else(bad)?;
            msgs.push(m.to_vec());
            off += 4 + len;
        }
        Ok(Recording {
            fams: Fams {
                ipvs,
                ext: (ext != 0).then_some(ext),
            },
            msgs,
        })
    }
}

/// Runs `n` random requests. `unpriv`: the caller lacks `CAP_NET_ADMIN`.
pub fn run(
    sock: &mut Sock,
    fams: &Fams,
    seed: u64,
    n: u64,
    unpriv: bool,
) -> io::Result<(FuzzStats, Recording)> {
    let mut r = Rng::new(seed);
    let mut st = FuzzStats::default();
    let mut rec = Recording {
        fams: *fams,
        msgs: Vec::new(),
    };
    let mut new_services = 0u32;
    let mut i = 0u64;
    while i < n {
        i += 1;
        let base = gen::plausible(&mut r, fams.ext.is_some());
        let rounds = match r.below(10) {
            0 | 1 => 0,
            2..=5 => 1,
            6 | 7 => 2,
            _ => 3 + r.below(3),
        };
        // Keep the table bounded: a FLUSH (recorded like any request)
        // once enough services may exist.
        let msg = if !unpriv && new_services >= 64 {
            new_services = 0;
            Req::new(Fam::Ipvs, cmd::FLUSH, Vec::new()).message(fams)
        } else if rounds == 0 {
            base.message(fams)
        } else {
            st.mutated += 1;
            mutate(&mut r, &base, rounds, fams.ipvs, fams.ext).msg
        };
        let ans = sock.exchange(&msg)?;
        st.sent += 1;
        let reach = reaches_command(&msg, fams);
        let errno = ans.errno();
        let dump = matches!(ans.status, Status::Done(_));
        if dump {
            st.dumps += 1;
        }
        if errno != 0 {
            st.rejected += 1;
            *st.errnos.entry(errno).or_default() += 1;
        }
        let what = || {
            format!(
                "request {i} (seed {seed:#x}): {:02x?}",
                msg.get(..96).unwrap_or(&msg)
            )
        };
        if unpriv {
            if let Some((fam, c)) = reach {
                if errno != EPERM {
                    st.fail(format!(
                        "unprivileged {fam:?} command {c}: {:?}, not EPERM; {}",
                        ans.status,
                        what()
                    ));
                }
            }
            if !ans.data.is_empty() {
                st.fail(format!("unprivileged request got data back; {}", what()));
            }
            continue;
        }
        if !KNOWN_ERRNOS.contains(&errno) && errno != 0 {
            st.fail(format!("unexpected errno {errno}; {}", what()));
        }
        // A handler's error names its cause (errors of generic netlink
        // itself — bad header, unknown command, no dump handler — and of
        // dumps have none).
        if let (Some(_), Status::Error(e, None)) = (reach, &ans.status) {
            let dump_req = hdr_u16(&msg, 6) & NLM_F_DUMP == NLM_F_DUMP;
            if *e < 0 && !dump_req && *e != -95 {
                st.fail(format!(
                    "errno {} without an extended ack message; {}",
                    -e,
                    what()
                ));
            }
        }
        if errno == 0 && !dump {
            st.accepted += 1;
            rec.msgs.push(msg.clone());
            if hdr_u16(&msg, 4) == fams.ipvs && msg.get(NLMSG_HDRLEN) == Some(&cmd::NEW_SERVICE) {
                new_services += 1;
            }
        }
    }
    Ok((st, rec))
}

/// Sends the recorded requests again; each must be accepted again.
/// Returns how many were replayed, or the first one that was not.
pub fn replay(sock: &mut Sock, fams: &Fams, rec: &Recording) -> io::Result<Result<u64, String>> {
    let mut n = 0;
    for (i, m) in rec.msgs.iter().enumerate() {
        let mut m = m.clone();
        let ty = hdr_u16(&m, 4);
        let new_ty = if ty == rec.fams.ipvs {
            fams.ipvs
        } else if Some(ty) == rec.fams.ext {
            fams.ext.unwrap_or(ty)
        } else {
            ty
        };
        if let Some(t) = m.get_mut(4..6) {
            t.copy_from_slice(&new_ty.to_ne_bytes());
        }
        let ans = sock.exchange(&m)?;
        if ans.errno() != 0 {
            return Ok(Err(format!(
                "recorded request {i} was accepted by the fuzzed namespace but not on replay: {:?}; {:02x?}",
                ans.status,
                m.get(..96).unwrap_or(&m)
            )));
        }
        n += 1;
    }
    Ok(Ok(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nl::{message, NLM_F_ACK};

    #[test]
    fn which_messages_reach_a_command() {
        let fams = Fams {
            ipvs: 0x20,
            ext: Some(0x21),
        };
        let ok = message(0x20, NLM_F_REQUEST | NLM_F_ACK, cmd::FLUSH, 1, &[]);
        assert_eq!(reaches_command(&ok, &fams), Some((Fam::Ipvs, cmd::FLUSH)));
        let ext = message(0x21, NLM_F_REQUEST, 5, 1, &[]);
        assert_eq!(reaches_command(&ext, &fams), Some((Fam::Ext, 5)));
        let dump = message(
            0x21,
            NLM_F_REQUEST | NLM_F_DUMP,
            ext::cmd::GET_LADDR,
            1,
            &[],
        );
        assert_eq!(reaches_command(&dump, &fams), Some((Fam::Ext, 3)));
        let not_a_dump = message(0x20, NLM_F_REQUEST | NLM_F_DUMP, cmd::FLUSH, 1, &[]);
        assert_eq!(reaches_command(&not_a_dump, &fams), None);
        let dump_only = message(0x21, NLM_F_REQUEST, ext::cmd::GET_LADDR, 1, &[]);
        assert_eq!(reaches_command(&dump_only, &fams), None);
        let unknown = message(0x20, NLM_F_REQUEST, 99, 1, &[]);
        assert_eq!(reaches_command(&unknown, &fams), None);
        let noreq = message(0x20, NLM_F_ACK, cmd::FLUSH, 1, &[]);
        assert_eq!(reaches_command(&noreq, &fams), None);
        let mut short = ok.clone();
        short[0] = 18;
        assert_eq!(reaches_command(&short, &fams), None);
    }

    #[test]
    fn recording_round_trip() {
        let rec = Recording {
            fams: Fams {
                ipvs: 0x20,
                ext: None,
            },
            msgs: vec![vec![1, 2, 3], vec![], vec![9; 40]],
        };
        let mut buf = Vec::new();
        rec.save(&mut buf).unwrap();
        let back = Recording::load(&mut buf.as_slice()).unwrap();
        assert_eq!(back.msgs, rec.msgs);
        assert_eq!(back.fams.ipvs, 0x20);
        assert_eq!(back.fams.ext, None);
        assert!(Recording::load(&mut &b"nope"[..]).is_err());
    }
}
