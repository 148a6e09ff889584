// SPDX-License-Identifier: GPL-2.0
//! Errors of `ipvsctl`, each rendered as the one line printed to stderr.

use std::fmt;
use std::io;

/// Everything that can make a command fail after its arguments parsed.
#[derive(Debug)]
pub enum Error {
    /// The `IPVS` generic netlink family does not exist: the module is not
    /// loaded.
    FamilyNotRegistered,
    /// The `IPVS_RS` generic netlink family does not exist (upstream
    /// `ip_vs`, or no module, is loaded) but `what` needs it.
    ExtMissing {
        /// What needs it, e.g. `FULLNAT forwarding`.
        what: String,
    },
    /// The kernel answered `EPERM`: the caller lacks `CAP_NET_ADMIN`.
    PermissionDenied {
        /// The request that was refused, e.g. `IPVS_CMD_GET_INFO`.
        request: &'static str,
    },
    /// The kernel answered a request with an error.
    Kernel {
        /// The request that failed, e.g. `IPVS_CMD_GET_INFO`.
        request: &'static str,
        /// The positive errno.
        errno: i32,
        /// The extended ack message (`NLMSGERR_ATTR_MSG`), if the kernel
        /// sent one.
        ext_ack: Option<String>,
    },
    /// The netlink socket itself failed (socket, send or receive).
    Socket {
        /// What was being done.
        context: String,
        /// The underlying error.
        message: String,
    },
    /// The kernel's reply could not be understood.
    BadReply {
        /// The request the reply answers.
        request: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// A value on the command line or in restore input is not acceptable.
    Invalid {
        /// What the value is for, e.g. `weight`.
        what: String,
        /// The value as given.
        value: String,
        /// Why it was rejected, e.g. `must be 0..2147483647`.
        reason: String,
    },
    /// Options that do not fit together (or a missing one).
    Usage(String),
    /// A service or real server that a command reads does not exist.
    NotFound(String),
    /// A line of `restore` input failed: when validating (nothing was sent)
    /// or when applying it.
    Restore {
        /// 1-based line number.
        line: usize,
        /// Number of lines applied before this one; `None` if the input
        /// was rejected before anything was sent.
        applied: Option<usize>,
        /// What went wrong.
        source: Box<Error>,
    },
    /// Reading the input of `restore` failed.
    Input {
        /// What was being read.
        context: String,
        /// The underlying error.
        message: String,
    },
    /// A `/proc` file of the module (named by its path) does not exist.
    ProcMissing(String),
    /// A line of a `/proc` file of the module could not be understood.
    ProcFormat {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// Writing the output failed.
    Output(io::Error),
    /// A bug in `ipvsctl` (a message that could not be built or rendered).
    Internal(String),
}

impl Error {
    /// The error for a negative acknowledgement carrying the positive
    /// `errno` (and the extended ack message, if any).
    pub fn from_errno(request: &'static str, errno: i32, ext_ack: Option<String>) -> Self {
        if errno == libc::EPERM {
            Error::PermissionDenied { request }
        } else {
            Error::Kernel {
                request,
                errno,
                ext_ack,
            }
        }
    }

    /// The errno of a kernel error, if this is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::PermissionDenied { .. } => Some(libc::EPERM),
            Error::Kernel { errno, .. } => Some(*errno),
            Error::Restore { source, .. } => source.errno(),
            _ => None,
        }
    }

    /// An [`Error::Invalid`].
    pub fn invalid(what: impl Into<String>, value: &str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            what: what.into(),
            value: value.to_owned(),
            reason: reason.into(),
        }
    }

    /// This error as the failure of restore input line `line`.
    pub fn at_line(self, line: usize, applied: Option<usize>) -> Self {
        Error::Restore {
            line,
            applied,
            source: Box::new(self),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::FamilyNotRegistered => write!(
                f,
                "the IPVS generic netlink family is not registered: \
                 load ipvs_rs (insmod build/ipvs_rs.ko)"
            ),
            Error::ExtMissing { what } => write!(
                f,
                "{} needs ipvs_rs: the IPVS_RS generic netlink family is not registered \
                 (upstream ip_vs has no FULLNAT, local addresses or TOA)",
                one_line(what)
            ),
            Error::PermissionDenied { request } => write!(
                f,
                "{request}: operation not permitted: managing IPVS needs CAP_NET_ADMIN \
                 (run ipvsctl as root)"
            ),
            Error::Kernel {
                request,
                errno,
                ext_ack,
            } => {
                write!(f, "{request} failed: {}", describe_errno(*errno))?;
                match ext_ack {
                    Some(msg) => write!(f, ": {}", one_line(msg)),
                    None => Ok(()),
                }
            }
            Error::Socket { context, message } => {
                write!(f, "netlink socket: {context}: {}", one_line(message))
            }
            Error::BadReply { request, reason } => write!(
                f,
                "{request}: malformed reply from the kernel: {}",
                one_line(reason)
            ),
            Error::Invalid {
                what,
                value,
                reason,
            } => write!(f, "invalid {what} {}: {}", quote(value), one_line(reason)),
            Error::Usage(msg) => f.write_str(&one_line(msg)),
            Error::NotFound(what) => write!(f, "no such {}", one_line(what)),
            Error::Restore {
                line,
                applied,
                source,
            } => {
                write!(f, "restore: line {line}: {source}")?;
                match applied {
                    None => f.write_str(" (nothing was applied)"),
                    Some(0) => f.write_str(" (stopped; nothing was applied)"),
                    Some(1) => f.write_str(" (stopped; the line before it was applied)"),
                    Some(n) => write!(f, " (stopped; the {n} lines before it were applied)"),
                }
            }
            Error::Input { context, message } => {
                write!(f, "reading {context}: {}", one_line(message))
            }
            Error::ProcMissing(path) => write!(f, "{path} not found: is ipvs_rs loaded?"),
            Error::ProcFormat { path, line, reason } => {
                write!(f, "{path}: line {line}: {}", one_line(reason))
            }
            Error::Output(e) => write!(f, "writing output: {e}"),
            Error::Internal(msg) => write!(f, "internal error: {}", one_line(msg)),
        }
    }
}

impl std::error::Error for Error {}

/// `"Invalid argument (EINVAL)"`, or what the C library says for errnos
/// without a known name.
pub fn describe_errno(errno: i32) -> String {
    let text = io::Error::from_raw_os_error(errno).to_string();
    // std renders OS errors as "<strerror> (os error N)".
    let suffix = format!(" (os error {errno})");
    let text = text.strip_suffix(&suffix).unwrap_or(&text);
    match errno_name(errno) {
        Some(name) => format!("{text} ({name})"),
        None => format!("{text} (errno {errno})"),
    }
}

/// The symbolic name of the errnos a netlink request can plausibly return.
pub fn errno_name(errno: i32) -> Option<&'static str> {
    // Kernel-internal, leaks to user space from some paths; not in libc.
    const ENOTSUPP: i32 = 524;
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::ERANGE => "ERANGE",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOSYS => "ENOSYS",
        libc::EPROTO => "EPROTO",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::ENOBUFS => "ENOBUFS",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ECONNREFUSED => "ECONNREFUSED",
        ENOTSUPP => "ENOTSUPP",
        _ => return None,
    };
    Some(name)
}

/// A value in double quotes, with control characters and quotes escaped so
/// that the message stays on one line and shows exactly what was given.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Keeps an error on one line whatever the kernel or a library put in it.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_control())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_not_registered_is_the_documented_line() {
        assert_eq!(
            Error::FamilyNotRegistered.to_string(),
            "the IPVS generic netlink family is not registered: \
             load ipvs_rs (insmod build/ipvs_rs.ko)"
        );
    }

    #[test]
    fn ext_missing_names_what_needs_it() {
        let e = Error::ExtMissing {
            what: "FULLNAT forwarding".into(),
        };
        assert_eq!(
            e.to_string(),
            "FULLNAT forwarding needs ipvs_rs: the IPVS_RS generic netlink family is not \
             registered (upstream ip_vs has no FULLNAT, local addresses or TOA)"
        );
        assert_eq!(e.errno(), None);
    }

    #[test]
    fn eperm_asks_for_cap_net_admin() {
        let e = Error::from_errno("IPVS_CMD_GET_INFO", libc::EPERM, None);
        assert!(matches!(e, Error::PermissionDenied { .. }));
        let s = e.to_string();
        assert!(s.contains("CAP_NET_ADMIN"), "{s}");
        assert!(s.starts_with("IPVS_CMD_GET_INFO: "), "{s}");
        assert_eq!(e.errno(), Some(libc::EPERM));
    }

    #[test]
    fn kernel_error_names_errno_and_ext_ack() {
        let e = Error::from_errno(
            "IPVS_CMD_GET_CONFIG",
            libc::EINVAL,
            Some("Attribute failed policy validation".into()),
        );
        assert_eq!(
            e.to_string(),
            "IPVS_CMD_GET_CONFIG failed: Invalid argument (EINVAL): \
             Attribute failed policy validation"
        );
        let e = Error::from_errno("IPVS_CMD_GET_INFO", libc::ESRCH, None);
        assert_eq!(
            e.to_string(),
            "IPVS_CMD_GET_INFO failed: No such process (ESRCH)"
        );
    }

    #[test]
    fn unknown_errno_keeps_number() {
        assert!(describe_errno(4000).ends_with("(errno 4000)"));
        assert_eq!(errno_name(524), Some("ENOTSUPP"));
    }

    #[test]
    fn invalid_values_are_quoted() {
        let e = Error::invalid("weight", "-3", "must be 0..2147483647");
        assert_eq!(
            e.to_string(),
            "invalid weight \"-3\": must be 0..2147483647"
        );
        let e = Error::invalid("scheduler", "a\"b\nc", "x");
        assert_eq!(e.to_string(), "invalid scheduler \"a\\\"b\\nc\": x");
        assert_eq!(e.errno(), None);
    }

    #[test]
    fn restore_errors_name_the_line() {
        let e = Error::invalid("weight", "x", "must be 0..2147483647").at_line(3, None);
        assert_eq!(
            e.to_string(),
            "restore: line 3: invalid weight \"x\": must be 0..2147483647 (nothing was applied)"
        );
        let k = Error::from_errno("IPVS_CMD_NEW_DEST", libc::EEXIST, Some("dup".into()));
        let e = k.at_line(7, Some(4));
        assert_eq!(e.errno(), Some(libc::EEXIST));
        assert_eq!(
            e.to_string(),
            "restore: line 7: IPVS_CMD_NEW_DEST failed: File exists (EEXIST): dup \
             (stopped; the 4 lines before it were applied)"
        );
        let e = Error::Usage("x".into()).at_line(1, Some(0));
        assert!(e.to_string().ends_with("(stopped; nothing was applied)"));
        let e = Error::Usage("x".into()).at_line(2, Some(1));
        assert!(e
            .to_string()
            .ends_with("(stopped; the line before it was applied)"));
    }

    #[test]
    fn messages_stay_on_one_line() {
        let e = Error::Kernel {
            request: "IPVS_CMD_GET_INFO",
            errno: libc::EINVAL,
            ext_ack: Some("bad\nthing\n".into()),
        };
        let s = e.to_string();
        assert!(!s.contains('\n'), "{s}");
        assert!(s.ends_with(": bad thing"), "{s}");
    }
}
