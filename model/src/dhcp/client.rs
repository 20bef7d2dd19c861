//! Abstract DHCPv6 client requests and server replies (RFC 8415), as the core sees them.
//!
//! The runtime decodes a client packet (validator, then dhcproto, see [`crate::wire`]) into a
//! [`ClientRequest`]; the core answers with a [`ClientReply`] or a deliberate silence. No
//! dhcproto type appears here.

use crate::dhcp::options::OptionValue;
use crate::resource::{Duid, IaKind, Iaid, Resource};
use serde::{Deserialize, Serialize};
use std::net::Ipv6Addr;

/// The client message types the server acts on (RFC 8415 §7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ClientMsgKind {
    /// SOLICIT (1).
    Solicit,
    /// REQUEST (3).
    Request,
    /// CONFIRM (4).
    Confirm,
    /// RENEW (5).
    Renew,
    /// REBIND (6).
    Rebind,
    /// RELEASE (8).
    Release,
    /// DECLINE (9).
    Decline,
    /// INFORMATION-REQUEST (11).
    InformationRequest,
}

impl ClientMsgKind {
    /// The RFC 8415 name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ClientMsgKind::Solicit => "SOLICIT",
            ClientMsgKind::Request => "REQUEST",
            ClientMsgKind::Confirm => "CONFIRM",
            ClientMsgKind::Renew => "RENEW",
            ClientMsgKind::Rebind => "REBIND",
            ClientMsgKind::Release => "RELEASE",
            ClientMsgKind::Decline => "DECLINE",
            ClientMsgKind::InformationRequest => "INFORMATION-REQUEST",
        }
    }
}

/// An address or prefix the client names in an IA (a hint in SOLICIT/REQUEST, the lease in
/// RENEW/REBIND/RELEASE/DECLINE/CONFIRM), with the lifetimes it asked for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestedLease {
    /// The address or prefix. A prefix hint may carry only a length (address `::`).
    pub resource: Resource,
    /// Preferred lifetime the client asked for (0 = no preference).
    pub preferred_lifetime: u32,
    /// Valid lifetime the client asked for (0 = no preference).
    pub valid_lifetime: u32,
}

/// One IA_NA / IA_PD in a client request.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IaRequest {
    /// IA_NA, IA_TA or IA_PD.
    pub kind: IaKind,
    /// The IAID.
    pub iaid: Iaid,
    /// The leases (or hints) the client names.
    pub leases: Vec<RequestedLease>,
}

/// A decoded client request.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClientRequest {
    /// An opaque tag from the runtime, echoed in the reply or silence so it can route it.
    pub tag: u64,
    /// The message type.
    pub kind: ClientMsgKind,
    /// OPTION_CLIENTID (absent only in INFORMATION-REQUEST).
    pub client_id: Option<Duid>,
    /// OPTION_SERVERID, if the client named a server.
    pub server_id: Option<Duid>,
    /// OPTION_RAPID_COMMIT present (SOLICIT).
    pub rapid_commit: bool,
    /// The IAs.
    pub ias: Vec<IaRequest>,
    /// The link the request arrived from: the innermost relay's link-address, or an address of
    /// the receiving interface for direct messages. Used to check that leases are on-link.
    pub link_address: Option<Ipv6Addr>,
    /// Whether the message came to a unicast address without a relay (RFC 8415 §16 / §18.4).
    pub unicast: bool,
    /// The option codes of the client's Option Request option (RFC 8415 §21.7), in its order
    /// (empty if none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub oro: Vec<u16>,
}

/// DHCPv6 status codes (RFC 8415 §21.13).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DhcpStatus {
    /// Success (0).
    Success,
    /// UnspecFail (1).
    UnspecFail,
    /// NoAddrsAvail (2).
    NoAddrsAvail,
    /// NoBinding (3).
    NoBinding,
    /// NotOnLink (4).
    NotOnLink,
    /// UseMulticast (5).
    UseMulticast,
    /// NoPrefixAvail (6).
    NoPrefixAvail,
}

impl DhcpStatus {
    /// The name RFC 8415 §21.13 gives the code (also the status message we send).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            DhcpStatus::Success => "Success",
            DhcpStatus::UnspecFail => "UnspecFail",
            DhcpStatus::NoAddrsAvail => "NoAddrsAvail",
            DhcpStatus::NoBinding => "NoBinding",
            DhcpStatus::NotOnLink => "NotOnLink",
            DhcpStatus::UseMulticast => "UseMulticast",
            DhcpStatus::NoPrefixAvail => "NoPrefixAvail",
        }
    }

    /// The numeric code.
    #[must_use]
    pub fn code(self) -> u16 {
        match self {
            DhcpStatus::Success => 0,
            DhcpStatus::UnspecFail => 1,
            DhcpStatus::NoAddrsAvail => 2,
            DhcpStatus::NoBinding => 3,
            DhcpStatus::NotOnLink => 4,
            DhcpStatus::UseMulticast => 5,
            DhcpStatus::NoPrefixAvail => 6,
        }
    }

    /// Parses a numeric code.
    #[must_use]
    pub fn from_code(code: u16) -> Option<Self> {
        Some(match code {
            0 => DhcpStatus::Success,
            1 => DhcpStatus::UnspecFail,
            2 => DhcpStatus::NoAddrsAvail,
            3 => DhcpStatus::NoBinding,
            4 => DhcpStatus::NotOnLink,
            5 => DhcpStatus::UseMulticast,
            6 => DhcpStatus::NoPrefixAvail,
            _ => return None,
        })
    }
}

/// One address or prefix in a reply, with the lifetimes granted.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GrantedLease {
    /// The address or prefix.
    pub resource: Resource,
    /// Preferred lifetime.
    pub preferred_lifetime: u32,
    /// Valid lifetime (0 tells the client to stop using it).
    pub valid_lifetime: u32,
}

/// One IA in a reply.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IaReply {
    /// IA_NA, IA_TA or IA_PD.
    pub kind: IaKind,
    /// The IAID.
    pub iaid: Iaid,
    /// T1.
    pub t1: u32,
    /// T2.
    pub t2: u32,
    /// Granted leases.
    pub leases: Vec<GrantedLease>,
    /// An IA-level status (e.g. NoAddrsAvail, NoBinding).
    pub status: Option<DhcpStatus>,
}

/// The reply message type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ReplyKind {
    /// ADVERTISE (2).
    Advertise,
    /// REPLY (7).
    Reply,
}

impl ReplyKind {
    /// The RFC 8415 name (the `kind` label of `client_replies_total`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ReplyKind::Advertise => "ADVERTISE",
            ReplyKind::Reply => "REPLY",
        }
    }
}

/// The core's answer to a client.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClientReply {
    /// The request's tag.
    pub tag: u64,
    /// ADVERTISE or REPLY.
    pub kind: ReplyKind,
    /// The client's DUID, echoed.
    pub client_id: Option<Duid>,
    /// This server's DUID.
    pub server_id: Duid,
    /// OPTION_RAPID_COMMIT echoed (a SOLICIT answered with REPLY).
    pub rapid_commit: bool,
    /// A message-level status.
    pub status: Option<DhcpStatus>,
    /// The IAs.
    pub ias: Vec<IaReply>,
    /// OPTION_PREFERENCE, if any (ADVERTISE).
    pub preference: Option<u8>,
    /// The configuration options chosen for this reply ([`crate::dhcp::options::Options::select`]), in code order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<OptionValue>,
}

/// Why the core stays silent to a client (RFC 8415 §16 discard rules, or §8 responsiveness).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SilenceReason {
    /// The endpoint state answers no client (§8.3.1, §8.5.1, §8.6.1, §8.10.1).
    Unresponsive,
    /// Renew-responsive and the message is not addressed to this server (§3).
    NotAddressedToUs,
    /// The message names another server's DUID (RFC 8415 §16).
    OtherServer,
    /// The message is not valid for its type (RFC 8415 §16), e.g. a missing CLIENTID.
    Invalid,
    /// Nothing to say (e.g. a CONFIRM with no addresses, RFC 8415 §18.3.3).
    NothingToSay,
    /// A SOLICIT, CONFIRM, REBIND or INFORMATION-REQUEST sent to a unicast address without a
    /// relay: RFC 8415 §16 says discard it.
    Unicast,
}

impl SilenceReason {
    /// A stable snake_case name (the `reason` label of `client_silences_total`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            SilenceReason::Unresponsive => "unresponsive",
            SilenceReason::NotAddressedToUs => "not_addressed_to_us",
            SilenceReason::OtherServer => "other_server",
            SilenceReason::Invalid => "invalid",
            SilenceReason::NothingToSay => "nothing_to_say",
            SilenceReason::Unicast => "unicast",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Metric labels are written from these tables, not from `Debug` output, so renaming a
    /// variant cannot change what an operator's dashboard matches.
    #[test]
    fn label_names_are_stable_and_distinct() {
        let reasons = [
            SilenceReason::Unresponsive,
            SilenceReason::NotAddressedToUs,
            SilenceReason::OtherServer,
            SilenceReason::Invalid,
            SilenceReason::NothingToSay,
            SilenceReason::Unicast,
        ];
        let names: std::collections::BTreeSet<&str> = reasons.iter().map(|r| r.name()).collect();
        assert_eq!(names.len(), reasons.len());
        assert!(names.iter().all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
        assert_eq!(SilenceReason::Unicast.name(), "unicast");
        assert_eq!(ReplyKind::Advertise.name(), "ADVERTISE");
        assert_eq!(ReplyKind::Reply.name(), "REPLY");
    }
}
