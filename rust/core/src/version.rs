// SPDX-License-Identifier: GPL-2.0
//! The IPVS version `ipvs_rs` speaks, as reported by `IPVS_CMD_GET_INFO`.

/// Version code of the upstream IPVS ABI implemented (1.2.1), encoded as
/// upstream's `IP_VS_VERSION_CODE`: `major << 16 | minor << 8 | patch`.
pub const IPVS_VERSION_CODE: u32 = version_code(1, 2, 1);

/// Encodes a version triple the way upstream's `IP_VS_VERSION_CODE` does.
pub const fn version_code(major: u8, minor: u8, patch: u8) -> u32 {
    (major as u32) << 16 | (minor as u32) << 8 | patch as u32
}

/// Splits a version code into (major, minor, patch).
pub const fn version_triple(code: u32) -> (u8, u8, u8) {
    ((code >> 16) as u8, (code >> 8) as u8, code as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_code() {
        assert_eq!(IPVS_VERSION_CODE, 0x0001_0201);
        assert_eq!(version_triple(IPVS_VERSION_CODE), (1, 2, 1));
    }
}
