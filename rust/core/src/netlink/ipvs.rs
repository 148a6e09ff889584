// SPDX-License-Identifier: GPL-2.0
//! The upstream IPVS generic netlink ABI (`include/uapi/linux/ip_vs.h`):
//! family name and version, command and attribute numbers, and the
//! encoders/decoders of the messages built from them.

use super::attr::{AttrError, AttrWriter, Attrs, WriteError};
use crate::config::Timeouts;

/// Generic netlink family name (`IPVS_GENL_NAME`).
pub const GENL_NAME: &str = "IPVS";
/// Generic netlink family version (`IPVS_GENL_VERSION`).
pub const GENL_VERSION: u8 = 1;

/// Maximum length of a scheduler name, including the NUL.
pub const SCHEDNAME_MAXLEN: usize = 16;
/// Maximum length of a persistence engine name, including the NUL.
pub const PENAME_MAXLEN: usize = 16;
/// Maximum length of a sync daemon interface name, including the NUL.
pub const IFNAME_MAXLEN: usize = 16;

/// Commands (`IPVS_CMD_*`).
pub mod cmd {
    /// Add a virtual service.
    pub const NEW_SERVICE: u8 = 1;
    /// Modify a virtual service.
    pub const SET_SERVICE: u8 = 2;
    /// Delete a virtual service.
    pub const DEL_SERVICE: u8 = 3;
    /// Get one service, or dump all.
    pub const GET_SERVICE: u8 = 4;
    /// Add a real server.
    pub const NEW_DEST: u8 = 5;
    /// Modify a real server.
    pub const SET_DEST: u8 = 6;
    /// Delete a real server.
    pub const DEL_DEST: u8 = 7;
    /// Dump the real servers of a service.
    pub const GET_DEST: u8 = 8;
    /// Start a sync daemon.
    pub const NEW_DAEMON: u8 = 9;
    /// Stop a sync daemon.
    pub const DEL_DAEMON: u8 = 10;
    /// Dump the sync daemons.
    pub const GET_DAEMON: u8 = 11;
    /// Set the global timeouts.
    pub const SET_CONFIG: u8 = 12;
    /// Get the global timeouts.
    pub const GET_CONFIG: u8 = 13;
    /// Command of the `GET_INFO` reply.
    pub const SET_INFO: u8 = 14;
    /// Get version and connection table size.
    pub const GET_INFO: u8 = 15;
    /// Zero the counters.
    pub const ZERO: u8 = 16;
    /// Delete all services.
    pub const FLUSH: u8 = 17;
    /// One past the last upstream command; the family's `resv_start_op`.
    pub const MAX_PLUS_ONE: u8 = 18;
}

/// Top-level attributes (`IPVS_CMD_ATTR_*`).
pub mod cmd_attr {
    /// Nested service attributes.
    pub const SERVICE: u16 = 1;
    /// Nested destination attributes.
    pub const DEST: u16 = 2;
    /// Nested sync daemon attributes.
    pub const DAEMON: u16 = 3;
    /// TCP established timeout (u32 seconds).
    pub const TIMEOUT_TCP: u16 = 4;
    /// TCP FIN_WAIT timeout (u32 seconds).
    pub const TIMEOUT_TCP_FIN: u16 = 5;
    /// UDP timeout (u32 seconds).
    pub const TIMEOUT_UDP: u16 = 6;
    /// Size of a table indexed by these attributes.
    pub const TABLE: usize = 7;
}

/// Service attributes (`IPVS_SVC_ATTR_*`).
pub mod svc_attr {
    /// Address family (u16).
    pub const AF: u16 = 1;
    /// IP protocol (u16).
    pub const PROTOCOL: u16 = 2;
    /// Virtual address (`nf_inet_addr`, 16 bytes).
    pub const ADDR: u16 = 3;
    /// Virtual port (be16).
    pub const PORT: u16 = 4;
    /// Firewall mark (u32).
    pub const FWMARK: u16 = 5;
    /// Scheduler name (string).
    pub const SCHED_NAME: u16 = 6;
    /// Flags (`struct ip_vs_flags`: flags u32, mask u32).
    pub const FLAGS: u16 = 7;
    /// Persistence timeout (u32 seconds).
    pub const TIMEOUT: u16 = 8;
    /// Persistence netmask (be32, or prefix length for IPv6).
    pub const NETMASK: u16 = 9;
    /// Nested 32-bit statistics.
    pub const STATS: u16 = 10;
    /// Persistence engine name (string).
    pub const PE_NAME: u16 = 11;
    /// Nested 64-bit statistics.
    pub const STATS64: u16 = 12;
    /// Size of a table indexed by these attributes.
    pub const TABLE: usize = 13;
}

/// Destination attributes (`IPVS_DEST_ATTR_*`).
pub mod dest_attr {
    /// Real server address (`nf_inet_addr`).
    pub const ADDR: u16 = 1;
    /// Real server port (be16).
    pub const PORT: u16 = 2;
    /// Forwarding method (u32, `IP_VS_CONN_F_*` masked).
    pub const FWD_METHOD: u16 = 3;
    /// Weight (u32).
    pub const WEIGHT: u16 = 4;
    /// Upper connection threshold (u32).
    pub const U_THRESH: u16 = 5;
    /// Lower connection threshold (u32).
    pub const L_THRESH: u16 = 6;
    /// Active connections (u32, read only).
    pub const ACTIVE_CONNS: u16 = 7;
    /// Inactive connections (u32, read only).
    pub const INACT_CONNS: u16 = 8;
    /// Persistent connections (u32, read only).
    pub const PERSIST_CONNS: u16 = 9;
    /// Nested 32-bit statistics.
    pub const STATS: u16 = 10;
    /// Address family of the real server (u16).
    pub const ADDR_FAMILY: u16 = 11;
    /// Nested 64-bit statistics.
    pub const STATS64: u16 = 12;
    /// Tunnel type (u8).
    pub const TUN_TYPE: u16 = 13;
    /// Tunnel port (be16).
    pub const TUN_PORT: u16 = 14;
    /// Tunnel flags (u16).
    pub const TUN_FLAGS: u16 = 15;
    /// Size of a table indexed by these attributes.
    pub const TABLE: usize = 16;
}

/// Sync daemon attributes (`IPVS_DAEMON_ATTR_*`).
pub mod daemon_attr {
    /// Master or backup (u32).
    pub const STATE: u16 = 1;
    /// Multicast interface name (string).
    pub const MCAST_IFN: u16 = 2;
    /// Sync id (u32).
    pub const SYNC_ID: u16 = 3;
    /// Maximum UDP payload (u16).
    pub const SYNC_MAXLEN: u16 = 4;
    /// IPv4 multicast group (be32).
    pub const MCAST_GROUP: u16 = 5;
    /// IPv6 multicast group (16 bytes).
    pub const MCAST_GROUP6: u16 = 6;
    /// Multicast port (be16).
    pub const MCAST_PORT: u16 = 7;
    /// Multicast TTL (u8).
    pub const MCAST_TTL: u16 = 8;
    /// Size of a table indexed by these attributes.
    pub const TABLE: usize = 9;
}

/// Statistics attributes (`IPVS_STATS_ATTR_*`).
pub mod stats_attr {
    /// Connections scheduled.
    pub const CONNS: u16 = 1;
    /// Incoming packets.
    pub const INPKTS: u16 = 2;
    /// Outgoing packets.
    pub const OUTPKTS: u16 = 3;
    /// Incoming bytes.
    pub const INBYTES: u16 = 4;
    /// Outgoing bytes.
    pub const OUTBYTES: u16 = 5;
    /// Connection rate.
    pub const CPS: u16 = 6;
    /// Incoming packet rate.
    pub const INPPS: u16 = 7;
    /// Outgoing packet rate.
    pub const OUTPPS: u16 = 8;
    /// Incoming byte rate.
    pub const INBPS: u16 = 9;
    /// Outgoing byte rate.
    pub const OUTBPS: u16 = 10;
    /// Padding for 64-bit alignment.
    pub const PAD: u16 = 11;
}

/// Info attributes (`IPVS_INFO_ATTR_*`).
pub mod info_attr {
    /// Version code (u32).
    pub const VERSION: u16 = 1;
    /// Connection table size (u32).
    pub const CONN_TAB_SIZE: u16 = 2;
    /// Size of a table indexed by these attributes.
    pub const TABLE: usize = 3;
}

/// The payload of the `GET_INFO` reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    /// Version code, see [`crate::version`].
    pub version: u32,
    /// Number of connection table buckets.
    pub conn_tab_size: u32,
}

impl Info {
    /// Writes the reply attributes (reply command [`cmd::SET_INFO`]).
    pub fn encode(&self, w: &mut AttrWriter<'_>) -> Result<(), WriteError> {
        w.put_u32(info_attr::VERSION, self.version)?;
        w.put_u32(info_attr::CONN_TAB_SIZE, self.conn_tab_size)
    }

    /// Reads a `GET_INFO` reply.
    pub fn decode(attrs: Attrs<'_>) -> Result<Self, AttrError> {
        let t = attrs.table::<{ info_attr::TABLE }>()?;
        let [_, version, size] = t;
        let missing = |kind| AttrError::BadLength { kind };
        Ok(Info {
            version: version.ok_or(missing(info_attr::VERSION))?.u32()?,
            conn_tab_size: size.ok_or(missing(info_attr::CONN_TAB_SIZE))?.u32()?,
        })
    }
}

/// Writes the `GET_CONFIG` reply attributes (reply command [`cmd::SET_CONFIG`]).
pub fn encode_timeouts(t: &Timeouts, w: &mut AttrWriter<'_>) -> Result<(), WriteError> {
    w.put_u32(cmd_attr::TIMEOUT_TCP, t.tcp)?;
    w.put_u32(cmd_attr::TIMEOUT_TCP_FIN, t.tcp_fin)?;
    w.put_u32(cmd_attr::TIMEOUT_UDP, t.udp)
}

/// Reads a `GET_CONFIG` reply (missing attributes read as zero).
pub fn decode_timeouts(attrs: Attrs<'_>) -> Result<Timeouts, AttrError> {
    let t = attrs.table::<{ cmd_attr::TABLE }>()?;
    let get = |kind: u16| -> Result<u32, AttrError> {
        match t.get(usize::from(kind)).copied().flatten() {
            Some(a) => a.u32(),
            None => Ok(0),
        }
    };
    Ok(Timeouts {
        tcp: get(cmd_attr::TIMEOUT_TCP)?,
        tcp_fin: get(cmd_attr::TIMEOUT_TCP_FIN)?,
        udp: get(cmd_attr::TIMEOUT_UDP)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::IPVS_VERSION_CODE;

    #[test]
    fn info_roundtrip_and_layout() {
        let info = Info {
            version: IPVS_VERSION_CODE,
            conn_tab_size: 4096,
        };
        let mut buf = [0u8; 64];
        let mut w = AttrWriter::new(&mut buf);
        info.encode(&mut w).unwrap();
        // What upstream's ip_vs_genl_get_cmd puts for GET_INFO.
        assert_eq!(
            w.as_bytes(),
            &[8, 0, 1, 0, 0x01, 0x02, 0x01, 0, 8, 0, 2, 0, 0, 0x10, 0, 0]
        );
        assert_eq!(Info::decode(Attrs::new(w.as_bytes())), Ok(info));
    }

    #[test]
    fn timeouts_roundtrip() {
        let mut buf = [0u8; 64];
        let mut w = AttrWriter::new(&mut buf);
        encode_timeouts(&Timeouts::DEFAULT, &mut w).unwrap();
        assert_eq!(
            decode_timeouts(Attrs::new(w.as_bytes())),
            Ok(Timeouts::DEFAULT)
        );
    }
}
