//! The strict TLV validator (RFC 8415 §21.1 option layout) and the byte-level helpers the
//! codecs share.
//!
//! Every decoder in [`crate::wire`] runs [`validate_options`] over a whole option area before
//! it interprets a single option. The validator walks every nesting level and checks:
//!
//! - option headers and lengths add up **exactly** to the enclosing buffer (no trailing octets,
//!   no option running past its container);
//! - options with a fixed size have that size, containers are at least as long as their fixed
//!   part, DUIDs are 3..=130 octets (RFC 8415 §11.1), UTF-8 fields are UTF-8, and the
//!   length-prefixed lists of USER_CLASS / VENDOR_CLASS add up (see [`shape`]);
//! - nesting is at most [`MAX_NESTING_DEPTH`] levels and the whole tree holds at most
//!   [`MAX_OPTIONS`] options;
//! - OPTION_RELAY_MSG (9) appears only where a relay envelope codec expects it (never inside an
//!   option area handed to this validator).
//!
//! Option codes share one space in DHCPv6 (RFC 8415 §21.1), so the checks depend on the code
//! only, not on where the option sits. Codes this table does not know are opaque: their length
//! must fit, their content is carried verbatim.

use super::error::WireError;
use std::net::Ipv6Addr;

/// The largest failover message (RFC 5460 §5.1: a 2-octet message-size prefix).
pub const MAX_MESSAGE_SIZE: usize = 65_535;

/// The largest DHCPv6 message over UDP (65535 minus the 8-octet UDP header).
pub const MAX_UDP_MESSAGE_SIZE: usize = 65_527;

/// Deepest nesting of options inside options. The deepest legitimate failover nesting is
/// CLIENT_DATA > IA_* > IAADDR/IAPREFIX > F_DNS_REMOVAL_INFO > F_DNS_HOST_NAME (5 levels).
pub const MAX_NESTING_DEPTH: usize = 8;

/// The most options, counted over every nesting level, in one message (or one relay layer).
pub const MAX_OPTIONS: usize = 4_096;

/// The largest relay hop-count the server accepts in a RELAY-FORW.
///
/// RFC 8415 §7.6 lowered the default HOP_COUNT_LIMIT from RFC 3315's 32 to 8
/// ([`HOP_COUNT_LIMIT_RFC8415_DEFAULT`]); it is a relay-agent setting, so relays still
/// configured with the RFC 3315 value can legitimately deliver hop-counts up to 32. The server
/// accepts up to 32 and rejects more.
pub const HOP_COUNT_LIMIT: u8 = 32;

/// RFC 8415 §7.6's default HOP_COUNT_LIMIT (for reference; relays enforce it).
pub const HOP_COUNT_LIMIT_RFC8415_DEFAULT: u8 = 8;

/// The most RELAY-FORW / RELAY-REPL envelopes around one client message: hop-counts
/// 0..=[`HOP_COUNT_LIMIT`] (RFC 8415 §19.1.2: a relay forwards a message whose hop-count is
/// below the limit and increments it).
pub const MAX_RELAY_DEPTH: usize = HOP_COUNT_LIMIT as usize + 1;

/// DUID length bounds (RFC 8415 §11.1: a 2-octet type and 1..=128 octets).
pub const DUID_MIN_LEN: usize = 3;
/// See [`DUID_MIN_LEN`].
pub const DUID_MAX_LEN: usize = 130;

/// DHCPv6 option codes used by the codecs (RFC 8415 §21, RFC 5007, RFC 7653, RFC 8156 §5.5).
#[allow(missing_docs)]
pub mod code {
    pub const CLIENTID: u16 = 1;
    pub const SERVERID: u16 = 2;
    pub const IA_NA: u16 = 3;
    pub const IA_TA: u16 = 4;
    pub const IAADDR: u16 = 5;
    pub const ORO: u16 = 6;
    pub const PREFERENCE: u16 = 7;
    pub const ELAPSED_TIME: u16 = 8;
    pub const RELAY_MSG: u16 = 9;
    pub const AUTH: u16 = 11;
    pub const UNICAST: u16 = 12;
    pub const STATUS_CODE: u16 = 13;
    pub const RAPID_COMMIT: u16 = 14;
    pub const USER_CLASS: u16 = 15;
    pub const VENDOR_CLASS: u16 = 16;
    pub const VENDOR_OPTS: u16 = 17;
    pub const INTERFACE_ID: u16 = 18;
    pub const RECONF_MSG: u16 = 19;
    pub const RECONF_ACCEPT: u16 = 20;
    pub const DNS_SERVERS: u16 = 23;
    pub const DOMAIN_LIST: u16 = 24;
    pub const SNTP_SERVERS: u16 = 31;
    pub const IA_PD: u16 = 25;
    pub const IAPREFIX: u16 = 26;
    pub const INFORMATION_REFRESH_TIME: u16 = 32;
    pub const CLIENT_FQDN: u16 = 39;
    pub const NTP_SERVER: u16 = 56;
    pub const ERO: u16 = 43;
    pub const CLIENT_DATA: u16 = 45;
    pub const CLT_TIME: u16 = 46;
    pub const LQ_RELAY_DATA: u16 = 47;
    pub const VSS: u16 = 68;
    pub const SOL_MAX_RT: u16 = 82;
    pub const INF_MAX_RT: u16 = 83;
    pub const LQ_BASE_TIME: u16 = 100;
    pub const F_BINDING_STATUS: u16 = 114;
    pub const F_CONNECT_FLAGS: u16 = 115;
    pub const F_DNS_REMOVAL_INFO: u16 = 116;
    pub const F_DNS_HOST_NAME: u16 = 117;
    pub const F_DNS_ZONE_NAME: u16 = 118;
    pub const F_DNS_FLAGS: u16 = 119;
    pub const F_EXPIRATION_TIME: u16 = 120;
    pub const F_MAX_UNACKED_BNDUPD: u16 = 121;
    pub const F_MCLT: u16 = 122;
    pub const F_PARTNER_LIFETIME: u16 = 123;
    pub const F_PARTNER_LIFETIME_SENT: u16 = 124;
    pub const F_PARTNER_DOWN_TIME: u16 = 125;
    pub const F_PARTNER_RAW_CLT_TIME: u16 = 126;
    pub const F_PROTOCOL_VERSION: u16 = 127;
    pub const F_KEEPALIVE_TIME: u16 = 128;
    pub const F_RECONFIGURE_DATA: u16 = 129;
    pub const F_RELATIONSHIP_NAME: u16 = 130;
    pub const F_SERVER_FLAGS: u16 = 131;
    pub const F_SERVER_STATE: u16 = 132;
    pub const F_START_TIME_OF_STATE: u16 = 133;
    pub const F_STATE_EXPIRATION_TIME: u16 = 134;
}

/// What the validator requires of an option's data, by code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Any length, content opaque (also every code not in the table).
    Opaque,
    /// Exactly this many octets.
    Fixed(usize),
    /// At least this many octets.
    AtLeast(usize),
    /// A multiple of this many octets.
    MultipleOf(usize),
    /// A DUID: [`DUID_MIN_LEN`]..=[`DUID_MAX_LEN`] octets.
    Duid,
    /// `prefix` fixed octets, then UTF-8 text.
    Utf8 {
        /// Fixed octets before the text.
        prefix: usize,
    },
    /// `header` fixed octets, then options (validated recursively).
    Container {
        /// Fixed octets before the options.
        header: usize,
    },
    /// `header` fixed octets, then options in another code space (RFC 8415 §21.17
    /// vendor-specific sub-options): their lengths must add up, their content is opaque.
    Encapsulated {
        /// Fixed octets before the sub-options.
        header: usize,
    },
    /// `header` fixed octets, then items each prefixed by a 2-octet length, adding up exactly
    /// (RFC 8415 §21.15 USER_CLASS, §21.16 VENDOR_CLASS).
    LengthPrefixedItems {
        /// Fixed octets before the items.
        header: usize,
    },
    /// A list of domain names in uncompressed wire form (RFC 8415 §10, RFC 1035 §3.1): each
    /// label 1..=63 octets, each name at most 255 octets and ending with the root label.
    DomainNames,
    /// RFC 5908 §4 NTP sub-options (their own code space): server address (1) and multicast
    /// address (2) are 16 octets, FQDN (3) exactly one domain name; others opaque.
    NtpSuboptions,
    /// Not allowed in a validated option area (OPTION_RELAY_MSG: only the relay envelope codec
    /// handles it).
    Forbidden,
}

/// The validation rule for an option code (RFC 8415 §21, RFC 5007 §4.1.2, RFC 7653 §6.3,
/// RFC 8156 §5.5).
#[must_use]
pub fn shape(option_code: u16) -> Shape {
    use code::*;
    match option_code {
        CLIENTID | SERVERID => Shape::Duid,
        IA_NA | IA_PD => Shape::Container { header: 12 },
        IA_TA => Shape::Container { header: 4 },
        IAADDR => Shape::Container { header: 24 },
        IAPREFIX => Shape::Container { header: 25 },
        VENDOR_OPTS => Shape::Encapsulated { header: 4 },
        CLIENT_DATA | F_DNS_REMOVAL_INFO => Shape::Container { header: 0 },
        ORO | ERO => Shape::MultipleOf(2),
        PREFERENCE | RECONF_MSG | F_BINDING_STATUS | F_SERVER_FLAGS | F_SERVER_STATE => {
            Shape::Fixed(1)
        }
        ELAPSED_TIME | F_CONNECT_FLAGS | F_DNS_FLAGS => Shape::Fixed(2),
        INFORMATION_REFRESH_TIME
        | SOL_MAX_RT
        | INF_MAX_RT
        | CLT_TIME
        | LQ_BASE_TIME
        | F_EXPIRATION_TIME
        | F_MAX_UNACKED_BNDUPD
        | F_MCLT
        | F_PARTNER_LIFETIME
        | F_PARTNER_LIFETIME_SENT
        | F_PARTNER_DOWN_TIME
        | F_PARTNER_RAW_CLT_TIME
        | F_PROTOCOL_VERSION
        | F_KEEPALIVE_TIME
        | F_START_TIME_OF_STATE
        | F_STATE_EXPIRATION_TIME => Shape::Fixed(4),
        UNICAST => Shape::Fixed(16),
        RAPID_COMMIT | RECONF_ACCEPT => Shape::Fixed(0),
        AUTH => Shape::AtLeast(11),
        CLIENT_FQDN | VSS => Shape::AtLeast(1),
        F_RECONFIGURE_DATA => Shape::AtLeast(4),
        LQ_RELAY_DATA => Shape::AtLeast(16),
        DNS_SERVERS | SNTP_SERVERS => Shape::MultipleOf(16),
        DOMAIN_LIST => Shape::DomainNames,
        NTP_SERVER => Shape::NtpSuboptions,
        STATUS_CODE => Shape::Utf8 { prefix: 2 },
        F_RELATIONSHIP_NAME => Shape::Utf8 { prefix: 0 },
        USER_CLASS => Shape::LengthPrefixedItems { header: 0 },
        VENDOR_CLASS => Shape::LengthPrefixedItems { header: 4 },
        RELAY_MSG => Shape::Forbidden,
        _ => Shape::Opaque,
    }
}

/// One option as found in a validated buffer: its code and data (without code and length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The option code.
    pub code: u16,
    /// The option data.
    pub data: &'a [u8],
}

/// Splits an option area into options, checking only that the headers and lengths add up
/// exactly. Counts each option against `budget`.
pub fn split_options<'a>(buf: &'a [u8], budget: &mut usize) -> Result<Vec<Tlv<'a>>, WireError> {
    let mut out = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        let Some((head, after)) = rest.split_first_chunk::<4>() else {
            return Err(WireError::Truncated { needed: 4, available: rest.len() });
        };
        let code = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        if len > after.len() {
            return Err(WireError::LengthMismatch { code, declared: len, available: after.len() });
        }
        let (data, next) = after.split_at(len);
        *budget = budget.checked_sub(1).ok_or(WireError::TooManyOptions { limit: MAX_OPTIONS })?;
        out.push(Tlv { code, data });
        rest = next;
    }
    Ok(out)
}

/// Validates an option area at nesting level `depth` (0 for a message's own options): every
/// option at every level, against [`shape`]. `budget` is decremented per option.
pub fn validate_options(buf: &[u8], depth: usize, budget: &mut usize) -> Result<(), WireError> {
    if depth >= MAX_NESTING_DEPTH {
        return Err(WireError::TooDeep { limit: MAX_NESTING_DEPTH });
    }
    for tlv in split_options(buf, budget)? {
        validate_option(tlv, depth, budget)?;
    }
    Ok(())
}

/// Validates one option (and, for containers, everything inside it).
pub fn validate_option(tlv: Tlv<'_>, depth: usize, budget: &mut usize) -> Result<(), WireError> {
    let Tlv { code, data } = tlv;
    let len = data.len();
    let bad = |expected| Err(WireError::BadOptionLength { code, len, expected });
    match shape(code) {
        Shape::Opaque => Ok(()),
        Shape::Fixed(n) => {
            if len == n {
                Ok(())
            } else {
                bad("fixed size")
            }
        }
        Shape::AtLeast(n) => {
            if len >= n {
                Ok(())
            } else {
                bad("shorter than the fixed part")
            }
        }
        Shape::MultipleOf(n) => {
            if len % n == 0 {
                Ok(())
            } else {
                bad("not a multiple of the item size")
            }
        }
        Shape::Duid => {
            if (DUID_MIN_LEN..=DUID_MAX_LEN).contains(&len) {
                Ok(())
            } else {
                bad("a DUID is 3..=130 octets (RFC 8415 §11.1)")
            }
        }
        Shape::Utf8 { prefix } => match data.get(prefix..) {
            None => bad("shorter than the fixed part"),
            Some(text) => match std::str::from_utf8(text) {
                Ok(_) => Ok(()),
                Err(_) => Err(WireError::BadValue { code, reason: "text is not UTF-8" }),
            },
        },
        Shape::Container { header } => match data.get(header..) {
            None => bad("shorter than the container's fixed part"),
            Some(inner) => validate_options(inner, depth + 1, budget),
        },
        Shape::Encapsulated { header } => match data.get(header..) {
            None => bad("shorter than the container's fixed part"),
            Some(inner) => {
                if depth + 1 >= MAX_NESTING_DEPTH {
                    return Err(WireError::TooDeep { limit: MAX_NESTING_DEPTH });
                }
                split_options(inner, budget).map(|_| ())
            }
        },
        Shape::LengthPrefixedItems { header } => {
            let Some(mut rest) = data.get(header..) else {
                return bad("shorter than the fixed part");
            };
            while !rest.is_empty() {
                let Some((l, after)) = rest.split_first_chunk::<2>() else {
                    return bad("an item length is cut off");
                };
                let l = usize::from(u16::from_be_bytes(*l));
                let Some(next) = after.get(l..) else {
                    return bad("an item runs past the option");
                };
                rest = next;
            }
            Ok(())
        }
        Shape::DomainNames => {
            let mut rest = data;
            while !rest.is_empty() {
                rest = split_name(rest).map_err(|reason| WireError::BadValue { code, reason })?.1;
            }
            Ok(())
        }
        Shape::NtpSuboptions => {
            if depth + 1 >= MAX_NESTING_DEPTH {
                return Err(WireError::TooDeep { limit: MAX_NESTING_DEPTH });
            }
            for sub in split_options(data, budget)? {
                let ok = match sub.code {
                    1 | 2 => sub.data.len() == 16,
                    3 => matches!(split_name(sub.data), Ok((_, []))),
                    _ => true,
                };
                if !ok {
                    return Err(WireError::BadValue {
                        code,
                        reason: "an NTP sub-option is malformed (RFC 5908 §4)",
                    });
                }
            }
            Ok(())
        }
        Shape::Forbidden => Err(WireError::BadValue {
            code,
            reason: "relay message option outside a relay envelope",
        }),
    }
}

/// Splits one uncompressed domain name (RFC 1035 §3.1) off the front of `buf`: its labels and
/// the rest. Labels are 1..=63 octets (a length octet with the top bits set is a compression
/// pointer or reserved, refused: RFC 8415 §10 forbids compression), the name ends with the
/// zero-length root label and is at most 255 octets.
///
/// # Errors
/// Why the octets are not such a name.
pub fn split_name(buf: &[u8]) -> Result<(Vec<&[u8]>, &[u8]), &'static str> {
    let mut labels = Vec::new();
    let mut at = 0usize;
    loop {
        let Some(&len) = buf.get(at) else {
            return Err("a domain name is cut off (no root label)");
        };
        let len = usize::from(len);
        if len == 0 {
            at += 1;
            break;
        }
        if len > 63 {
            return Err("a domain name label is over 63 octets or compressed (RFC 8415 §10)");
        }
        let Some(label) = buf.get(at + 1..at + 1 + len) else {
            return Err("a domain name label runs past the option");
        };
        labels.push(label);
        at += 1 + len;
        if at >= 255 {
            return Err("a domain name is longer than 255 octets (RFC 1035 §2.3.4)");
        }
    }
    Ok((labels, buf.get(at..).unwrap_or_default()))
}

/// Validates a whole option area (depth 0, a fresh [`MAX_OPTIONS`] budget).
pub fn validate(buf: &[u8]) -> Result<(), WireError> {
    let mut budget = MAX_OPTIONS;
    validate_options(buf, 0, &mut budget)
}

/// A bounds-checked cursor over validated (or not) bytes. Every read returns an error instead
/// of panicking.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    #[must_use]
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Reads `N` octets.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        match self.buf.split_first_chunk::<N>() {
            Some((head, rest)) => {
                self.buf = rest;
                Ok(*head)
            }
            None => Err(WireError::Truncated { needed: N, available: self.buf.len() }),
        }
    }

    /// Reads a u8.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        self.array::<1>().map(|[b]| b)
    }

    /// Reads a big-endian u16.
    pub fn u16(&mut self) -> Result<u16, WireError> {
        self.array::<2>().map(u16::from_be_bytes)
    }

    /// Reads a big-endian u32.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        self.array::<4>().map(u32::from_be_bytes)
    }

    /// Reads an IPv6 address.
    pub fn ipv6(&mut self) -> Result<Ipv6Addr, WireError> {
        self.array::<16>().map(Ipv6Addr::from)
    }

    /// The unread remainder (consumes it).
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }
}

/// Appends one option (code, length, data); errors if `data` exceeds the 16-bit length.
pub fn put_option(out: &mut Vec<u8>, code: u16, data: &[u8]) -> Result<(), WireError> {
    let len = u16::try_from(data.len())
        .map_err(|_| WireError::TooLarge { size: data.len(), limit: usize::from(u16::MAX) })?;
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(code: u16, data: &[u8]) -> Vec<u8> {
        let mut v = code.to_be_bytes().to_vec();
        v.extend_from_slice(&u16::try_from(data.len()).unwrap_or(0).to_be_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn lengths_must_add_up_exactly() {
        assert_eq!(validate(&[]), Ok(()));
        assert_eq!(validate(&opt(200, b"abc")), Ok(()));
        // Trailing octets that cannot hold an option header.
        let mut v = opt(200, b"abc");
        v.push(0);
        assert_eq!(validate(&v), Err(WireError::Truncated { needed: 4, available: 1 }));
        // Length runs past the end.
        assert_eq!(
            validate(&[0, 200, 0, 5, 1, 2]),
            Err(WireError::LengthMismatch { code: 200, declared: 5, available: 2 })
        );
    }

    #[test]
    fn fixed_sizes_are_enforced() {
        assert!(validate(&opt(code::F_MCLT, &[0, 0, 0, 1])).is_ok());
        assert!(matches!(
            validate(&opt(code::F_MCLT, &[0, 0, 1])),
            Err(WireError::BadOptionLength { code: 122, len: 3, .. })
        ));
        assert!(matches!(
            validate(&opt(code::RAPID_COMMIT, &[1])),
            Err(WireError::BadOptionLength { code: 14, .. })
        ));
        assert!(matches!(
            validate(&opt(code::STATUS_CODE, &[0])),
            Err(WireError::BadOptionLength { code: 13, .. })
        ));
        assert!(matches!(
            validate(&opt(code::STATUS_CODE, &[0, 0, 0xff])),
            Err(WireError::BadValue { code: 13, .. })
        ));
        assert!(matches!(
            validate(&opt(code::CLIENTID, &[0, 1])),
            Err(WireError::BadOptionLength { .. })
        ));
    }

    #[test]
    fn nested_garbage_is_found() {
        // IA_NA whose inner IAADDR claims more than it has.
        let mut ia = vec![0u8; 12];
        ia.extend_from_slice(&[0, 5, 0, 30, 1, 2]);
        assert!(matches!(
            validate(&opt(code::IA_NA, &ia)),
            Err(WireError::LengthMismatch { code: 5, .. })
        ));
    }

    #[test]
    fn depth_and_count_limits() {
        let mut v = opt(code::CLIENT_DATA, &[]);
        for _ in 0..MAX_NESTING_DEPTH {
            v = opt(code::CLIENT_DATA, &v);
        }
        assert_eq!(validate(&v), Err(WireError::TooDeep { limit: MAX_NESTING_DEPTH }));
        let many: Vec<u8> = (0..=MAX_OPTIONS).flat_map(|_| opt(200, &[])).collect();
        assert_eq!(validate(&many), Err(WireError::TooManyOptions { limit: MAX_OPTIONS }));
        let ok: Vec<u8> = (0..MAX_OPTIONS).flat_map(|_| opt(200, &[])).collect();
        assert_eq!(validate(&ok), Ok(()));
    }

    #[test]
    fn class_lists_must_add_up() {
        assert!(validate(&opt(code::USER_CLASS, &[0, 2, b'a', b'b'])).is_ok());
        assert!(validate(&opt(code::USER_CLASS, &[0, 3, b'a', b'b'])).is_err());
        assert!(validate(&opt(code::VENDOR_CLASS, &[0, 0, 0, 9, 0, 1, b'x'])).is_ok());
        assert!(validate(&opt(code::VENDOR_CLASS, &[0, 0, 9])).is_err());
        assert!(validate(&opt(code::RELAY_MSG, &[])).is_err());
    }
}
