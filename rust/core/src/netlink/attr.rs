// SPDX-License-Identifier: GPL-2.0
//! Netlink attributes (`struct nlattr` TLVs): a strict parser over a byte
//! slice and a writer into a caller-provided buffer.
//!
//! Layout: `nla_len: u16, nla_type: u16` in host byte order, then the
//! payload; the next attribute starts at the 4-byte aligned end. The top
//! two bits of `nla_type` are flags (nested, network byte order).

/// Size of `struct nlattr`.
pub const NLA_HDRLEN: usize = 4;
/// Attribute alignment.
pub const NLA_ALIGNTO: usize = 4;
/// `NLA_F_NESTED`: the payload is itself a list of attributes.
pub const NLA_F_NESTED: u16 = 1 << 15;
/// `NLA_F_NET_BYTEORDER`: the payload is in network byte order.
pub const NLA_F_NET_BYTEORDER: u16 = 1 << 14;
/// Mask of the type bits of `nla_type`.
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

/// Rounds `len` up to the attribute alignment.
pub const fn nla_align(len: usize) -> usize {
    (len + NLA_ALIGNTO - 1) & !(NLA_ALIGNTO - 1)
}

/// Why an attribute stream or one attribute's payload was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrError {
    /// Fewer bytes left than an attribute header, or `nla_len` smaller than
    /// the header or larger than what is left.
    Malformed,
    /// The payload of attribute `kind` has the wrong size for its type.
    BadLength {
        /// The attribute type.
        kind: u16,
    },
    /// A string attribute is not NUL-terminated within its maximum length.
    BadString {
        /// The attribute type.
        kind: u16,
    },
}

/// One attribute, borrowed from the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr<'a> {
    raw_type: u16,
    payload: &'a [u8],
}

impl<'a> Attr<'a> {
    /// The attribute type without flag bits.
    pub fn kind(&self) -> u16 {
        self.raw_type & NLA_TYPE_MASK
    }

    /// Whether `NLA_F_NESTED` is set.
    pub fn is_nested(&self) -> bool {
        self.raw_type & NLA_F_NESTED != 0
    }

    /// The raw payload.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    fn exact<const N: usize>(&self) -> Result<[u8; N], AttrError> {
        self.payload
            .try_into()
            .map_err(|_| AttrError::BadLength { kind: self.kind() })
    }

    /// A `u8` payload.
    pub fn u8(&self) -> Result<u8, AttrError> {
        self.exact::<1>().map(|b| b[0])
    }

    /// A host-order `u16` payload.
    pub fn u16(&self) -> Result<u16, AttrError> {
        self.exact().map(u16::from_ne_bytes)
    }

    /// A network-order `u16` payload (ports), returned in host order.
    pub fn be16(&self) -> Result<u16, AttrError> {
        self.exact().map(u16::from_be_bytes)
    }

    /// A host-order `u32` payload.
    pub fn u32(&self) -> Result<u32, AttrError> {
        self.exact().map(u32::from_ne_bytes)
    }

    /// A network-order `u32` payload, returned in host order.
    pub fn be32(&self) -> Result<u32, AttrError> {
        self.exact().map(u32::from_be_bytes)
    }

    /// A host-order `u64` payload.
    pub fn u64(&self) -> Result<u64, AttrError> {
        self.exact().map(u64::from_ne_bytes)
    }

    /// A fixed-size binary payload of exactly `N` bytes.
    pub fn array<const N: usize>(&self) -> Result<[u8; N], AttrError> {
        self.exact()
    }

    /// A binary payload of at most `N` bytes, zero-padded to `N` (how the
    /// kernel reads `nf_inet_addr` with `nla_memcpy`).
    pub fn padded<const N: usize>(&self) -> Result<[u8; N], AttrError> {
        let mut out = [0u8; N];
        let dst = out
            .get_mut(..self.payload.len())
            .ok_or(AttrError::BadLength { kind: self.kind() })?;
        dst.copy_from_slice(self.payload);
        Ok(out)
    }

    /// A NUL-terminated string of at most `max` bytes including the NUL,
    /// returned without the NUL. Must be valid UTF-8.
    pub fn str(&self, max: usize) -> Result<&'a str, AttrError> {
        let bad = AttrError::BadString { kind: self.kind() };
        if self.payload.len() > max {
            return Err(bad);
        }
        let nul = self.payload.iter().position(|&b| b == 0).ok_or(bad)?;
        let bytes = self.payload.get(..nul).ok_or(bad)?;
        core::str::from_utf8(bytes).map_err(|_| bad)
    }

    /// The payload as a nested attribute stream.
    pub fn nested(&self) -> Attrs<'a> {
        Attrs::new(self.payload)
    }
}

/// A stream of attributes; iterate it to get each one or the first error.
#[derive(Clone, Copy, Debug)]
pub struct Attrs<'a> {
    buf: &'a [u8],
}

impl<'a> Attrs<'a> {
    /// Attributes packed in `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Validates the whole stream and collects the last occurrence of every
    /// type below `N` into a table indexed by type (types `>= N` are ignored,
    /// as upstream's liberal validation does for legacy commands).
    pub fn table<const N: usize>(&self) -> Result<[Option<Attr<'a>>; N], AttrError> {
        let mut out = [None; N];
        for attr in *self {
            let attr = attr?;
            if let Some(slot) = out.get_mut(usize::from(attr.kind())) {
                *slot = Some(attr);
            }
        }
        Ok(out)
    }
}

impl<'a> IntoIterator for Attrs<'a> {
    type Item = Result<Attr<'a>, AttrError>;
    type IntoIter = AttrIter<'a>;

    fn into_iter(self) -> AttrIter<'a> {
        AttrIter { rest: self.buf }
    }
}

/// Iterator over an attribute stream. After an error it yields nothing more.
#[derive(Clone, Debug)]
pub struct AttrIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for AttrIter<'a> {
    type Item = Result<Attr<'a>, AttrError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match parse_one(self.rest) {
            Ok((attr, rest)) => {
                self.rest = rest;
                Some(Ok(attr))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

fn parse_one(buf: &[u8]) -> Result<(Attr<'_>, &[u8]), AttrError> {
    let (hdr, _) = buf
        .split_first_chunk::<NLA_HDRLEN>()
        .ok_or(AttrError::Malformed)?;
    let len = usize::from(u16::from_ne_bytes([hdr[0], hdr[1]]));
    let raw_type = u16::from_ne_bytes([hdr[2], hdr[3]]);
    if len < NLA_HDRLEN || len > buf.len() {
        return Err(AttrError::Malformed);
    }
    let payload = buf.get(NLA_HDRLEN..len).ok_or(AttrError::Malformed)?;
    // The padding after the last attribute may be missing.
    let rest = buf.get(nla_align(len)..).unwrap_or(&[]);
    Ok((Attr { raw_type, payload }, rest))
}

/// The output buffer is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteError;

/// Position of an open nested attribute, returned by [`AttrWriter::nest_start`].
#[derive(Debug)]
#[must_use = "a nest must be closed with AttrWriter::nest_end"]
pub struct Nest(usize);

/// Writes attributes into a caller-provided buffer.
#[derive(Debug)]
pub struct AttrWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> AttrWriter<'a> {
    /// A writer that fills `buf` from the start.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// Number of bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn header(&mut self, raw_type: u16, payload_len: usize) -> Result<usize, WriteError> {
        let total = NLA_HDRLEN + payload_len;
        let nla_len = u16::try_from(total).map_err(|_| WriteError)?;
        let start = self.len;
        let end = start.checked_add(nla_align(total)).ok_or(WriteError)?;
        let dst = self.buf.get_mut(start..end).ok_or(WriteError)?;
        dst.fill(0);
        let (hdr, _) = dst
            .split_first_chunk_mut::<NLA_HDRLEN>()
            .ok_or(WriteError)?;
        let [l0, l1] = nla_len.to_ne_bytes();
        let [t0, t1] = raw_type.to_ne_bytes();
        *hdr = [l0, l1, t0, t1];
        self.len = end;
        Ok(start + NLA_HDRLEN)
    }

    /// Appends one attribute with the given payload.
    pub fn put(&mut self, kind: u16, payload: &[u8]) -> Result<(), WriteError> {
        let at = self.header(kind, payload.len())?;
        self.buf
            .get_mut(at..at + payload.len())
            .ok_or(WriteError)?
            .copy_from_slice(payload);
        Ok(())
    }

    /// Appends a `u8` attribute.
    pub fn put_u8(&mut self, kind: u16, v: u8) -> Result<(), WriteError> {
        self.put(kind, &[v])
    }

    /// Appends a host-order `u16` attribute.
    pub fn put_u16(&mut self, kind: u16, v: u16) -> Result<(), WriteError> {
        self.put(kind, &v.to_ne_bytes())
    }

    /// Appends a network-order `u16` attribute (`v` in host order).
    pub fn put_be16(&mut self, kind: u16, v: u16) -> Result<(), WriteError> {
        self.put(kind, &v.to_be_bytes())
    }

    /// Appends a host-order `u32` attribute.
    pub fn put_u32(&mut self, kind: u16, v: u32) -> Result<(), WriteError> {
        self.put(kind, &v.to_ne_bytes())
    }

    /// Appends a network-order `u32` attribute (`v` in host order).
    pub fn put_be32(&mut self, kind: u16, v: u32) -> Result<(), WriteError> {
        self.put(kind, &v.to_be_bytes())
    }

    /// Appends a host-order `u64` attribute.
    pub fn put_u64(&mut self, kind: u16, v: u64) -> Result<(), WriteError> {
        self.put(kind, &v.to_ne_bytes())
    }

    /// Appends a NUL-terminated string attribute.
    pub fn put_str(&mut self, kind: u16, s: &str) -> Result<(), WriteError> {
        let at = self.header(kind, s.len() + 1)?;
        // The header zero-filled the payload, so the NUL is already there.
        self.buf
            .get_mut(at..at + s.len())
            .ok_or(WriteError)?
            .copy_from_slice(s.as_bytes());
        Ok(())
    }

    /// Opens a nested attribute; attributes written until [`Self::nest_end`]
    /// go inside it.
    pub fn nest_start(&mut self, kind: u16) -> Result<Nest, WriteError> {
        let start = self.len;
        self.header(kind | NLA_F_NESTED, 0)?;
        Ok(Nest(start))
    }

    /// Opens a nested attribute without `NLA_F_NESTED`, as upstream IPVS's
    /// replies do (`nla_nest_start_noflag`).
    pub fn nest_start_noflag(&mut self, kind: u16) -> Result<Nest, WriteError> {
        let start = self.len;
        self.header(kind, 0)?;
        Ok(Nest(start))
    }

    /// Closes a nested attribute opened by [`Self::nest_start`].
    pub fn nest_end(&mut self, nest: Nest) -> Result<(), WriteError> {
        let nla_len = u16::try_from(self.len - nest.0).map_err(|_| WriteError)?;
        self.buf
            .get_mut(nest.0..nest.0 + 2)
            .ok_or(WriteError)?
            .copy_from_slice(&nla_len.to_ne_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn roundtrip_scalars_and_nest() {
        let mut buf = [0u8; 128];
        let mut w = AttrWriter::new(&mut buf);
        w.put_u32(1, 0x010201).unwrap();
        w.put_be16(2, 80).unwrap();
        let n = w.nest_start(3).unwrap();
        w.put_str(1, "wlc").unwrap();
        w.put_u64(2, u64::MAX - 1).unwrap();
        w.nest_end(n).unwrap();
        w.put_u8(4, 7).unwrap();
        let bytes = w.as_bytes().to_vec();
        assert_eq!(bytes.len() % 4, 0);

        let t = Attrs::new(&bytes).table::<5>().unwrap();
        assert_eq!(t[1].unwrap().u32(), Ok(0x010201));
        assert_eq!(t[2].unwrap().be16(), Ok(80));
        assert_eq!(t[2].unwrap().payload(), &[0, 80]);
        let nested = t[3].unwrap();
        assert!(nested.is_nested());
        assert_eq!(nested.kind(), 3);
        let inner = nested.nested().table::<3>().unwrap();
        assert_eq!(inner[1].unwrap().str(16), Ok("wlc"));
        assert_eq!(inner[2].unwrap().u64(), Ok(u64::MAX - 1));
        assert_eq!(t[4].unwrap().u8(), Ok(7));
    }

    #[test]
    fn kernel_layout() {
        // nla_put_u32(skb, 1, 0x01020304) on a little-endian host.
        let mut buf = [0u8; 8];
        let mut w = AttrWriter::new(&mut buf);
        w.put_u32(1, 0x0102_0304).unwrap();
        assert_eq!(w.as_bytes(), &[8, 0, 1, 0, 4, 3, 2, 1]);
        // A string is NUL-terminated and padded to 4 bytes.
        let mut buf = [0xffu8; 12];
        let mut w = AttrWriter::new(&mut buf);
        w.put_str(6, "rr").unwrap();
        assert_eq!(w.as_bytes(), &[7, 0, 6, 0, b'r', b'r', 0, 0]);
    }

    #[test]
    fn rejects_malformed() {
        // Length below the header size.
        assert_eq!(
            Attrs::new(&[2, 0, 1, 0]).table::<2>(),
            Err(AttrError::Malformed)
        );
        // Length beyond the buffer.
        assert_eq!(
            Attrs::new(&[9, 0, 1, 0, 0, 0, 0, 0]).table::<2>(),
            Err(AttrError::Malformed)
        );
        // Trailing garbage shorter than a header.
        assert_eq!(
            Attrs::new(&[4, 0, 1, 0, 0]).table::<2>(),
            Err(AttrError::Malformed)
        );
        // Missing final padding is fine.
        let t = Attrs::new(&[5, 0, 1, 0, 9]).table::<2>().unwrap();
        assert_eq!(t[1].unwrap().u8(), Ok(9));
    }

    #[test]
    fn typed_getters_check_length() {
        let a = Attr {
            raw_type: 3,
            payload: &[1, 2, 3],
        };
        assert_eq!(a.u32(), Err(AttrError::BadLength { kind: 3 }));
        assert_eq!(a.u16(), Err(AttrError::BadLength { kind: 3 }));
        assert_eq!(a.padded::<16>().unwrap()[..4], [1, 2, 3, 0]);
        assert_eq!(a.padded::<2>(), Err(AttrError::BadLength { kind: 3 }));
        assert_eq!(a.str(16), Err(AttrError::BadString { kind: 3 }));
        let s = Attr {
            raw_type: 3,
            payload: b"toolong\0",
        };
        assert_eq!(s.str(8), Ok("toolong"));
        assert_eq!(s.str(7), Err(AttrError::BadString { kind: 3 }));
    }

    #[test]
    fn writer_reports_full_buffer() {
        let mut buf = [0u8; 10];
        let mut w = AttrWriter::new(&mut buf);
        w.put_u32(1, 1).unwrap();
        assert_eq!(w.put_u32(2, 2), Err(WriteError));
        assert_eq!(w.len(), 8);
        assert!(w.nest_start(3).is_err());
    }

    #[test]
    fn last_duplicate_wins_unknown_ignored() {
        let mut buf = [0u8; 64];
        let mut w = AttrWriter::new(&mut buf);
        w.put_u32(1, 1).unwrap();
        w.put_u32(99, 5).unwrap();
        w.put_u32(1, 2).unwrap();
        let bytes = w.as_bytes().to_vec();
        let t = Attrs::new(&bytes).table::<2>().unwrap();
        assert_eq!(t[1].unwrap().u32(), Ok(2));
    }

    proptest! {
        #[test]
        fn parser_stays_in_bounds(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            // Any input: no panic, attributes never overlap or exceed the
            // input, and at most one error ends the stream.
            let mut consumed = 0;
            let mut errors = 0;
            for attr in Attrs::new(&bytes) {
                match attr {
                    Ok(a) => {
                        prop_assert_eq!(errors, 0);
                        consumed += nla_align(NLA_HDRLEN + a.payload().len());
                        let _ = (a.u8(), a.u16(), a.u32(), a.u64(), a.str(16), a.padded::<16>());
                        let _ = a.nested().table::<8>();
                    }
                    Err(e) => {
                        prop_assert_eq!(e, AttrError::Malformed);
                        errors += 1;
                    }
                }
            }
            prop_assert!(errors <= 1);
            prop_assert!(consumed <= nla_align(bytes.len()));
        }

        #[test]
        fn writer_parser_roundtrip(items in proptest::collection::vec(
            (1u16..64, proptest::collection::vec(any::<u8>(), 0..40)), 0..20)) {
            let mut buf = vec![0u8; 4096];
            let mut w = AttrWriter::new(&mut buf);
            for (k, p) in &items {
                w.put(*k, p).unwrap();
            }
            let bytes = w.as_bytes().to_vec();
            let parsed: Vec<_> = Attrs::new(&bytes).into_iter().collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(parsed.len(), items.len());
            for (a, (k, p)) in parsed.iter().zip(&items) {
                prop_assert_eq!(a.kind(), *k);
                prop_assert_eq!(a.payload(), &p[..]);
            }
        }
    }
}
