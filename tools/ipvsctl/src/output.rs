// SPDX-License-Identifier: GPL-2.0
//! Rendering of command results as text for people or as JSON for scripts.
//!
//! Every read command turns what the kernel returned into a view type that
//! implements [`Render`] (text) and `Serialize` (JSON); [`render`] picks
//! one by the global `--json` flag. Text follows `ipvsadm`'s wording where
//! `ipvsadm` has an equivalent, so that its users find what they know.

use ipvs_core::config::Timeouts;
use ipvs_core::netlink::ipvs::Info;
use ipvs_core::version::version_triple;
use serde::Serialize;

use crate::error::Error;

/// Output format, chosen by `--json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Text for people.
    Human,
    /// One JSON value per command, on one line.
    Json,
}

/// A command result that can be printed.
pub trait Render: Serialize {
    /// The text form, ending with a newline.
    fn human(&self) -> String;
}

/// Renders `value` in `format`; the result ends with a newline.
pub fn render<T: Render>(value: &T, format: Format) -> Result<String, Error> {
    match format {
        Format::Human => Ok(value.human()),
        Format::Json => serde_json::to_string(value)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| Error::Internal(format!("rendering JSON: {e}"))),
    }
}

/// `ipvsctl info`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InfoView {
    /// Dotted version, e.g. `1.2.1`.
    pub version: String,
    /// The raw version code, `major << 16 | minor << 8 | patch`.
    pub version_code: u32,
    /// Number of connection table buckets.
    pub conn_tab_size: u32,
}

impl From<&Info> for InfoView {
    fn from(info: &Info) -> Self {
        let (major, minor, patch) = version_triple(info.version);
        InfoView {
            version: format!("{major}.{minor}.{patch}"),
            version_code: info.version,
            conn_tab_size: info.conn_tab_size,
        }
    }
}

impl Render for InfoView {
    fn human(&self) -> String {
        format!(
            "IP Virtual Server version {} (size={})\n\
             Connection table: {} buckets\n",
            self.version, self.conn_tab_size, self.conn_tab_size
        )
    }
}

/// `ipvsctl timeout get`, in seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TimeoutsView {
    /// Established TCP connections.
    pub tcp: u32,
    /// TCP connections after the client's FIN.
    pub tcp_fin: u32,
    /// UDP flows.
    pub udp: u32,
}

impl From<&Timeouts> for TimeoutsView {
    fn from(t: &Timeouts) -> Self {
        TimeoutsView {
            tcp: t.tcp,
            tcp_fin: t.tcp_fin,
            udp: t.udp,
        }
    }
}

impl Render for TimeoutsView {
    fn human(&self) -> String {
        // `ipvsadm -L --timeout` prints the same line.
        format!(
            "Timeout (tcp tcpfin udp): {} {} {}\n",
            self.tcp, self.tcp_fin, self.udp
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipvs_core::version::{version_code, IPVS_VERSION_CODE};

    fn info() -> InfoView {
        InfoView::from(&Info {
            version: IPVS_VERSION_CODE,
            conn_tab_size: 4096,
        })
    }

    #[test]
    fn info_human() {
        assert_eq!(
            render(&info(), Format::Human).unwrap(),
            "IP Virtual Server version 1.2.1 (size=4096)\n\
             Connection table: 4096 buckets\n"
        );
    }

    #[test]
    fn info_json() {
        assert_eq!(
            render(&info(), Format::Json).unwrap(),
            "{\"version\":\"1.2.1\",\"version_code\":66049,\"conn_tab_size\":4096}\n"
        );
    }

    #[test]
    fn info_other_version() {
        let v = InfoView::from(&Info {
            version: version_code(2, 10, 0),
            conn_tab_size: 1 << 20,
        });
        assert_eq!(v.version, "2.10.0");
        assert_eq!(
            render(&v, Format::Human).unwrap(),
            "IP Virtual Server version 2.10.0 (size=1048576)\n\
             Connection table: 1048576 buckets\n"
        );
    }

    #[test]
    fn timeouts_human() {
        let t = TimeoutsView::from(&Timeouts::DEFAULT);
        assert_eq!(
            render(&t, Format::Human).unwrap(),
            "Timeout (tcp tcpfin udp): 900 120 300\n"
        );
    }

    #[test]
    fn timeouts_json() {
        let t = TimeoutsView::from(&Timeouts::DEFAULT);
        assert_eq!(
            render(&t, Format::Json).unwrap(),
            "{\"tcp\":900,\"tcp_fin\":120,\"udp\":300}\n"
        );
        let parsed: serde_json::Value =
            serde_json::from_str(&render(&t, Format::Json).unwrap()).unwrap();
        assert_eq!(parsed["tcp_fin"], 120);
    }
}
