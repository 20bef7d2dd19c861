//! Octet codecs: the partner link (RFC 5460 §5.1 framing, RFC 8156 §5 messages and options)
//! and DHCPv6 client messages (RFC 8415), each behind a strict TLV validator.
