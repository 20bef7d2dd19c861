//! The partner link: RFC 5460 §5.1 framing, the RFC 8156 §5.2 message header, and every
//! failover message (§5.3, plus STARTTLS from RFC 7653) and option (§5.5 and the reused
//! options of §7.4/§7.6).
//!
//! # Octets
//!
//! ```text
//! frame   = message-size (u16, counts what follows) message          RFC 5460 §5.1
//! message = msg-type (u8) | transaction-id (u24) | sent-time (u32) | options   RFC 8156 §5.2
//! ```
//!
//! # Decoding
//!
//! [`decode_message`] checks the size ([`MAX_MESSAGE_SIZE`]), runs the TLV validator
//! ([`super::tlv::validate_options`]) over the whole option tree, and only then interprets
//! options. Options may come in any order. A singleton option that appears twice in one
//! container is an error ([`WireError::Duplicate`]); an option the container does not interpret
//! is kept in its `unknown` list, in arrival order. The exception is the BNDUPD/BNDREPLY
//! payload: the first CLIENT_DATA or stand-alone IAPREFIX is the payload and any further one is
//! kept in `unknown` so that the receiver can reject the message (§7.5.3).
//!
//! # Encoding: canonical order
//!
//! [`encode_message`] writes each container's interpreted options in this order, then its
//! `unknown` options in their stored order (and validates its own output before returning):
//!
//! | Container | Order |
//! |---|---|
//! | BNDUPD, BNDREPLY | CLIENT_DATA or IAPREFIX, STATUS_CODE |
//! | CLIENT_DATA (45) | CLIENTID, LQ_BASE_TIME, VSS, F_RECONFIGURE_DATA, LQ_RELAY_DATA, IA_* (in order), STATUS_CODE |
//! | IA_NA / IA_TA / IA_PD | IAADDR or IAPREFIX (in order), STATUS_CODE |
//! | IAADDR / IAPREFIX | (stand-alone IAPREFIX: VSS, LQ_BASE_TIME), STATUS_CODE, F_BINDING_STATUS, F_START_TIME_OF_STATE, F_STATE_EXPIRATION_TIME, F_PARTNER_LIFETIME, F_EXPIRATION_TIME, F_PARTNER_LIFETIME_SENT, CLT_TIME, F_PARTNER_RAW_CLT_TIME, CLIENT_FQDN, F_DNS_REMOVAL_INFO |
//! | F_DNS_REMOVAL_INFO | F_DNS_HOST_NAME, F_DNS_ZONE_NAME, F_DNS_FLAGS |
//! | CONNECT, CONNECTREPLY | F_PROTOCOL_VERSION, F_MCLT, F_KEEPALIVE_TIME, F_MAX_UNACKED_BNDUPD, F_RELATIONSHIP_NAME, F_CONNECT_FLAGS, STATUS_CODE |
//! | STATE | F_SERVER_STATE, F_SERVER_FLAGS, F_START_TIME_OF_STATE, F_PARTNER_DOWN_TIME |
//! | DISCONNECT, STARTTLS | STATUS_CODE |
//!
//! This is the order in which §6.1.1, §6.3, §7.4 and §7.6 list the options. An `unknown`
//! option whose code the container interprets is refused ([`WireError::BadValue`]): it would
//! not decode back into `unknown`.
//!
//! # Readings
//!
//! - IA_TA has no T1/T2 on the wire (RFC 8415 §21.5), although RFC 8156 §7.4 lists T1/T2 for
//!   every IA (digest §11.3 item 12): an IA_TA is encoded only with `t1 = t2 = 0` and decodes
//!   with both 0.
//! - STARTTLS (23) and its answer REPLY (7) are DHCPv6 messages of RFC 7653 §6.2.2 and
//!   RFC 8415 §7.3, not failover messages of RFC 8156 §5.3: they are sent with the 4-octet
//!   DHCPv6 header (msg-type, transaction-id, options: no sent-time). On receipt both the
//!   4-octet and the 8-octet framing are accepted (see [`decode_message`]). A received type 7 is
//!   [`MessageBody::StartTlsReply`]; docs/design.md ("STARTTLS") has the reading.
//! - An IAADDR inside an IA_PD, or an IAPREFIX inside an IA_NA / IA_TA, is an error.

use super::error::WireError;
use super::tlv::{self, code, put_option, Reader, Tlv, MAX_MESSAGE_SIZE, MAX_OPTIONS};
use crate::failover::message::{
    msg_type, BindingMessage, BindingPayload, ClientData, ConnectOptions, DisconnectOptions,
    DnsRemovalInfo, IaData, LeaseData, LeaseOptions, Message, MessageBody, NoOptions, PrefixData,
    RawOption, ReconfigureData, RelayData, ServerFlags, StateOptions, Status, StatusCode, XID_MAX,
};
use crate::failover::state::EndpointState;
use crate::leases::binding::BindingStatus;
use crate::resource::{Duid, IaKind, Resource};
use crate::time::Time;
use std::net::Ipv6Addr;

/// The fixed §5.2 header: msg-type, 24-bit transaction-id, 32-bit sent-time.
pub const HEADER_LEN: usize = 8;

/// The RFC 5460 §5.1 message-size prefix.
pub const FRAME_PREFIX_LEN: usize = 2;

/// The DHCPv6 header (RFC 8415 §8): msg-type and 24-bit transaction-id. STARTTLS and REPLY
/// are sent with it.
pub const DHCP_HEADER_LEN: usize = 4;

mod decode;
mod encode;

pub use self::decode::{decode_message, restamp};
#[cfg(test)]
use self::encode::enc_ia;
use self::encode::ia_code;
pub use self::encode::{encode_frame, encode_message};

// ------------------------------------------------------------------------------------------
// Framing
// ------------------------------------------------------------------------------------------

/// Reassembles RFC 5460 §5.1 frames from a TCP byte stream.
///
/// Push whatever the socket delivered, then call [`FrameDecoder::next_frame`] (or
/// [`FrameDecoder::next_message`]) until it returns `Ok(None)`. Errors are sticky: after a
/// zero-length or over-limit frame the stream cannot be resynchronised, every later call
/// returns the same error, and the connection should be dropped.
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    limit: usize,
    error: Option<WireError>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder accepting frames up to [`MAX_MESSAGE_SIZE`].
    #[must_use]
    pub fn new() -> Self {
        Self::with_limit(MAX_MESSAGE_SIZE)
    }

    /// A decoder accepting frames up to `limit` octets (at most [`MAX_MESSAGE_SIZE`]).
    #[must_use]
    pub fn with_limit(limit: usize) -> Self {
        FrameDecoder { buf: Vec::new(), start: 0, limit: limit.min(MAX_MESSAGE_SIZE), error: None }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Octets received but not yet returned as frames.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buf.len().saturating_sub(self.start)
    }

    /// The next complete frame's message bytes (without the 2-octet prefix), `Ok(None)` if
    /// more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let pending = self.buf.get(self.start..).unwrap_or_default();
        let Some((prefix, rest)) = pending.split_first_chunk::<FRAME_PREFIX_LEN>() else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes(*prefix));
        let err = if len == 0 {
            Some(WireError::EmptyFrame)
        } else if len > self.limit {
            Some(WireError::TooLarge { size: len, limit: self.limit })
        } else {
            None
        };
        if let Some(e) = err {
            self.error = Some(e.clone());
            return Err(e);
        }
        let Some(frame) = rest.get(..len) else {
            return Ok(None);
        };
        let frame = frame.to_vec();
        self.start = self.start.saturating_add(FRAME_PREFIX_LEN + len);
        if self.start >= self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Ok(Some(frame))
    }

    /// The next complete frame, decoded. A frame that does not decode is an error (the frame
    /// is consumed; framing is still intact, so the caller may continue or disconnect).
    pub fn next_message(&mut self) -> Result<Option<Message>, WireError> {
        match self.next_frame()? {
            Some(bytes) => decode_message(&bytes).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(unknown: Vec<RawOption>) -> Message {
        Message { xid: 5, sent_time: Time(9), body: MessageBody::Contact(NoOptions { unknown }) }
    }

    #[test]
    fn unknown_options_with_interpreted_codes_are_refused() {
        let m = Message {
            xid: 1,
            sent_time: Time(1),
            body: MessageBody::Connect(ConnectOptions {
                unknown: vec![RawOption { code: code::F_MCLT, data: vec![0, 0, 0, 1] }],
                ..ConnectOptions::default()
            }),
        };
        assert!(matches!(encode_message(&m), Err(WireError::BadValue { code: 122, .. })));
        // The same code is fine where nobody interprets it.
        let m = contact(vec![RawOption { code: code::F_MCLT, data: vec![0, 0, 0, 1] }]);
        assert_eq!(encode_message(&m).and_then(|b| decode_message(&b)), Ok(m));
        // An unknown option of a known code must still have its shape.
        let m = contact(vec![RawOption { code: code::F_MCLT, data: vec![0, 1] }]);
        assert!(matches!(encode_message(&m), Err(WireError::BadOptionLength { code: 122, .. })));
    }

    #[test]
    fn ia_ta_with_t1_or_resource_of_wrong_kind_is_refused() {
        let ia = IaData {
            kind: IaKind::Ta,
            iaid: 1,
            t1: 5,
            t2: 0,
            leases: vec![],
            status: None,
            unknown: vec![],
        };
        assert!(matches!(enc_ia(&ia), Err(WireError::BadValue { code: 4, .. })));
        let ia = IaData {
            kind: IaKind::Pd,
            t1: 0,
            leases: vec![LeaseData {
                resource: Resource::Address(Ipv6Addr::LOCALHOST),
                preferred_lifetime: 0,
                valid_lifetime: 0,
                options: LeaseOptions::default(),
            }],
            ..ia
        };
        assert!(matches!(enc_ia(&ia), Err(WireError::BadValue { code: 25, .. })));
    }

    #[test]
    fn restamp_rewrites_only_the_sent_time() {
        let mut f = encode_frame(&contact(vec![])).unwrap_or_default();
        assert!(restamp(&mut f, Time(0x0102_0304)));
        let back = decode_message(f.get(FRAME_PREFIX_LEN..).unwrap_or_default());
        assert_eq!(back, Ok(Message { sent_time: Time(0x0102_0304), ..contact(vec![]) }));
        // STARTTLS / REPLY have no sent-time; short frames are left alone.
        let mut s = encode_frame(&crate::failover::secure::starttls_request(9)).unwrap_or_default();
        let before = s.clone();
        assert!(!restamp(&mut s, Time(1)));
        assert_eq!(s, before);
        assert!(!restamp(&mut [0, 3, 24, 0, 0], Time(1)));
        assert!(!restamp(&mut [], Time(1)));
    }

    #[test]
    fn frame_decoder_compacts_and_reports_buffered() {
        let one = encode_frame(&contact(vec![])).unwrap_or_default();
        let mut fd = FrameDecoder::new();
        for _ in 0..100 {
            fd.push(&one);
            fd.push(one.get(..3).unwrap_or_default());
            assert!(matches!(fd.next_message(), Ok(Some(_))));
            assert_eq!(fd.next_frame(), Ok(None));
            fd.push(one.get(3..).unwrap_or_default());
            assert!(matches!(fd.next_message(), Ok(Some(_))));
            assert_eq!(fd.buffered(), 0);
        }
        // A frame that does not decode is consumed; the next one still decodes.
        let mut fd = FrameDecoder::new();
        fd.push(&[0, 8, 99, 0, 0, 0, 0, 0, 0, 0]);
        fd.push(&one);
        assert_eq!(fd.next_message(), Err(WireError::UnknownMessageType(99)));
        assert_eq!(fd.next_message(), Ok(Some(contact(vec![]))));
    }
}
