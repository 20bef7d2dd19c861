//! Resources (addresses and prefixes) and client identity (RFC 8415 DUID, IAID).

use serde::{Deserialize, Serialize};
use std::net::Ipv6Addr;

/// A client's DUID (RFC 8415 §11), kept as opaque bytes. Compared byte for byte.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Duid(pub Vec<u8>);

impl Duid {
    /// Builds a DUID from bytes.
    #[must_use]
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Duid(bytes.into())
    }

    /// The longest DUID: 128 octets of identifier after the 2-octet type (RFC 8415 §11.1).
    pub const MAX_LEN: usize = 130;

    /// A DUID from bytes, if it has 1 to [`Duid::MAX_LEN`] octets (RFC 8415 §11.1).
    ///
    /// # Errors
    /// The rule it breaks, for the caller's message.
    pub fn checked(bytes: impl Into<Vec<u8>>) -> Result<Self, &'static str> {
        let bytes = bytes.into();
        if bytes.is_empty() || bytes.len() > Self::MAX_LEN {
            return Err("must be 1 to 130 octets (RFC 8415 §11.1)");
        }
        Ok(Duid(bytes))
    }
}

impl std::fmt::Display for Duid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Identity association identifier (RFC 8415 §12).
pub type Iaid = u32;

/// The kind of identity association. IA_TA is carried on the wire (RFC 8156 §7.4) but the
/// server decisions serve IA_NA and IA_PD only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IaKind {
    /// IA_NA: non-temporary addresses (independent allocation, §4.2.1).
    Na,
    /// IA_TA: temporary addresses.
    Ta,
    /// IA_PD: delegated prefixes (proportional allocation, §4.2.2).
    Pd,
}

/// One leasable resource: an address or a (delegated or delegable) prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Resource {
    /// An IPv6 address (IA_NA / IA_TA).
    Address(Ipv6Addr),
    /// A prefix and its length (IA_PD).
    Prefix(Ipv6Addr, u8),
}

impl Resource {
    /// RFC 8156 §4.2.1: the independent-allocation owner of an address is given by bit 127
    /// (the lowest bit): 1 → primary, 0 → secondary. Prefixes have no parity owner.
    #[must_use]
    pub fn primary_half(&self) -> Option<bool> {
        match self {
            Resource::Address(a) => Some(a.octets()[15] & 1 == 1),
            Resource::Prefix(..) => None,
        }
    }

    /// Whether this resource is a prefix.
    #[must_use]
    pub fn is_prefix(&self) -> bool {
        matches!(self, Resource::Prefix(..))
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resource::Address(a) => write!(f, "{a}"),
            Resource::Prefix(p, l) => write!(f, "{p}/{l}"),
        }
    }
}

/// Who holds a binding: a client's DUID and the IA the resource sits in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientKey {
    /// The client's DUID.
    pub duid: Duid,
    /// The IA kind.
    pub kind: IaKind,
    /// The IAID.
    pub iaid: Iaid,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duid_has_1_to_130_octets() {
        assert!(Duid::checked(Vec::new()).is_err());
        assert!(Duid::checked(vec![0; Duid::MAX_LEN + 1]).is_err());
        assert_eq!(Duid::checked(vec![7; Duid::MAX_LEN]), Ok(Duid(vec![7; Duid::MAX_LEN])));
        assert_eq!(Duid::checked(vec![0, 3]), Ok(Duid(vec![0, 3])));
    }

    #[test]
    fn bit127_owner() {
        let odd: Ipv6Addr = "2001:db8::1".parse().unwrap_or(Ipv6Addr::UNSPECIFIED);
        let even: Ipv6Addr = "2001:db8::2".parse().unwrap_or(Ipv6Addr::UNSPECIFIED);
        assert_eq!(Resource::Address(odd).primary_half(), Some(true));
        assert_eq!(Resource::Address(even).primary_half(), Some(false));
        assert_eq!(Resource::Prefix(even, 56).primary_half(), None);
    }
}
