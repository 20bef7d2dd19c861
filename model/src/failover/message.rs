//! Failover messages (RFC 8156 §5.3) and options (§5.5) as typed values.
//!
//! The core builds and consumes these; it never sees bytes. Their octet encoding is in
//! [`crate::wire`]. Option containers keep unknown sub-options in `unknown` (in arrival order)
//! so that nothing is silently dropped (§5.5: options follow RFC 8415 §21.1 TLV rules).

use crate::failover::state::EndpointState;
use crate::leases::binding::BindingStatus;
use crate::resource::{Duid, IaKind, Iaid, Resource};
use crate::time::Time;
use serde::{Deserialize, Serialize};
use std::net::Ipv6Addr;

/// The largest transaction id (§5.2: 24 bits).
pub const XID_MAX: u32 = 0x00ff_ffff;

/// Protocol version this implementation speaks (§5.5.12: 1.0).
pub const PROTOCOL_VERSION: (u16, u16) = (1, 0);

/// Message type codes (§5.3, §11).
pub mod msg_type {
    /// BNDUPD.
    pub const BNDUPD: u8 = 24;
    /// BNDREPLY.
    pub const BNDREPLY: u8 = 25;
    /// POOLREQ.
    pub const POOLREQ: u8 = 26;
    /// POOLRESP.
    pub const POOLRESP: u8 = 27;
    /// UPDREQ.
    pub const UPDREQ: u8 = 28;
    /// UPDREQALL.
    pub const UPDREQALL: u8 = 29;
    /// UPDDONE.
    pub const UPDDONE: u8 = 30;
    /// CONNECT.
    pub const CONNECT: u8 = 31;
    /// CONNECTREPLY.
    pub const CONNECTREPLY: u8 = 32;
    /// DISCONNECT.
    pub const DISCONNECT: u8 = 33;
    /// STATE.
    pub const STATE: u8 = 34;
    /// CONTACT.
    pub const CONTACT: u8 = 35;
    /// STARTTLS (RFC 7653 §6.2.2), used for the secure mode (§10).
    pub const STARTTLS: u8 = 23;
    /// REPLY (RFC 8415 §7.3): on the partner link only the answer to STARTTLS (RFC 7653 §9.1).
    pub const REPLY: u8 = 7;
}

/// Status codes used on the partner link (RFC 8415 §21.13, RFC 7653 §6, RFC 8156 §5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StatusCode(pub u16);

impl StatusCode {
    /// Success (0).
    pub const SUCCESS: StatusCode = StatusCode(0);
    /// UnspecFail (1).
    pub const UNSPEC_FAIL: StatusCode = StatusCode(1);
    /// NotSupported (14, RFC 7653): unsupported protocol version in CONNECT (§6.1.2).
    pub const NOT_SUPPORTED: StatusCode = StatusCode(14);
    /// TLSConnectionRefused (15, RFC 7653).
    pub const TLS_CONNECTION_REFUSED: StatusCode = StatusCode(15);
    /// AddressInUse (16).
    pub const ADDRESS_IN_USE: StatusCode = StatusCode(16);
    /// ConfigurationConflict (17).
    pub const CONFIGURATION_CONFLICT: StatusCode = StatusCode(17);
    /// MissingBindingInformation (18).
    pub const MISSING_BINDING_INFORMATION: StatusCode = StatusCode(18);
    /// OutdatedBindingInformation (19).
    pub const OUTDATED_BINDING_INFORMATION: StatusCode = StatusCode(19);
    /// ServerShuttingDown (20).
    pub const SERVER_SHUTTING_DOWN: StatusCode = StatusCode(20);
    /// DNSUpdateNotSupported (21).
    pub const DNS_UPDATE_NOT_SUPPORTED: StatusCode = StatusCode(21);
    /// ExcessiveTimeSkew (22).
    pub const EXCESSIVE_TIME_SKEW: StatusCode = StatusCode(22);
}

/// OPTION_STATUS_CODE (13): a code and a UTF-8 message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Status {
    /// The code.
    pub code: StatusCode,
    /// The human-readable message.
    pub message: String,
}

impl Status {
    /// Builds a status.
    #[must_use]
    pub fn new(code: StatusCode, message: impl Into<String>) -> Self {
        Status { code, message: message.into() }
    }
}

/// An option this implementation does not interpret, carried verbatim (code and data).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RawOption {
    /// The option code.
    pub code: u16,
    /// The option data (without code and length).
    pub data: Vec<u8>,
}

/// OPTION_F_SERVER_FLAGS (131) bits (§5.5.16).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServerFlags {
    /// S: the sender is in STARTUP.
    pub startup: bool,
    /// A: the last flags the sender received had S set.
    pub ack_startup: bool,
    /// C: the sender has communicated with its partner before (used to detect storage loss).
    pub communicated: bool,
}

impl ServerFlags {
    /// The wire byte: C = 0x01, S = 0x02, A = 0x04.
    #[must_use]
    pub fn to_byte(self) -> u8 {
        u8::from(self.communicated)
            | (u8::from(self.startup) << 1)
            | (u8::from(self.ack_startup) << 2)
    }

    /// Parses the wire byte; `None` if a must-be-zero bit is set.
    #[must_use]
    pub fn from_byte(b: u8) -> Option<Self> {
        (b & !0x07 == 0).then_some(ServerFlags {
            communicated: b & 0x01 != 0,
            startup: b & 0x02 != 0,
            ack_startup: b & 0x04 != 0,
        })
    }
}

/// OPTION_F_DNS_REMOVAL_INFO (116) and its sub-options (§5.5.3).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DnsRemovalInfo {
    /// OPTION_F_DNS_HOST_NAME (117), RFC 1035 wire format.
    pub host_name: Option<Vec<u8>>,
    /// OPTION_F_DNS_ZONE_NAME (118), RFC 1035 wire format.
    pub zone_name: Option<Vec<u8>>,
    /// OPTION_F_DNS_FLAGS (119).
    pub flags: Option<u16>,
    /// Sub-options not interpreted.
    pub unknown: Vec<RawOption>,
}

/// The failover sub-options of one IAADDR or IAPREFIX (§7.4, §7.6), or of a stand-alone
/// IAPREFIX. Which of them must appear depends on the message (checked by the receiver).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LeaseOptions {
    /// OPTION_F_BINDING_STATUS (114).
    pub binding_status: Option<BindingStatus>,
    /// OPTION_F_START_TIME_OF_STATE (133).
    pub start_time_of_state: Option<Time>,
    /// OPTION_F_STATE_EXPIRATION_TIME (134).
    pub state_expiration_time: Option<Time>,
    /// OPTION_F_PARTNER_LIFETIME (123).
    pub partner_lifetime: Option<Time>,
    /// OPTION_F_EXPIRATION_TIME (120).
    pub expiration_time: Option<Time>,
    /// OPTION_F_PARTNER_LIFETIME_SENT (124), in BNDREPLY.
    pub partner_lifetime_sent: Option<Time>,
    /// OPTION_CLT_TIME (46): seconds since the last client contact, relative to LQ_BASE_TIME.
    pub clt_time: Option<u32>,
    /// OPTION_F_PARTNER_RAW_CLT_TIME (126).
    pub partner_raw_clt_time: Option<Time>,
    /// OPTION_CLIENT_FQDN (39) data, carried opaquely.
    pub client_fqdn: Option<Vec<u8>>,
    /// OPTION_F_DNS_REMOVAL_INFO (116).
    pub dns_removal_info: Option<DnsRemovalInfo>,
    /// OPTION_STATUS_CODE (13), in BNDREPLY.
    pub status: Option<Status>,
    /// Sub-options not interpreted.
    pub unknown: Vec<RawOption>,
}

/// One IAADDR (5) or IAPREFIX (26) inside an IA of a CLIENT_DATA.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LeaseData {
    /// The address (IAADDR) or prefix (IAPREFIX).
    pub resource: Resource,
    /// Preferred lifetime as sent to the client.
    pub preferred_lifetime: u32,
    /// Valid lifetime as sent to the client.
    pub valid_lifetime: u32,
    /// The failover sub-options.
    pub options: LeaseOptions,
}

/// One IA_NA (3), IA_TA (4) or IA_PD (25) inside a CLIENT_DATA.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IaData {
    /// IA_NA, IA_TA or IA_PD.
    pub kind: IaKind,
    /// The IAID.
    pub iaid: Iaid,
    /// T1 as sent to the client (absent on the wire for IA_TA: digest §11.3 item 12).
    pub t1: u32,
    /// T2 as sent to the client (absent on the wire for IA_TA).
    pub t2: u32,
    /// The IAADDR / IAPREFIX options.
    pub leases: Vec<LeaseData>,
    /// An OPTION_STATUS_CODE at the IA level (BNDREPLY, §7.7).
    pub status: Option<Status>,
    /// Sub-options not interpreted.
    pub unknown: Vec<RawOption>,
}

/// OPTION_F_RECONFIGURE_DATA (129).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReconfigureData {
    /// The absolute time the reconfigure key was created.
    pub reconfigure_time: Time,
    /// The reconfigure key.
    pub key: Vec<u8>,
}

/// OPTION_LQ_RELAY_DATA (47, RFC 5007 §4.1.2.4): the peer address and the relay message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RelayData {
    /// The peer address.
    pub peer_address: Ipv6Addr,
    /// The full relay message, opaque.
    pub relay_message: Vec<u8>,
}

/// OPTION_CLIENT_DATA (45): everything known about one client (§7.4 case A).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClientData {
    /// OPTION_CLIENTID (1). Required.
    pub client_id: Duid,
    /// OPTION_LQ_BASE_TIME (100). Required.
    pub lq_base_time: Option<Time>,
    /// OPTION_VSS (68), if and only if the binding is in a non-default VPN.
    pub vss: Option<Vec<u8>>,
    /// OPTION_F_RECONFIGURE_DATA (129).
    pub reconfigure: Option<ReconfigureData>,
    /// OPTION_LQ_RELAY_DATA (47).
    pub relay_data: Option<RelayData>,
    /// The IA_NA / IA_TA / IA_PD options.
    pub ias: Vec<IaData>,
    /// OPTION_STATUS_CODE at the CLIENT_DATA level (BNDREPLY: rejects the whole update).
    pub status: Option<Status>,
    /// Sub-options not interpreted.
    pub unknown: Vec<RawOption>,
}

/// A stand-alone OPTION_IAPREFIX (26) for a delegable prefix owned by no client
/// (§7.4 case B; used for the proportional hand-off of §4.2.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PrefixData {
    /// The prefix and its preferred and valid lifetimes (normally zero) with sub-options.
    pub lease: LeaseData,
    /// OPTION_LQ_BASE_TIME (100), inside the IAPREFIX.
    pub lq_base_time: Option<Time>,
    /// OPTION_VSS (68), inside the IAPREFIX.
    pub vss: Option<Vec<u8>>,
}

/// The payload of a BNDUPD or BNDREPLY: exactly one CLIENT_DATA or one stand-alone IAPREFIX
/// (§5.3.1, §7.4). Extra top-level options are kept so the receiver can reject them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BindingPayload {
    /// A client's bindings.
    Client(ClientData),
    /// A delegable prefix owned by no client.
    Prefix(PrefixData),
}

/// BNDUPD / BNDREPLY body.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BindingMessage {
    /// The binding payload; `None` when the message carried neither (the receiver answers
    /// MissingBindingInformation, §7.5.3).
    pub payload: Option<BindingPayload>,
    /// A top-level OPTION_STATUS_CODE (BNDREPLY only: rejects the entire update).
    pub status: Option<Status>,
    /// Top-level options not interpreted (including any second CLIENT_DATA / IAPREFIX).
    pub unknown: Vec<RawOption>,
}

/// CONNECT (§6.1.1) and CONNECTREPLY (§6.1.2) options.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConnectOptions {
    /// OPTION_F_PROTOCOL_VERSION (127): (major, minor).
    pub protocol_version: Option<(u16, u16)>,
    /// OPTION_F_MCLT (122), seconds.
    pub mclt: Option<u32>,
    /// OPTION_F_KEEPALIVE_TIME (128), seconds.
    pub keepalive_time: Option<u32>,
    /// OPTION_F_MAX_UNACKED_BNDUPD (121).
    pub max_unacked_bndupd: Option<u32>,
    /// OPTION_F_RELATIONSHIP_NAME (130), UTF-8 (CONNECT only).
    pub relationship_name: Option<String>,
    /// OPTION_F_CONNECT_FLAGS (115); bit 15 (0x0001) = FIXED_PD_LENGTH.
    pub connect_flags: Option<u16>,
    /// OPTION_STATUS_CODE (13): a CONNECTREPLY with a status rejects the connection.
    pub status: Option<Status>,
    /// Options not interpreted.
    pub unknown: Vec<RawOption>,
}

/// OPTION_F_CONNECT_FLAGS bit FIXED_PD_LENGTH (§5.5.2).
pub const CONNECT_FLAG_FIXED_PD_LENGTH: u16 = 0x0001;

/// STATE (§6.3) options.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StateOptions {
    /// OPTION_F_SERVER_STATE (132). In STARTUP this is the previously recorded state.
    pub server_state: Option<EndpointState>,
    /// OPTION_F_SERVER_FLAGS (131).
    pub flags: Option<ServerFlags>,
    /// OPTION_F_START_TIME_OF_STATE (133).
    pub start_time_of_state: Option<Time>,
    /// OPTION_F_PARTNER_DOWN_TIME (125), only while the sender is in PARTNER-DOWN.
    pub partner_down_time: Option<Time>,
    /// Options not interpreted.
    pub unknown: Vec<RawOption>,
}

/// DISCONNECT (§5.3.10) options.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DisconnectOptions {
    /// OPTION_STATUS_CODE (13), e.g. ServerShuttingDown.
    pub status: Option<Status>,
    /// Options not interpreted.
    pub unknown: Vec<RawOption>,
}

/// Options of the messages that define none (POOLREQ, POOLRESP, UPDREQ, UPDREQALL, UPDDONE,
/// CONTACT): anything present is carried so it is not silently lost.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NoOptions {
    /// Options not interpreted.
    pub unknown: Vec<RawOption>,
}

/// A failover message body (§5.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MessageBody {
    /// 24 BNDUPD.
    BndUpd(BindingMessage),
    /// 25 BNDREPLY.
    BndReply(BindingMessage),
    /// 26 POOLREQ.
    PoolReq(NoOptions),
    /// 27 POOLRESP.
    PoolResp(NoOptions),
    /// 28 UPDREQ.
    UpdReq(NoOptions),
    /// 29 UPDREQALL.
    UpdReqAll(NoOptions),
    /// 30 UPDDONE.
    UpdDone(NoOptions),
    /// 31 CONNECT.
    Connect(ConnectOptions),
    /// 32 CONNECTREPLY.
    ConnectReply(ConnectOptions),
    /// 33 DISCONNECT.
    Disconnect(DisconnectOptions),
    /// 34 STATE.
    State(StateOptions),
    /// 35 CONTACT.
    Contact(NoOptions),
    /// 23 STARTTLS (RFC 7653 §6.2.2): the primary's request for TLS, the first message on a new
    /// connection. Sent without options; options received in it are ignored.
    StartTls(DisconnectOptions),
    /// 7 REPLY (RFC 8415 §7.3), the answer to STARTTLS (RFC 7653 §8.2, §9.1): without a status
    /// code it says "go ahead with TLS"; with TLSConnectionRefused it refuses. It carries the
    /// STARTTLS's transaction-id.
    StartTlsReply(DisconnectOptions),
}

impl MessageBody {
    /// The message-type code.
    #[must_use]
    pub fn msg_type(&self) -> u8 {
        match self {
            MessageBody::BndUpd(_) => msg_type::BNDUPD,
            MessageBody::BndReply(_) => msg_type::BNDREPLY,
            MessageBody::PoolReq(_) => msg_type::POOLREQ,
            MessageBody::PoolResp(_) => msg_type::POOLRESP,
            MessageBody::UpdReq(_) => msg_type::UPDREQ,
            MessageBody::UpdReqAll(_) => msg_type::UPDREQALL,
            MessageBody::UpdDone(_) => msg_type::UPDDONE,
            MessageBody::Connect(_) => msg_type::CONNECT,
            MessageBody::ConnectReply(_) => msg_type::CONNECTREPLY,
            MessageBody::Disconnect(_) => msg_type::DISCONNECT,
            MessageBody::State(_) => msg_type::STATE,
            MessageBody::Contact(_) => msg_type::CONTACT,
            MessageBody::StartTls(_) => msg_type::STARTTLS,
            MessageBody::StartTlsReply(_) => msg_type::REPLY,
        }
    }

    /// The RFC's name for the message type.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            MessageBody::BndUpd(_) => "BNDUPD",
            MessageBody::BndReply(_) => "BNDREPLY",
            MessageBody::PoolReq(_) => "POOLREQ",
            MessageBody::PoolResp(_) => "POOLRESP",
            MessageBody::UpdReq(_) => "UPDREQ",
            MessageBody::UpdReqAll(_) => "UPDREQALL",
            MessageBody::UpdDone(_) => "UPDDONE",
            MessageBody::Connect(_) => "CONNECT",
            MessageBody::ConnectReply(_) => "CONNECTREPLY",
            MessageBody::Disconnect(_) => "DISCONNECT",
            MessageBody::State(_) => "STATE",
            MessageBody::Contact(_) => "CONTACT",
            MessageBody::StartTls(_) => "STARTTLS",
            MessageBody::StartTlsReply(_) => "REPLY",
        }
    }

    /// Whether this is a failover message of RFC 8156 §5.3 (the 8-octet §5.2 header with
    /// sent-time), as opposed to STARTTLS and its REPLY, which are DHCPv6 messages of RFC 7653
    /// and RFC 8415 with the 4-octet header and no sent-time (docs/design.md, "STARTTLS").
    #[must_use]
    pub fn has_sent_time(&self) -> bool {
        !matches!(self, MessageBody::StartTls(_) | MessageBody::StartTlsReply(_))
    }
}

impl Message {
    /// Moves every absolute time the message carries by `delta` seconds: the sent time and
    /// the lease, binding and state options' times ([`Time::translated`], keeping the zero
    /// "no time"; the CLTT travels as a distance from the base time and stays). The model checker's time
    /// canonicalisation only ([`crate::Endpoint::translate`]).
    pub fn translate(&mut self, delta: i64) {
        self.map_times(&|t| t.translated(delta));
    }

    /// Replaces every absolute time `t` the message carries (those [`Message::translate`]
    /// moves) by `f(t)`, and each lease's CLTT distance `c` from its base time `b` by
    /// `f(b) - f(b - c)` (the distance of the mapped times); `f` must keep [`Time::ZERO`] and be
    /// monotone (see `Endpoint::map_times`).
    pub fn map_times(&mut self, f: &impl Fn(Time) -> Time) {
        let mv = |t: &mut Option<Time>| *t = t.map(f);
        // The CLTT travels as its distance from the payload's base time (§7.5.1): the time it
        // stands for is `base - clt_time`, so the distance is that of the mapped times.
        let lease = |l: &mut LeaseData, base: Option<Time>| {
            let o = &mut l.options;
            if let (Some(c), Some(base)) = (o.clt_time, base) {
                o.clt_time = Some(f(base).since(f(base.minus(c))));
            }
            for t in [
                &mut o.start_time_of_state,
                &mut o.state_expiration_time,
                &mut o.partner_lifetime,
                &mut o.expiration_time,
                &mut o.partner_lifetime_sent,
                &mut o.partner_raw_clt_time,
            ] {
                mv(t);
            }
        };
        self.sent_time = f(self.sent_time);
        match &mut self.body {
            MessageBody::BndUpd(b) | MessageBody::BndReply(b) => match &mut b.payload {
                Some(BindingPayload::Client(c)) => {
                    for ia in &mut c.ias {
                        for l in &mut ia.leases {
                            lease(l, c.lq_base_time);
                        }
                    }
                    mv(&mut c.lq_base_time);
                    if let Some(r) = &mut c.reconfigure {
                        r.reconfigure_time = f(r.reconfigure_time);
                    }
                }
                Some(BindingPayload::Prefix(p)) => {
                    lease(&mut p.lease, p.lq_base_time);
                    mv(&mut p.lq_base_time);
                }
                None => {}
            },
            MessageBody::State(s) => {
                mv(&mut s.start_time_of_state);
                mv(&mut s.partner_down_time);
            }
            MessageBody::PoolReq(_)
            | MessageBody::PoolResp(_)
            | MessageBody::UpdReq(_)
            | MessageBody::UpdReqAll(_)
            | MessageBody::UpdDone(_)
            | MessageBody::Connect(_)
            | MessageBody::ConnectReply(_)
            | MessageBody::Disconnect(_)
            | MessageBody::Contact(_)
            | MessageBody::StartTls(_)
            | MessageBody::StartTlsReply(_) => {}
        }
    }
}

/// One failover message: the §5.2 header fields and the body.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    /// Transaction id (24 bits, §5.4).
    pub xid: u32,
    /// sent-time (§5.2), absolute. STARTTLS and REPLY have none (see
    /// [`MessageBody::has_sent_time`]): ignored when they are encoded, 0 when they were
    /// received in the 4-octet framing.
    pub sent_time: Time,
    /// The body.
    pub body: MessageBody,
}
