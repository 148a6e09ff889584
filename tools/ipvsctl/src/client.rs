// SPDX-License-Identifier: GPL-2.0
//! The IPVS generic netlink client.
//!
//! neli provides the socket, the `nlmsghdr` framing, the parsing of
//! `NLMSG_ERROR`/`NLMSG_DONE` (with extended acks) and the controller
//! request that resolves the `IPVS` family and ipvs_rs's own `IPVS_RS`
//! family (FULLNAT local addresses, TOA). The messages themselves
//! travel as [`RawGenl`]: a `struct genlmsghdr` followed by the raw attribute
//! bytes, which `ipvs_core` encodes and decodes — the same code the kernel
//! module uses, so both ends share one implementation of the ABI.
//!
//! The client uses neli's plain synchronous [`NlSocketHandle`] rather than
//! its `NlRouter`: the router drops the extended ack attributes of error
//! messages when it converts them to the caller's types (neli 0.7.5,
//! `Nlmsgerr::to_typed`), and it runs a background thread that a one-shot
//! command does not need.

use std::fmt::Debug;
use std::io::{Cursor, Read, Write};
use std::iter::once;

use ipvs_core::netlink::attr::AttrError;
use ipvs_core::netlink::ext;
use ipvs_core::netlink::ipvs::{cmd, GENL_NAME, GENL_VERSION};
use neli::consts::genl::{CtrlAttr, CtrlCmd};
use neli::consts::nl::{GenlId, NlmF, Nlmsg, NlmsgerrAttr};
use neli::consts::socket::NlFamily;
use neli::err::{DeError, SerError, SocketError};
use neli::genl::{AttrTypeBuilder, Genlmsghdr, GenlmsghdrBuilder, NlattrBuilder};
use neli::nl::{NlPayload, Nlmsghdr, NlmsghdrBuilder};
use neli::socket::synchronous::NlSocketHandle;
use neli::types::{Buffer, GenlBuffer};
use neli::utils::Groups;
use neli::{FromBytesWithInput, Size, ToBytes};

use crate::error::Error;

/// Size of `struct genlmsghdr` (cmd, version, reserved).
const GENL_HDRLEN: usize = 4;
/// First `nlmsg_type` that is not a netlink control message.
const NLMSG_MIN_TYPE: u16 = 0x10;
/// Version of the generic netlink controller protocol.
const CTRL_VERSION: u8 = 2;

/// A generic netlink message whose attribute stream stays raw bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawGenl {
    /// `genlmsghdr.cmd`.
    pub cmd: u8,
    /// `genlmsghdr.version`.
    pub version: u8,
    /// The attributes following the header, as sent on the wire.
    pub attrs: Vec<u8>,
}

impl Size for RawGenl {
    fn unpadded_size(&self) -> usize {
        GENL_HDRLEN + self.attrs.len()
    }
}

impl ToBytes for RawGenl {
    fn to_bytes(&self, buffer: &mut Cursor<Vec<u8>>) -> Result<(), SerError> {
        buffer.write_all(&[self.cmd, self.version, 0, 0])?;
        buffer.write_all(&self.attrs)?;
        Ok(())
    }
}

impl FromBytesWithInput for RawGenl {
    type Input = usize;

    fn from_bytes_with_input(
        buffer: &mut Cursor<impl AsRef<[u8]>>,
        input: usize,
    ) -> Result<Self, DeError> {
        let attrs_len = input
            .checked_sub(GENL_HDRLEN)
            .ok_or(DeError::InvalidInput(input))?;
        let start = buffer.position();
        let parsed = (|| {
            let mut hdr = [0u8; GENL_HDRLEN];
            buffer.read_exact(&mut hdr)?;
            let [cmd, version, _, _] = hdr;
            let attrs = Buffer::from_bytes_with_input(buffer, attrs_len)?;
            Ok(RawGenl {
                cmd,
                version,
                attrs: attrs.as_ref().to_vec(),
            })
        })();
        if parsed.is_err() {
            buffer.set_position(start);
        }
        parsed
    }
}

/// What one received message means for the request it answers.
#[derive(Debug, PartialEq, Eq)]
enum Step<'a, P> {
    /// A reply (one of several for a dump).
    Reply(&'a P),
    /// The final acknowledgement or `NLMSG_DONE`: the request is complete.
    Done,
    /// Nothing for the caller (e.g. `NLMSG_NOOP`).
    Skip,
}

/// Interprets one message received for `request`.
fn classify<'a, P>(request: &'static str, msg: &'a Nlmsghdr<u16, P>) -> Result<Step<'a, P>, Error> {
    match msg.nl_payload() {
        NlPayload::Payload(p) if *msg.nl_type() >= NLMSG_MIN_TYPE => Ok(Step::Reply(p)),
        NlPayload::Payload(_) => Ok(Step::Skip),
        NlPayload::Err(e) => Err(Error::from_errno(
            request,
            e.error().saturating_neg(),
            ext_ack_message(e.ext_ack()),
        )),
        NlPayload::Ack(_) => Ok(Step::Done),
        // NLMSG_DONE ending a dump carries the dump's result.
        NlPayload::DumpExtAck(e) if *e.error() != 0 => Err(Error::from_errno(
            request,
            e.error().saturating_neg(),
            ext_ack_message(e.ext_ack()),
        )),
        NlPayload::DumpExtAck(_) => Ok(Step::Done),
        NlPayload::Empty if *msg.nl_type() == u16::from(Nlmsg::Done) => Ok(Step::Done),
        NlPayload::Empty => Ok(Step::Skip),
    }
}

/// The human-readable message of an extended ack (`NLMSGERR_ATTR_MSG`).
fn ext_ack_message(ext_ack: &GenlBuffer<NlmsgerrAttr, Buffer>) -> Option<String> {
    let attr = ext_ack
        .iter()
        .find(|a| *a.nla_type().nla_type() == NlmsgerrAttr::Msg)?;
    let bytes = attr.nla_payload().as_ref();
    let text = bytes.split(|&b| b == 0).next().unwrap_or_default();
    let text = String::from_utf8_lossy(text).trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// Maps a failure of the socket layer while handling `request`.
fn socket_error(request: &'static str, doing: &str, e: SocketError) -> Error {
    let message = match e {
        SocketError::De(e) => {
            return Error::BadReply {
                request,
                reason: e.to_string(),
            }
        }
        SocketError::Io(e) => e.to_string(),
        e => e.to_string(),
    };
    Error::Socket {
        context: format!("{doing} {request}"),
        message,
    }
}

/// A generic netlink socket that sends one request at a time and collects
/// its replies.
struct Transport {
    sock: NlSocketHandle,
    seq: u32,
}

impl Transport {
    fn open() -> Result<Self, Error> {
        let sock =
            NlSocketHandle::connect(NlFamily::Generic, None, Groups::empty()).map_err(|e| {
                Error::Socket {
                    context: "opening a generic netlink socket".into(),
                    message: e.to_string(),
                }
            })?;
        // Best effort: without extended acks (kernels before 4.12) errors
        // still arrive, only without the kernel's explanation.
        let _ = sock.enable_ext_ack(true);
        Ok(Transport { sock, seq: 0 })
    }

    /// Sends `payload` to the family `nl_type` as a `do` request (with
    /// `NLM_F_ACK`) or, if `dump`, as a dump request, and hands every reply
    /// to `on_reply` until the request completes.
    fn transact<P>(
        &mut self,
        request: &'static str,
        nl_type: u16,
        dump: bool,
        payload: P,
        mut on_reply: impl FnMut(&P) -> Result<(), Error>,
    ) -> Result<(), Error>
    where
        P: Size + ToBytes + FromBytesWithInput<Input = usize> + Debug,
    {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let flags = NlmF::REQUEST | if dump { NlmF::DUMP } else { NlmF::ACK };
        let msg = NlmsghdrBuilder::default()
            .nl_type(nl_type)
            .nl_flags(flags)
            .nl_seq(seq)
            .nl_pid(self.sock.pid())
            .nl_payload(NlPayload::Payload(payload))
            .build()
            .map_err(|e| Error::Internal(format!("building {request}: {e}")))?;
        self.sock
            .send(&msg)
            .map_err(|e| socket_error(request, "sending", e))?;

        loop {
            let (msgs, _groups) = self
                .sock
                .recv::<u16, P>()
                .map_err(|e| socket_error(request, "receiving the reply to", e))?;
            for msg in msgs {
                let msg = msg.map_err(|e| socket_error(request, "receiving the reply to", e))?;
                if *msg.nl_seq() != seq {
                    // A late answer to an earlier request.
                    continue;
                }
                match classify(request, &msg)? {
                    Step::Reply(p) => on_reply(p)?,
                    Step::Done => return Ok(()),
                    Step::Skip => {}
                }
            }
        }
    }

    /// The id of the generic netlink family `name`, or `None` if no such
    /// family is registered.
    fn resolve_family(&mut self, name: &str) -> Result<Option<u16>, Error> {
        const REQUEST: &str = "CTRL_CMD_GETFAMILY";
        let internal =
            |e: &dyn std::fmt::Display| Error::Internal(format!("building {REQUEST}: {e}"));
        let attr_type = AttrTypeBuilder::default()
            .nla_type(CtrlAttr::FamilyName)
            .build()
            .map_err(|e| internal(&e))?;
        let attr = NlattrBuilder::default()
            .nla_type(attr_type)
            .nla_payload(name)
            .build()
            .map_err(|e| internal(&e))?;
        let msg = GenlmsghdrBuilder::<CtrlCmd, CtrlAttr>::default()
            .cmd(CtrlCmd::Getfamily)
            .version(CTRL_VERSION)
            .attrs(once(attr).collect::<GenlBuffer<_, _>>())
            .build()
            .map_err(|e| internal(&e))?;

        let mut id = None;
        let result = self.transact(
            REQUEST,
            GenlId::Ctrl.into(),
            false,
            msg,
            |reply: &Genlmsghdr<CtrlCmd, CtrlAttr>| {
                let attrs = reply.attrs().get_attr_handle();
                id = Some(
                    attrs
                        .get_attr_payload_as::<u16>(CtrlAttr::FamilyId)
                        .map_err(|e| Error::BadReply {
                            request: REQUEST,
                            reason: format!("no usable CTRL_ATTR_FAMILY_ID: {e}"),
                        })?,
                );
                Ok(())
            },
        );
        match result {
            Ok(()) => id.map(Some).ok_or_else(|| Error::BadReply {
                request: REQUEST,
                reason: "no reply before the acknowledgement".into(),
            }),
            Err(e) if e.errno() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The name of an IPVS command, for error messages.
pub fn cmd_name(command: u8) -> &'static str {
    match command {
        cmd::NEW_SERVICE => "IPVS_CMD_NEW_SERVICE",
        cmd::SET_SERVICE => "IPVS_CMD_SET_SERVICE",
        cmd::DEL_SERVICE => "IPVS_CMD_DEL_SERVICE",
        cmd::GET_SERVICE => "IPVS_CMD_GET_SERVICE",
        cmd::NEW_DEST => "IPVS_CMD_NEW_DEST",
        cmd::SET_DEST => "IPVS_CMD_SET_DEST",
        cmd::DEL_DEST => "IPVS_CMD_DEL_DEST",
        cmd::GET_DEST => "IPVS_CMD_GET_DEST",
        cmd::NEW_DAEMON => "IPVS_CMD_NEW_DAEMON",
        cmd::DEL_DAEMON => "IPVS_CMD_DEL_DAEMON",
        cmd::GET_DAEMON => "IPVS_CMD_GET_DAEMON",
        cmd::SET_CONFIG => "IPVS_CMD_SET_CONFIG",
        cmd::GET_CONFIG => "IPVS_CMD_GET_CONFIG",
        cmd::SET_INFO => "IPVS_CMD_SET_INFO",
        cmd::GET_INFO => "IPVS_CMD_GET_INFO",
        cmd::ZERO => "IPVS_CMD_ZERO",
        cmd::FLUSH => "IPVS_CMD_FLUSH",
        _ => "IPVS command",
    }
}

/// The error for a reply whose attributes could not be parsed.
pub fn bad_attrs(request: &'static str, e: AttrError) -> Error {
    let reason = match e {
        AttrError::Malformed => "malformed attribute stream".to_owned(),
        AttrError::BadLength { kind } => {
            format!("attribute {kind} is missing or has the wrong length")
        }
        AttrError::BadString { kind } => format!("attribute {kind} is not a valid string"),
    };
    Error::BadReply { request, reason }
}

/// The name of an `IPVS_RS` command, for error messages.
pub fn ext_cmd_name(command: u8) -> &'static str {
    match command {
        ext::cmd::NEW_LADDR => "IPVS_RS_CMD_NEW_LADDR",
        ext::cmd::DEL_LADDR => "IPVS_RS_CMD_DEL_LADDR",
        ext::cmd::GET_LADDR => "IPVS_RS_CMD_GET_LADDR",
        ext::cmd::SET_SVC => "IPVS_RS_CMD_SET_SVC",
        ext::cmd::GET_SVC => "IPVS_RS_CMD_GET_SVC",
        _ => "IPVS_RS command",
    }
}

/// Something that executes generic netlink requests of the `IPVS` family
/// and of ipvs_rs's `IPVS_RS` family: the kernel, through [`LazyClient`],
/// or a model of it in tests.
pub trait Kernel {
    /// Sends IPVS `command` with the attribute stream `attrs` (as written by
    /// `ipvs_core`'s `AttrWriter`), as a dump request if `dump`, else as a
    /// `do` request, and returns the attribute stream of every reply.
    fn call(&mut self, command: u8, attrs: &[u8], dump: bool) -> Result<Vec<Vec<u8>>, Error>;

    /// Whether the `IPVS_RS` family is registered (ipvs_rs is loaded;
    /// upstream `ip_vs` has no such family).
    fn has_ext(&mut self) -> Result<bool, Error>;

    /// [`Kernel::call`] for the `IPVS_RS` family; [`Error::ExtMissing`]
    /// if it is not registered.
    fn ext_call(&mut self, command: u8, attrs: &[u8], dump: bool) -> Result<Vec<Vec<u8>>, Error>;
}

/// A generic netlink family resolved on a [`Transport`].
struct Family {
    id: u16,
    version: u8,
    name: fn(u8) -> &'static str,
}

/// Sends `command` of `family` as a `do` or dump request and returns the
/// attribute stream of every reply.
fn request(
    transport: &mut Transport,
    family: &Family,
    command: u8,
    attrs: &[u8],
    dump: bool,
) -> Result<Vec<Vec<u8>>, Error> {
    let msg = RawGenl {
        cmd: command,
        version: family.version,
        attrs: attrs.to_vec(),
    };
    let mut replies = Vec::new();
    transport.transact((family.name)(command), family.id, dump, msg, |reply| {
        replies.push(reply.attrs.clone());
        Ok(())
    })?;
    Ok(replies)
}

/// The kernel, over one generic netlink socket opened on the first
/// request, so that commands reject bad arguments before they need a
/// kernel module. Each family is resolved when it is first needed:
/// asking for `IPVS` while no module provides it makes the kernel load
/// upstream `ip_vs`, which the `IPVS_RS`-only commands must not cause.
#[derive(Default)]
pub struct LazyClient {
    transport: Option<Transport>,
    ipvs: Option<Family>,
    /// `Some(None)`: resolved, not registered.
    ext: Option<Option<Family>>,
}

impl LazyClient {
    fn transport(&mut self) -> Result<&mut Transport, Error> {
        match &mut self.transport {
            Some(t) => Ok(t),
            none => Ok(none.insert(Transport::open()?)),
        }
    }

    fn ext_family(&mut self) -> Result<Option<&Family>, Error> {
        if self.ext.is_none() {
            let id = self.transport()?.resolve_family(ext::GENL_NAME)?;
            self.ext = Some(id.map(|id| Family {
                id,
                version: ext::GENL_VERSION,
                name: ext_cmd_name,
            }));
        }
        Ok(self.ext.as_ref().and_then(Option::as_ref))
    }
}

impl Kernel for LazyClient {
    fn call(&mut self, command: u8, attrs: &[u8], dump: bool) -> Result<Vec<Vec<u8>>, Error> {
        if self.ipvs.is_none() {
            let id = self
                .transport()?
                .resolve_family(GENL_NAME)?
                .ok_or(Error::FamilyNotRegistered)?;
            self.ipvs = Some(Family {
                id,
                version: GENL_VERSION,
                name: cmd_name,
            });
        }
        let (Some(t), Some(f)) = (&mut self.transport, &self.ipvs) else {
            return Err(Error::Internal("IPVS family not resolved".into()));
        };
        request(t, f, command, attrs, dump)
    }

    fn has_ext(&mut self) -> Result<bool, Error> {
        Ok(self.ext_family()?.is_some())
    }

    fn ext_call(&mut self, command: u8, attrs: &[u8], dump: bool) -> Result<Vec<Vec<u8>>, Error> {
        if self.ext_family()?.is_none() {
            return Err(Error::ExtMissing {
                what: ext_cmd_name(command).into(),
            });
        }
        let (Some(t), Some(Some(f))) = (&mut self.transport, &self.ext) else {
            return Err(Error::Internal("IPVS_RS family not resolved".into()));
        };
        request(t, f, command, attrs, dump)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipvs_core::netlink::attr::{AttrWriter, Attrs};
    use ipvs_core::netlink::ipvs::Info;
    use ipvs_core::version::IPVS_VERSION_CODE;
    use neli::FromBytes;

    /// A netlink message as the kernel would put it in a datagram.
    fn nlmsg(nl_type: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(16 + payload.len()).unwrap();
        let mut out = Vec::new();
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&nl_type.to_ne_bytes());
        out.extend_from_slice(&flags.to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid
        out.extend_from_slice(payload);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }

    fn parse(bytes: &[u8]) -> Nlmsghdr<u16, RawGenl> {
        Nlmsghdr::from_bytes(&mut Cursor::new(bytes)).unwrap()
    }

    const FAMILY: u16 = 0x22;

    #[test]
    fn raw_genl_layout_and_roundtrip() {
        let mut buf = [0u8; 16];
        let mut w = AttrWriter::new(&mut buf);
        w.put_u32(1, 7).unwrap();
        let msg = RawGenl {
            cmd: cmd::GET_INFO,
            version: GENL_VERSION,
            attrs: w.as_bytes().to_vec(),
        };
        let mut out = Cursor::new(Vec::new());
        msg.to_bytes(&mut out).unwrap();
        let bytes = out.into_inner();
        assert_eq!(bytes, [15, 1, 0, 0, 8, 0, 1, 0, 7, 0, 0, 0]);
        assert_eq!(msg.unpadded_size(), bytes.len());
        let back = RawGenl::from_bytes_with_input(&mut Cursor::new(&bytes), bytes.len()).unwrap();
        assert_eq!(back, msg);
        // Shorter than a genlmsghdr.
        assert!(RawGenl::from_bytes_with_input(&mut Cursor::new(&bytes), 3).is_err());
        assert!(RawGenl::from_bytes_with_input(&mut Cursor::new(&bytes[..6]), 12).is_err());
    }

    #[test]
    fn request_message_bytes() {
        let msg = NlmsghdrBuilder::default()
            .nl_type(FAMILY)
            .nl_flags(NlmF::REQUEST | NlmF::ACK)
            .nl_seq(3)
            .nl_pid(0)
            .nl_payload(NlPayload::Payload(RawGenl {
                cmd: cmd::GET_CONFIG,
                version: GENL_VERSION,
                attrs: Vec::new(),
            }))
            .build()
            .unwrap();
        let mut out = Cursor::new(Vec::new());
        msg.to_bytes(&mut out).unwrap();
        assert_eq!(out.into_inner(), nlmsg(FAMILY, 0x5, 3, &[13, 1, 0, 0]));
    }

    #[test]
    fn info_reply_decodes_through_ipvs_core() {
        let mut buf = [0u8; 64];
        let mut w = AttrWriter::new(&mut buf);
        let info = Info {
            version: IPVS_VERSION_CODE,
            conn_tab_size: 4096,
        };
        info.encode(&mut w).unwrap();
        let mut payload = vec![cmd::SET_INFO, GENL_VERSION, 0, 0];
        payload.extend_from_slice(w.as_bytes());
        let msg = parse(&nlmsg(FAMILY, 0, 1, &payload));
        let Ok(Step::Reply(reply)) = classify("IPVS_CMD_GET_INFO", &msg) else {
            panic!("not a reply");
        };
        assert_eq!(reply.cmd, cmd::SET_INFO);
        assert_eq!(Info::decode(Attrs::new(&reply.attrs)), Ok(info));
    }

    /// `NLMSG_ERROR` echoing the request, followed by extended ack TLVs.
    fn error_msg(errno: i32, ext_ack: Option<&str>) -> Vec<u8> {
        let request = nlmsg(FAMILY, 0x5, 1, &[cmd::GET_INFO, GENL_VERSION, 0, 0]);
        let mut payload = Vec::new();
        payload.extend_from_slice(&(-errno).to_ne_bytes());
        payload.extend_from_slice(&request);
        let mut flags = 0x100; // NLM_F_CAPPED clear, NLM_F_ACK_TLVS below
        if let Some(text) = ext_ack {
            let mut buf = [0u8; 128];
            let mut w = AttrWriter::new(&mut buf);
            w.put_str(1, text).unwrap(); // NLMSGERR_ATTR_MSG
            w.put_u32(2, 20).unwrap(); // NLMSGERR_ATTR_OFFS
            payload.extend_from_slice(w.as_bytes());
            flags |= 0x200;
        }
        nlmsg(u16::from(Nlmsg::Error), flags, 1, &payload)
    }

    #[test]
    fn kernel_error_with_ext_ack() {
        let msg = parse(&error_msg(libc::EINVAL, Some("missing attribute")));
        let err = classify("IPVS_CMD_GET_INFO", &msg).unwrap_err();
        match err {
            Error::Kernel {
                request,
                errno,
                ref ext_ack,
            } => {
                assert_eq!(request, "IPVS_CMD_GET_INFO");
                assert_eq!(errno, libc::EINVAL);
                assert_eq!(ext_ack.as_deref(), Some("missing attribute"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            "IPVS_CMD_GET_INFO failed: Invalid argument (EINVAL): missing attribute"
        );
    }

    #[test]
    fn kernel_error_without_ext_ack_and_eperm() {
        let msg = parse(&error_msg(libc::ESRCH, None));
        let err = classify("IPVS_CMD_GET_INFO", &msg).unwrap_err();
        assert!(matches!(
            err,
            Error::Kernel {
                errno: libc::ESRCH,
                ext_ack: None,
                ..
            }
        ));
        let msg = parse(&error_msg(libc::EPERM, None));
        let err = classify("IPVS_CMD_GET_INFO", &msg).unwrap_err();
        assert!(matches!(err, Error::PermissionDenied { .. }));
    }

    #[test]
    fn ack_and_done_end_the_request() {
        let request = nlmsg(FAMILY, 0x5, 1, &[cmd::GET_INFO, GENL_VERSION, 0, 0]);
        let mut ack = 0i32.to_ne_bytes().to_vec();
        ack.extend_from_slice(request.get(..16).unwrap());
        let msg = parse(&nlmsg(u16::from(Nlmsg::Error), 0x100, 1, &ack));
        assert_eq!(classify("x", &msg).unwrap(), Step::Done);

        let msg = parse(&nlmsg(u16::from(Nlmsg::Done), 0x2, 1, &0i32.to_ne_bytes()));
        assert_eq!(classify("x", &msg).unwrap(), Step::Done);

        // A dump that failed after it started.
        let mut done = (-libc::EMSGSIZE).to_ne_bytes().to_vec();
        let mut buf = [0u8; 32];
        let mut w = AttrWriter::new(&mut buf);
        w.put_str(1, "too big").unwrap();
        done.extend_from_slice(w.as_bytes());
        let msg = parse(&nlmsg(u16::from(Nlmsg::Done), 0x2 | 0x200, 1, &done));
        let err = classify("IPVS_CMD_GET_SERVICE", &msg).unwrap_err();
        assert_eq!(err.errno(), Some(libc::EMSGSIZE));
        assert!(err.to_string().ends_with(": too big"), "{err}");
    }

    #[test]
    fn command_names() {
        assert_eq!(cmd_name(cmd::GET_INFO), "IPVS_CMD_GET_INFO");
        assert_eq!(cmd_name(cmd::GET_CONFIG), "IPVS_CMD_GET_CONFIG");
        assert_eq!(cmd_name(200), "IPVS command");
        assert_eq!(ext_cmd_name(ext::cmd::NEW_LADDR), "IPVS_RS_CMD_NEW_LADDR");
        assert_eq!(ext_cmd_name(ext::cmd::GET_SVC), "IPVS_RS_CMD_GET_SVC");
        assert_eq!(ext_cmd_name(200), "IPVS_RS command");
    }

    #[test]
    fn bad_info_reply_is_reported() {
        let err = bad_attrs("IPVS_CMD_GET_INFO", AttrError::BadLength { kind: 2 });
        assert_eq!(
            err.to_string(),
            "IPVS_CMD_GET_INFO: malformed reply from the kernel: \
             attribute 2 is missing or has the wrong length"
        );
    }

    // The tests below talk to the running kernel's generic netlink
    // controller, which every Linux kernel has; they exercise the real
    // socket, framing, ack and dump handling without IPVS.

    #[test]
    fn live_resolves_nlctrl_and_misses_unknown_family() {
        let mut t = Transport::open().unwrap();
        assert_eq!(
            t.resolve_family("nlctrl").unwrap(),
            Some(u16::from(GenlId::Ctrl))
        );
        assert_eq!(t.resolve_family("ipvsctl-no-such").unwrap(), None);
    }

    #[test]
    fn live_dump_of_families_in_raw_form() {
        const CTRL_ATTR_FAMILY_NAME: u16 = 2;
        let mut t = Transport::open().unwrap();
        let req = RawGenl {
            cmd: u8::from(CtrlCmd::Getfamily),
            version: CTRL_VERSION,
            attrs: Vec::new(),
        };
        let mut names = Vec::new();
        t.transact(
            "CTRL_CMD_GETFAMILY",
            GenlId::Ctrl.into(),
            true,
            req,
            |reply| {
                for attr in Attrs::new(&reply.attrs) {
                    let attr = attr.unwrap();
                    if attr.kind() == CTRL_ATTR_FAMILY_NAME {
                        names.push(attr.str(16).unwrap().to_owned());
                    }
                }
                Ok(())
            },
        )
        .unwrap();
        assert!(names.iter().any(|n| n == "nlctrl"), "{names:?}");
    }

    #[test]
    fn live_kernel_error_carries_ext_ack() {
        // CTRL_ATTR_FAMILY_ID is a u16: one byte fails the controller's
        // attribute policy, which the kernel explains in an extended ack.
        const CTRL_ATTR_FAMILY_ID: u16 = 1;
        let mut buf = [0u8; 8];
        let mut w = AttrWriter::new(&mut buf);
        w.put(CTRL_ATTR_FAMILY_ID, &[1]).unwrap();
        let req = RawGenl {
            cmd: u8::from(CtrlCmd::Getfamily),
            version: CTRL_VERSION,
            attrs: w.as_bytes().to_vec(),
        };
        let mut t = Transport::open().unwrap();
        let err = t
            .transact(
                "CTRL_CMD_GETFAMILY",
                GenlId::Ctrl.into(),
                false,
                req,
                |_| Ok(()),
            )
            .unwrap_err();
        let Error::Kernel { errno, ext_ack, .. } = &err else {
            panic!("unexpected {err:?}");
        };
        assert!([libc::ERANGE, libc::EINVAL].contains(errno), "{err:?}");
        assert!(ext_ack.is_some(), "{err:?}");
        assert!(
            err.to_string().starts_with("CTRL_CMD_GETFAMILY failed: "),
            "{err}"
        );
    }
}
