//! The one error type of the octet codecs.

use thiserror::Error;

/// Why bytes could not be decoded or a value could not be encoded.
///
/// Option codes are DHCPv6 option codes; `code: 0` names the fixed message header (no option
/// has code 0, RFC 8415 §24).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WireError {
    /// Fewer bytes than a fixed header or field needs (a message header, an option header,
    /// the fixed part of an option).
    #[error("truncated: {needed} octets needed, {available} available")]
    Truncated {
        /// Octets needed.
        needed: usize,
        /// Octets available.
        available: usize,
    },
    /// An option's length field runs past the end of its enclosing buffer.
    #[error("option {code}: option-len {declared} but only {available} octets remain")]
    LengthMismatch {
        /// The option code.
        code: u16,
        /// The option-len field.
        declared: usize,
        /// Octets left in the enclosing buffer.
        available: usize,
    },
    /// An option whose length is wrong for its code (a fixed-size option of the wrong size, a
    /// container shorter than its fixed part, list items that do not add up).
    #[error("option {code}: length {len} is invalid ({expected})")]
    BadOptionLength {
        /// The option code.
        code: u16,
        /// The option-len found.
        len: usize,
        /// What the code requires.
        expected: &'static str,
    },
    /// Options nested deeper than [`crate::wire::tlv::MAX_NESTING_DEPTH`].
    #[error("options nested deeper than {limit}")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// More options (at all levels together) than [`crate::wire::tlv::MAX_OPTIONS`].
    #[error("more than {limit} options")]
    TooManyOptions {
        /// The limit.
        limit: usize,
    },
    /// A message, frame or option larger than its limit.
    #[error("{size} octets exceed the limit of {limit}")]
    TooLarge {
        /// The size found (or that would be written).
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A field whose value is not allowed (a reserved binding-status, a must-be-zero bit,
    /// invalid UTF-8, an xid above 24 bits, ...).
    #[error("option {code}: {reason}")]
    BadValue {
        /// The option code (0: the message header).
        code: u16,
        /// What is wrong.
        reason: &'static str,
    },
    /// A failover message type this implementation does not know (RFC 8156 §5.3).
    #[error("unknown failover message type {0}")]
    UnknownMessageType(u8),
    /// A DHCPv6 message type that is not a client message the server acts on (or, for
    /// [`crate::wire::client::decode_server_reply`], not ADVERTISE or REPLY).
    #[error("message type {0} is not expected here")]
    UnexpectedMessageType(u8),
    /// A singleton option that appears twice in one container.
    #[error("option {0} appears more than once")]
    Duplicate(u16),
    /// A required option is absent.
    #[error("option {code} is required in {within}")]
    Missing {
        /// The missing option's code.
        code: u16,
        /// The container (option code, or 0 for the message).
        within: u16,
    },
    /// A relay message whose hop-count exceeds the accepted limit, or more relay envelopes
    /// than the limit.
    #[error("relay hop-count {hops} exceeds the limit of {limit}")]
    TooManyHops {
        /// The hop count or envelope count found.
        hops: usize,
        /// The limit.
        limit: usize,
    },
    /// A zero-length frame on the partner link (RFC 5460 §5.1 framing).
    #[error("zero-length frame")]
    EmptyFrame,
    /// dhcproto rejected bytes that our validator had accepted (the validator should make this
    /// unreachable; it is reported instead of trusted).
    #[error("dhcproto: {0}")]
    Dhcproto(String),
    /// dhcproto decoded fewer items than the validator counted, or did not consume an option
    /// exactly (its silent-stop behaviour, see docs/wire.md).
    #[error("option {code}: decoded {decoded} of {expected} items")]
    Shortened {
        /// The container or option code.
        code: u16,
        /// Items the validator counted.
        expected: usize,
        /// Items dhcproto produced.
        decoded: usize,
    },
}
