// SPDX-License-Identifier: GPL-2.0
//! A raw generic netlink socket that sends whatever bytes it is given —
//! including malformed headers — and collects what the kernel answers to
//! one request: its error or done status, extended ack message and data
//! messages. A request the kernel may leave unanswered (bad length, no
//! `NLM_F_ACK`) is followed by a ping (a controller request with
//! `NLM_F_ACK`): once the ping is answered, everything the kernel will say
//! synchronously about the request has arrived.

use std::io;

/// `NETLINK_GENERIC`.
const NETLINK_GENERIC: i32 = 16;
/// `SOL_NETLINK`.
const SOL_NETLINK: i32 = 270;
/// `NETLINK_CAP_ACK`: errors quote only the request's header.
const NETLINK_CAP_ACK: i32 = 10;
/// `NETLINK_EXT_ACK`: errors carry the extended ack message.
const NETLINK_EXT_ACK: i32 = 11;

/// `struct nlmsghdr` size.
pub const NLMSG_HDRLEN: usize = 16;
/// `struct genlmsghdr` size.
pub const GENL_HDRLEN: usize = 4;
/// `NLMSG_ERROR`.
const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`.
const NLMSG_DONE: u16 = 3;
/// `NLM_F_REQUEST`.
pub const NLM_F_REQUEST: u16 = 1;
/// `NLM_F_MULTI`.
const NLM_F_MULTI: u16 = 2;
/// `NLM_F_ACK`.
pub const NLM_F_ACK: u16 = 4;
/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
pub const NLM_F_DUMP: u16 = 0x300;
/// `NLM_F_ACK_TLVS` (in error messages).
const NLM_F_ACK_TLVS: u16 = 0x200;
/// `NLM_F_CAPPED` (in error messages).
const NLM_F_CAPPED: u16 = 0x100;
/// `NLMSGERR_ATTR_MSG`.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// `GENL_ID_CTRL`.
const GENL_ID_CTRL: u16 = 0x10;
/// `CTRL_CMD_GETFAMILY`.
const CTRL_CMD_GETFAMILY: u8 = 3;
/// `CTRL_ATTR_FAMILY_ID`.
const CTRL_ATTR_FAMILY_ID: u16 = 1;
/// `CTRL_ATTR_FAMILY_NAME`.
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
/// Seconds to wait for an answer (before `TIMEOUT_SCALE`).
const RECV_TIMEOUT_S: f64 = 5.0;
/// Sequence numbers of pings have this bit set; requests never do.
const PING_BIT: u32 = 1 << 31;

/// How the kernel finished with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// `NLMSG_ERROR`: 0 (acknowledged) or a negative errno, with the
    /// extended ack message if there was one.
    Error(i32, Option<String>),
    /// `NLMSG_DONE` of a dump, with its status.
    Done(i32),
    /// Nothing (dropped, or accepted without `NLM_F_ACK`).
    Silent,
}

/// Everything the kernel sent back for one request.
#[derive(Clone, Debug)]
pub struct Answer {
    /// How it finished.
    pub status: Status,
    /// Payloads (generic netlink header and attributes) of the data
    /// messages, in order.
    pub data: Vec<Vec<u8>>,
}

impl Answer {
    /// The errno of a failed request (0 if it did not fail).
    pub fn errno(&self) -> i32 {
        match self.status {
            Status::Error(e, _) | Status::Done(e) if e < 0 => -e,
            _ => 0,
        }
    }
}

/// Builds a netlink message: `nlmsghdr` (length filled in), `genlmsghdr`,
/// attributes.
pub fn message(ty: u16, flags: u16, cmd: u8, version: u8, attrs: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDRLEN + GENL_HDRLEN + attrs.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&[cmd, version, 0, 0]);
    m.extend_from_slice(attrs);
    m
}

fn rd_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn rd_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Whether the kernel is sure to finish `msg` with an error, an ack or
/// a done message (so no ping is needed): a well-formed length and
/// `NLM_F_ACK`.
fn answers_surely(msg: &[u8]) -> bool {
    let len = rd_u32(msg, 0).unwrap_or(0) as usize;
    let flags = rd_u16(msg, 6).unwrap_or(0);
    len >= NLMSG_HDRLEN && len <= msg.len() && flags & NLM_F_ACK != 0
}

/// A generic netlink socket.
pub struct Sock {
    fd: i32,
    seq: u32,
    buf: Vec<u8>,
}

impl Drop for Sock {
    fn drop(&mut self) {
        // SAFETY: fd is a socket this struct opened and owns.
        unsafe { libc::close(self.fd) };
    }
}

fn setsockopt_int(fd: i32, level: i32, name: i32, v: i32) -> io::Result<()> {
    // SAFETY: a valid socket and a pointer to an int of the size given.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Sock {
    /// Opens and binds a generic netlink socket (5 s receive timeout,
    /// times `TIMEOUT_SCALE` on slow kernels: a request that is never
    /// answered is a failure, not a hang).
    pub fn open() -> io::Result<Sock> {
        // SAFETY: plain socket(2) call.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW, NETLINK_GENERIC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let s = Sock {
            fd,
            seq: 1,
            buf: vec![0u8; 1 << 20],
        };
        setsockopt_int(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1)?;
        setsockopt_int(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1)?;
        let scale = std::env::var("TIMEOUT_SCALE")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| *v >= 1.0)
            .unwrap_or(1.0);
        let tv = libc::timeval {
            tv_sec: (RECV_TIMEOUT_S * scale) as libc::time_t,
            tv_usec: 0,
        };
        // SAFETY: a valid socket and a timeval of the size given.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: sockaddr_nl is plain data; all-zero is a valid value.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: a valid socket and address of the size given.
        let r = unsafe {
            libc::bind(
                fd,
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(s)
    }

    fn send(&self, msg: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_nl is plain data; all-zero is a valid value.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: msg is a valid buffer of msg.len() bytes; sa a valid address.
        let r = unsafe {
            libc::sendto(
                self.fd,
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn recv(&mut self) -> io::Result<usize> {
        // SAFETY: buf is a valid writable buffer of buf.len() bytes.
        let r = unsafe { libc::recv(self.fd, self.buf.as_mut_ptr().cast(), self.buf.len(), 0) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(r as usize)
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = (self.seq + 1) & !PING_BIT;
        self.seq
    }

    /// Sends `msg` (its sequence number overwritten when it has room for
    /// one) and collects the answer.
    pub fn exchange(&mut self, msg: &[u8]) -> io::Result<Answer> {
        let seq = self.next_seq();
        let mut msg = msg.to_vec();
        if let Some(s) = msg.get_mut(8..12) {
            s.copy_from_slice(&seq.to_ne_bytes());
        }
        let ping_seq = if answers_surely(&msg) {
            None
        } else {
            Some(seq | PING_BIT)
        };
        self.send(&msg)?;
        if let Some(p) = ping_seq {
            let mut ping = message(
                GENL_ID_CTRL,
                NLM_F_REQUEST | NLM_F_ACK,
                CTRL_CMD_GETFAMILY,
                1,
                &name_attr("IPVS"),
            );
            if let Some(s) = ping.get_mut(8..12) {
                s.copy_from_slice(&p.to_ne_bytes());
            }
            self.send(&ping)?;
        }
        let mut ans = Answer {
            status: Status::Silent,
            data: Vec::new(),
        };
        let mut pinged = ping_seq.is_none();
        let mut finished = false;
        let mut multi = false;
        loop {
            // Done when the request finished, or when the ping came back
            // and no dump of the request is still going on.
            if finished && pinged {
                return Ok(ans);
            }
            if pinged && ping_seq.is_some() && !multi {
                return Ok(ans);
            }
            let n = match self.recv() {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no answer to request seq {seq} in time"),
                    ))
                }
                Err(e) => return Err(e),
            };
            let buf = self.buf.get(..n).unwrap_or(&[]).to_vec();
            let mut off = 0;
            while off + NLMSG_HDRLEN <= buf.len() {
                let len = rd_u32(&buf, off).unwrap_or(0) as usize;
                let ty = rd_u16(&buf, off + 4).unwrap_or(0);
                let flags = rd_u16(&buf, off + 6).unwrap_or(0);
                let mseq = rd_u32(&buf, off + 8).unwrap_or(0);
                if len < NLMSG_HDRLEN || off + len > buf.len() {
                    break;
                }
                let m = buf.get(off..off + len).unwrap_or(&[]);
                off += (len + 3) & !3;
                if Some(mseq) == ping_seq {
                    if ty == NLMSG_ERROR {
                        pinged = true;
                    }
                    continue;
                }
                if mseq != seq {
                    continue;
                }
                match ty {
                    NLMSG_ERROR => {
                        let err = rd_u32(m, NLMSG_HDRLEN).unwrap_or(0) as i32;
                        ans.status = Status::Error(err, extack_msg(m, flags));
                        finished = true;
                    }
                    NLMSG_DONE => {
                        let err = rd_u32(m, NLMSG_HDRLEN).unwrap_or(0) as i32;
                        ans.status = Status::Done(err);
                        finished = true;
                        multi = false;
                    }
                    _ => {
                        if flags & NLM_F_MULTI != 0 {
                            multi = true;
                        }
                        ans.data.push(m.get(NLMSG_HDRLEN..).unwrap_or(&[]).to_vec());
                    }
                }
            }
        }
    }

    /// The id of generic netlink family `name`, if registered.
    pub fn family(&mut self, name: &str) -> io::Result<Option<u16>> {
        let msg = message(
            GENL_ID_CTRL,
            NLM_F_REQUEST | NLM_F_ACK,
            CTRL_CMD_GETFAMILY,
            1,
            &name_attr(name),
        );
        let ans = self.exchange(&msg)?;
        if ans.errno() != 0 {
            return Ok(None);
        }
        for d in &ans.data {
            let attrs = ipvs_core::netlink::Attrs::new(d.get(GENL_HDRLEN..).unwrap_or(&[]));
            for a in attrs.into_iter().flatten() {
                if a.kind() == CTRL_ATTR_FAMILY_ID {
                    return Ok(a.u16().ok());
                }
            }
        }
        Ok(None)
    }
}

fn name_attr(name: &str) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let mut w = ipvs_core::netlink::AttrWriter::new(&mut buf);
    let _ = w.put_str(CTRL_ATTR_FAMILY_NAME, name);
    w.as_bytes().to_vec()
}

/// The extended ack message of an error message (`NETLINK_CAP_ACK`: the
/// quoted request is its header only, unless the kernel says otherwise).
fn extack_msg(m: &[u8], flags: u16) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let quoted = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        rd_u32(m, NLMSG_HDRLEN + 4).unwrap_or(0) as usize
    };
    let tlvs = m.get(NLMSG_HDRLEN + 4 + ((quoted + 3) & !3)..)?;
    for a in ipvs_core::netlink::Attrs::new(tlvs).into_iter().flatten() {
        if a.kind() == NLMSGERR_ATTR_MSG {
            let p = a.payload();
            let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
            return Some(String::from_utf8_lossy(p.get(..end).unwrap_or(&[])).into_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_layout() {
        let m = message(
            0x20,
            NLM_F_REQUEST | NLM_F_ACK,
            4,
            1,
            &[8, 0, 1, 0, 1, 2, 3, 4],
        );
        assert_eq!(m.len(), 28);
        assert_eq!(rd_u32(&m, 0), Some(28));
        assert_eq!(rd_u16(&m, 4), Some(0x20));
        assert_eq!(rd_u16(&m, 6), Some(5));
        assert_eq!(m[16..20], [4, 1, 0, 0]);
        assert!(answers_surely(&m));
        let mut short = m.clone();
        short[0] = 200;
        assert!(!answers_surely(&short));
        let noack = message(0x20, NLM_F_REQUEST, 4, 1, &[]);
        assert!(!answers_surely(&noack));
    }

    #[test]
    fn extack_of_capped_error() {
        // nlmsghdr, error -22, quoted header, then NLMSGERR_ATTR_MSG "x".
        let mut m = Vec::new();
        m.extend_from_slice(&44u32.to_ne_bytes());
        m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        m.extend_from_slice(&(NLM_F_ACK_TLVS | NLM_F_CAPPED).to_ne_bytes());
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&(-22i32).to_ne_bytes());
        m.extend_from_slice(&[0; 16]);
        m.extend_from_slice(&[6, 0, 1, 0, b'x', 0, 0, 0]);
        assert_eq!(
            extack_msg(&m, NLM_F_ACK_TLVS | NLM_F_CAPPED),
            Some("x".to_string())
        );
        assert_eq!(extack_msg(&m, 0), None);
    }
}
