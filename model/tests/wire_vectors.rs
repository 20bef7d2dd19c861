//! Byte-exact vectors, written by hand from the RFCs' figures and field tables (not from our
//! encoder's output). Each vector is checked both ways: the bytes decode to the value, and the
//! value encodes to exactly the bytes.
//!
//! Header (RFC 8156 §5.2 figure): msg-type (1) | transaction-id (3) | sent-time (4).
//! Options (RFC 8415 §21.1): option-code (2) | option-len (2) | data.

use failover_model::dhcp::client::{
    ClientMsgKind, ClientReply, ClientRequest, DhcpStatus, GrantedLease, IaReply, IaRequest,
    ReplyKind, RequestedLease,
};
use failover_model::failover::message::{
    BindingMessage, BindingPayload, ClientData, ConnectOptions, DisconnectOptions, DnsRemovalInfo,
    IaData, LeaseData, LeaseOptions, Message, MessageBody, NoOptions, PrefixData, ReconfigureData,
    RelayData, ServerFlags, StateOptions, Status, StatusCode,
};
use failover_model::failover::state::EndpointState;
use failover_model::leases::binding::BindingStatus;
use failover_model::resource::{Duid, IaKind, Resource};
use failover_model::time::Time;
use failover_model::wire::{
    decode_client_packet, decode_message, decode_server_reply, encode_client_reply,
    encode_client_request, encode_frame, encode_message, unwrap_relay_repl, wrap_relay_forw,
    FrameDecoder, RelayHop, ReplyContext,
};
use std::net::Ipv6Addr;

/// xid 0x0a0b0c, sent-time 0x2a2b2c2d: the 8 header octets after msg-type.
const XID: u32 = 0x000a_0b0c;
const SENT: Time = Time(0x2a2b_2c2d);

fn msg(body: MessageBody) -> Message {
    Message { xid: XID, sent_time: SENT, body }
}

/// Checks both directions.
fn check(bytes: &[u8], value: &Message) {
    assert_eq!(decode_message(bytes).as_ref(), Ok(value), "decode");
    assert_eq!(encode_message(value).as_deref(), Ok(bytes), "encode");
    // RFC 5460 §5.1: the frame is the 2-octet message-size, then the message.
    let mut frame = u16::try_from(bytes.len()).unwrap_or(0).to_be_bytes().to_vec();
    frame.extend_from_slice(bytes);
    assert_eq!(encode_frame(value).as_deref(), Ok(frame.as_slice()), "frame");
    let mut fd = FrameDecoder::new();
    fd.push(&frame);
    assert_eq!(fd.next_message(), Ok(Some(value.clone())));
    assert_eq!(fd.next_frame(), Ok(None));
}

fn ip(s: &str) -> Ipv6Addr {
    s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
}

/// DUID-LL (RFC 8415 §11.4): type 3, hardware type 1, MAC 02:00:00:00:00:01.
const DUID_LL: [u8; 10] = [0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
/// The server's DUID-LL, MAC 02:00:00:00:00:fe.
const SERVER_DUID: [u8; 10] = [0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0xfe];

// ---- header-only messages (RFC 8156 §5.3.3-§5.3.7, §5.3.12; RFC 7653 §6.2.2) --------------

#[test]
fn poolreq_26() {
    // §5.3.3: POOLREQ has no options.
    let bytes = [26, 0x0a, 0x0b, 0x0c, 0x2a, 0x2b, 0x2c, 0x2d];
    check(&bytes, &msg(MessageBody::PoolReq(NoOptions::default())));
}

#[test]
fn poolresp_27() {
    // §5.3.4.
    let bytes = [27, 0x0a, 0x0b, 0x0c, 0x2a, 0x2b, 0x2c, 0x2d];
    check(&bytes, &msg(MessageBody::PoolResp(NoOptions::default())));
}

#[test]
fn updreq_28() {
    // §5.3.5.
    let bytes = [28, 0x0a, 0x0b, 0x0c, 0x2a, 0x2b, 0x2c, 0x2d];
    check(&bytes, &msg(MessageBody::UpdReq(NoOptions::default())));
}

#[test]
fn updreqall_29() {
    // §5.3.6.
    let bytes = [29, 0x0a, 0x0b, 0x0c, 0x2a, 0x2b, 0x2c, 0x2d];
    check(&bytes, &msg(MessageBody::UpdReqAll(NoOptions::default())));
}

#[test]
fn upddone_30() {
    // §5.3.7.
    let bytes = [30, 0x0a, 0x0b, 0x0c, 0x2a, 0x2b, 0x2c, 0x2d];
    check(&bytes, &msg(MessageBody::UpdDone(NoOptions::default())));
}

#[test]
fn contact_35() {
    // §5.3.12, with the largest xid (§5.2: 24 bits) and sent-time.
    let bytes = [35, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    let m = Message {
        xid: 0x00ff_ffff,
        sent_time: Time(u32::MAX),
        body: MessageBody::Contact(NoOptions::default()),
    };
    check(&bytes, &m);
}

// STARTTLS and REPLY are DHCPv6 messages, not failover messages: RFC 7653 §6.2.2 defines
// STARTTLS (type 23) "without any options", RFC 8415 §8 gives both the 4-octet header
// (msg-type | transaction-id) and §7.3 numbers REPLY 7; RFC 7653 §9.1: the answer to STARTTLS
// is a REPLY without a status code (go ahead) or with TLSConnectionRefused (15, §11).
// RFC 8415 §21.13: STATUS_CODE is option 13, status-code (2) then a UTF-8 message.

fn dhcp(body: MessageBody) -> Message {
    Message { xid: XID, sent_time: Time(0), body }
}

#[test]
fn starttls_23_primary_sends_the_4_octet_header() {
    let bytes = [23, 0x0a, 0x0b, 0x0c];
    check(&bytes, &dhcp(MessageBody::StartTls(DisconnectOptions::default())));
    // The sent-time of the value is not on the wire.
    assert_eq!(
        encode_message(&msg(MessageBody::StartTls(DisconnectOptions::default()))).as_deref(),
        Ok(&bytes[..])
    );
}

#[test]
fn reply_7_secondary_goes_ahead_with_the_request_xid_and_no_status() {
    let bytes = [7, 0x0a, 0x0b, 0x0c];
    let go = dhcp(MessageBody::StartTlsReply(DisconnectOptions::default()));
    check(&bytes, &go);
    // The secondary's answer to the primary's STARTTLS, as the secure module builds them.
    let req = failover_model::failover::secure::starttls_request(XID);
    assert_eq!(encode_message(&req).as_deref(), Ok(&[23, 0x0a, 0x0b, 0x0c][..]));
    let answer = failover_model::failover::secure::starttls_go_ahead(&req);
    assert_eq!(encode_message(&answer).as_deref(), Ok(&bytes[..]));
    // The primary accepts exactly this REPLY.
    assert_eq!(failover_model::failover::secure::judge_starttls_answer(XID, &go), Ok(()));
}

#[test]
fn reply_7_refusal_tls_connection_refused() {
    // RFC 7653 §8.2 possibility 3 / §9.1: REPLY with status TLSConnectionRefused, message "no".
    let bytes = [7, 0x0a, 0x0b, 0x0c, 0, 13, 0, 4, 0, 15, b'n', b'o'];
    let refused = dhcp(MessageBody::StartTlsReply(DisconnectOptions {
        status: Some(Status::new(StatusCode::TLS_CONNECTION_REFUSED, "no")),
        unknown: vec![],
    }));
    check(&bytes, &refused);
    assert_eq!(
        encode_message(&failover_model::failover::secure::starttls_refusal(XID, "no")).as_deref(),
        Ok(&bytes[..])
    );
    // The primary closes on it.
    assert!(failover_model::failover::secure::judge_starttls_answer(XID, &refused).is_err());
}

#[test]
fn starttls_and_reply_in_the_8_octet_framing_are_accepted() {
    // What failoverd sent before, and what a reader of RFC 8156 §5.2 alone may send.
    let bytes = [23, 0x0a, 0x0b, 0x0c, 0x2a, 0x2b, 0x2c, 0x2d];
    assert_eq!(
        decode_message(&bytes),
        Ok(msg(MessageBody::StartTls(DisconnectOptions::default())))
    );
    let bytes = [7, 0x0a, 0x0b, 0x0c, 0x2a, 0x2b, 0x2c, 0x2d, 0, 13, 0, 4, 0, 15, b'n', b'o'];
    let expected = msg(MessageBody::StartTlsReply(DisconnectOptions {
        status: Some(Status::new(StatusCode::TLS_CONNECTION_REFUSED, "no")),
        unknown: vec![],
    }));
    assert_eq!(decode_message(&bytes), Ok(expected));
    // A sent-time whose octets read as an option header covering the rest (code 0x2a2b,
    // length 6) is ambiguous: the reading that finds the status code wins.
    let bytes = [7, 0x0a, 0x0b, 0x0c, 0x2a, 0x2b, 0, 6, 0, 13, 0, 2, 0, 15];
    let got = decode_message(&bytes);
    assert!(
        matches!(&got, Ok(Message { body: MessageBody::StartTlsReply(d), .. })
            if d.status.as_ref().map(|s| s.code) == Some(StatusCode::TLS_CONNECTION_REFUSED)),
        "{got:?}"
    );
}

#[test]
fn starttls_answered_with_starttls_is_not_the_reply() {
    // failoverd used to answer STARTTLS with a STARTTLS with transaction-id 0.
    let old = Message {
        xid: 0,
        sent_time: SENT,
        body: MessageBody::StartTls(DisconnectOptions::default()),
    };
    assert!(failover_model::failover::secure::judge_starttls_answer(XID, &old).is_err());
    let wrong_xid =
        Message { xid: 0, ..dhcp(MessageBody::StartTlsReply(DisconnectOptions::default())) };
    assert!(failover_model::failover::secure::judge_starttls_answer(XID, &wrong_xid).is_err());
}

// ---- CONNECT / CONNECTREPLY (§5.3.8, §5.3.9, §6.1.1, §6.1.2) ------------------------------

#[test]
fn connect_31() {
    #[rustfmt::skip]
    let bytes = [
        31, 0x0a, 0x0b, 0x0c, 0x2a, 0x2b, 0x2c, 0x2d,
        0, 127, 0, 4, 0, 1, 0, 0,            // §5.5.11 F_PROTOCOL_VERSION: major 1, minor 0
        0, 122, 0, 4, 0, 0, 0x0e, 0x10,      // §5.5.6 F_MCLT: 3600 s
        0, 128, 0, 4, 0, 0, 0, 60,           // §5.5.12 F_KEEPALIVE_TIME: 60 s
        0, 121, 0, 4, 0, 0, 0, 10,           // §5.5.5 F_MAX_UNACKED_BNDUPD: 10
        0, 130, 0, 3, b'a', b'-', b'b',      // §5.5.14 F_RELATIONSHIP_NAME "a-b" (no NUL)
        0, 115, 0, 2, 0, 1,                  // §5.5.2 F_CONNECT_FLAGS: FIXED_PD_LENGTH (bit 15)
    ];
    let c = ConnectOptions {
        protocol_version: Some((1, 0)),
        mclt: Some(3600),
        keepalive_time: Some(60),
        max_unacked_bndupd: Some(10),
        relationship_name: Some("a-b".into()),
        connect_flags: Some(1),
        status: None,
        unknown: vec![],
    };
    check(&bytes, &msg(MessageBody::Connect(c)));
}

#[test]
fn connectreply_32_accept_and_reject() {
    // §6.1.2 accept: version, MCLT equal to the CONNECT's, keepalive, max unacked, flags.
    #[rustfmt::skip]
    let accept = [
        32, 0x0a, 0x0b, 0x0c, 0x2a, 0x2b, 0x2c, 0x2d,
        0, 127, 0, 4, 0, 1, 0, 0,
        0, 122, 0, 4, 0, 0, 0x0e, 0x10,
        0, 128, 0, 4, 0, 0, 0, 60,
        0, 121, 0, 4, 0, 0, 0, 20,
        0, 115, 0, 2, 0, 0,
    ];
    let c = ConnectOptions {
        protocol_version: Some((1, 0)),
        mclt: Some(3600),
        keepalive_time: Some(60),
        max_unacked_bndupd: Some(20),
        connect_flags: Some(0),
        ..ConnectOptions::default()
    };
    check(&accept, &msg(MessageBody::ConnectReply(c)));

    // §6.1.2 reject: OPTION_STATUS_CODE (RFC 8415 §21.13) NotSupported (14, RFC 7653), "v2".
    let reject = [32, 0x0a, 0x0b, 0x0c, 0x2a, 0x2b, 0x2c, 0x2d, 0, 13, 0, 4, 0, 14, b'v', b'2'];
    let c = ConnectOptions {
        status: Some(Status::new(StatusCode::NOT_SUPPORTED, "v2")),
        ..ConnectOptions::default()
    };
    check(&reject, &msg(MessageBody::ConnectReply(c)));
}

// ---- DISCONNECT (§5.3.10) -----------------------------------------------------------------

#[test]
fn disconnect_33() {
    // ServerShuttingDown (20, §5.6), message "bye".
    #[rustfmt::skip]
    let bytes = [33, 0x0a, 0x0b, 0x0c, 0x2a, 0x2b, 0x2c, 0x2d, 0, 13, 0, 5, 0, 20, b'b', b'y', b'e'];
    let d = DisconnectOptions {
        status: Some(Status::new(StatusCode::SERVER_SHUTTING_DOWN, "bye")),
        unknown: vec![],
    };
    check(&bytes, &msg(MessageBody::Disconnect(d)));
}

// ---- STATE (§5.3.11, §6.3) ----------------------------------------------------------------

#[test]
fn state_34_partner_down() {
    #[rustfmt::skip]
    let bytes = [
        34, 0x0a, 0x0b, 0x0c, 0x2a, 0x2b, 0x2c, 0x2d,
        0, 132, 0, 1, 4,                       // §5.5.16 F_SERVER_STATE: PARTNER-DOWN (4)
        0, 131, 0, 1, 0x01,                    // §5.5.15 F_SERVER_FLAGS: C (COMMUNICATED)
        0, 133, 0, 4, 0x11, 0x22, 0x33, 0x44,  // §5.5.17 F_START_TIME_OF_STATE
        0, 125, 0, 4, 0x11, 0x22, 0x33, 0x44,  // §5.5.9 F_PARTNER_DOWN_TIME (PD entry, §6.3)
    ];
    let s = StateOptions {
        server_state: Some(EndpointState::PartnerDown),
        flags: Some(ServerFlags { startup: false, ack_startup: false, communicated: true }),
        start_time_of_state: Some(Time(0x1122_3344)),
        partner_down_time: Some(Time(0x1122_3344)),
        unknown: vec![],
    };
    check(&bytes, &msg(MessageBody::State(s)));
}

#[test]
fn state_34_startup_flags() {
    // In STARTUP the S flag (0x02) is set and the previously recorded state is sent (§6.3);
    // A (0x04) acknowledges the partner's S.
    #[rustfmt::skip]
    let bytes = [
        34, 0x0a, 0x0b, 0x0c, 0x2a, 0x2b, 0x2c, 0x2d,
        0, 132, 0, 1, 2,                       // NORMAL
        0, 131, 0, 1, 0x06,                    // S | A
        0, 133, 0, 4, 0, 0, 0, 1,
    ];
    let s = StateOptions {
        server_state: Some(EndpointState::Normal),
        flags: Some(ServerFlags { startup: true, ack_startup: true, communicated: false }),
        start_time_of_state: Some(Time(1)),
        partner_down_time: None,
        unknown: vec![],
    };
    check(&bytes, &msg(MessageBody::State(s)));
}

// ---- BNDUPD / BNDREPLY (§5.3.1, §5.3.2, §7.4, §7.6) ---------------------------------------

#[test]
fn bndupd_24_client_data() {
    // §7.4 case A: one CLIENT_DATA (RFC 5007 §4.1.2.2) with CLIENTID, LQ_BASE_TIME (RFC 7653
    // §6.3.1) and one IA_NA (RFC 8415 §21.4) holding one IAADDR (§21.6) with the failover
    // sub-options of an ACTIVE lease.
    #[rustfmt::skip]
    let bytes = [
        24, 0x0a, 0x0b, 0x0c, 0x2a, 0x2b, 0x2c, 0x2d,
        0, 45, 0, 111,                                  // OPTION_CLIENT_DATA, 111 octets
          0, 1, 0, 10, 0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // CLIENTID
          0, 100, 0, 4, 0x20, 0x00, 0x00, 0x00,         // LQ_BASE_TIME
          0, 3, 0, 85,                                  // IA_NA, 85 octets
            0, 0, 0, 1,                                 //   IAID 1
            0, 0, 0x07, 0x08,                           //   T1 1800
            0, 0, 0x0b, 0x40,                           //   T2 2880
            0, 5, 0, 69,                                //   IAADDR, 69 octets
              0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // 2001:db8::1
              0, 0, 0x0e, 0x10,                         //     preferred 3600
              0, 0, 0x1c, 0x20,                         //     valid 7200
              0, 114, 0, 1, 1,                          //     F_BINDING_STATUS ACTIVE
              0, 133, 0, 4, 0x1f, 0xff, 0xff, 0xf0,     //     F_START_TIME_OF_STATE
              0, 134, 0, 4, 0x20, 0x00, 0x1c, 0x20,     //     F_STATE_EXPIRATION_TIME
              0, 123, 0, 4, 0x20, 0x00, 0x2a, 0x30,     //     F_PARTNER_LIFETIME
              0, 120, 0, 4, 0x20, 0x00, 0x1c, 0x20,     //     F_EXPIRATION_TIME
              0, 46, 0, 4, 0, 0, 0, 0x10,               //     CLT_TIME 16 s ago
    ];
    let lease = LeaseData {
        resource: Resource::Address(ip("2001:db8::1")),
        preferred_lifetime: 3600,
        valid_lifetime: 7200,
        options: LeaseOptions {
            binding_status: Some(BindingStatus::Active),
            start_time_of_state: Some(Time(0x1fff_fff0)),
            state_expiration_time: Some(Time(0x2000_1c20)),
            partner_lifetime: Some(Time(0x2000_2a30)),
            expiration_time: Some(Time(0x2000_1c20)),
            clt_time: Some(16),
            ..LeaseOptions::default()
        },
    };
    let cd = ClientData {
        client_id: Duid::new(DUID_LL),
        lq_base_time: Some(Time(0x2000_0000)),
        vss: None,
        reconfigure: None,
        relay_data: None,
        ias: vec![IaData {
            kind: IaKind::Na,
            iaid: 1,
            t1: 1800,
            t2: 2880,
            leases: vec![lease],
            status: None,
            unknown: vec![],
        }],
        status: None,
        unknown: vec![],
    };
    let body =
        BindingMessage { payload: Some(BindingPayload::Client(cd)), status: None, unknown: vec![] };
    check(&bytes, &msg(MessageBody::BndUpd(body)));
}

#[test]
fn bndupd_24_every_client_data_option() {
    // §7.4 case A with the optional options: VSS (RFC 6607 §3.1: type 1, "vpn"),
    // F_RECONFIGURE_DATA (§5.5.13: reconfigure-time, key), LQ_RELAY_DATA (RFC 5007 §4.1.2.4:
    // peer-address, relay message), and an IA_PD (RFC 8415 §21.21) whose IAPREFIX (§21.22)
    // carries F_PARTNER_RAW_CLT_TIME (§5.5.10), CLIENT_FQDN (RFC 4704 §4: flags, name) and
    // F_DNS_REMOVAL_INFO (§5.5.3) with host name, zone name and flags (R | F).
    #[rustfmt::skip]
    let bytes = [
        24, 0x0a, 0x0b, 0x0c, 0x2a, 0x2b, 0x2c, 0x2d,
        0, 45, 0, 168,
          0, 1, 0, 10, 0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
          0, 100, 0, 4, 0, 0, 0x10, 0,                  // LQ_BASE_TIME 4096
          0, 68, 0, 4, 1, b'v', b'p', b'n',             // VSS
          0, 129, 0, 6, 0, 0, 0x0f, 0, 0xaa, 0xbb,      // F_RECONFIGURE_DATA: 3840, key aabb
          0, 47, 0, 20,                                 // LQ_RELAY_DATA
            0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // peer fe80::1
            12, 0, 0, 0,                                //   relay message (opaque)
          0, 25, 0, 100,                                // IA_PD
            0, 0, 0, 3, 0, 0, 0, 100, 0, 0, 0, 200,     //   IAID 3, T1 100, T2 200
            0, 26, 0, 84,                               //   IAPREFIX
              0, 0, 0x01, 0x2c, 0, 0, 0x01, 0x90,       //     preferred 300, valid 400
              56,                                       //     prefix-length
              0x20, 0x01, 0x0d, 0xb8, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, // 2001:db8:0:100::
              0, 114, 0, 1, 1,                          //     ACTIVE
              0, 133, 0, 4, 0, 0, 0x0f, 0,              //     F_START_TIME_OF_STATE 3840
              0, 134, 0, 4, 0, 0, 0x11, 0x90,           //     F_STATE_EXPIRATION_TIME 4496
              0, 126, 0, 4, 0, 0, 0x0f, 0,              //     F_PARTNER_RAW_CLT_TIME 3840
              0, 39, 0, 4, 0x01, 1, b'a', 0,            //     CLIENT_FQDN: S, "a."
              0, 116, 0, 18,                            //     F_DNS_REMOVAL_INFO
                0, 117, 0, 3, 1, b'a', 0,               //       F_DNS_HOST_NAME "a."
                0, 118, 0, 1, 0,                        //       F_DNS_ZONE_NAME "."
                0, 119, 0, 2, 0, 0x03,                  //       F_DNS_FLAGS R | F
    ];
    let lease = LeaseData {
        resource: Resource::Prefix(ip("2001:db8:0:100::"), 56),
        preferred_lifetime: 300,
        valid_lifetime: 400,
        options: LeaseOptions {
            binding_status: Some(BindingStatus::Active),
            start_time_of_state: Some(Time(3840)),
            state_expiration_time: Some(Time(4496)),
            partner_raw_clt_time: Some(Time(3840)),
            client_fqdn: Some(vec![1, 1, b'a', 0]),
            dns_removal_info: Some(DnsRemovalInfo {
                host_name: Some(vec![1, b'a', 0]),
                zone_name: Some(vec![0]),
                flags: Some(3),
                unknown: vec![],
            }),
            ..LeaseOptions::default()
        },
    };
    let cd = ClientData {
        client_id: Duid::new(DUID_LL),
        lq_base_time: Some(Time(4096)),
        vss: Some(vec![1, b'v', b'p', b'n']),
        reconfigure: Some(ReconfigureData { reconfigure_time: Time(3840), key: vec![0xaa, 0xbb] }),
        relay_data: Some(RelayData {
            peer_address: ip("fe80::1"),
            relay_message: vec![12, 0, 0, 0],
        }),
        ias: vec![IaData {
            kind: IaKind::Pd,
            iaid: 3,
            t1: 100,
            t2: 200,
            leases: vec![lease],
            status: None,
            unknown: vec![],
        }],
        status: None,
        unknown: vec![],
    };
    let body =
        BindingMessage { payload: Some(BindingPayload::Client(cd)), status: None, unknown: vec![] };
    check(&bytes, &msg(MessageBody::BndUpd(body)));
}

#[test]
fn bndupd_24_ia_ta_has_no_t1_t2() {
    // RFC 8415 §21.5: IA_TA is IAID then options (no T1/T2; digest §11.3 item 12).
    #[rustfmt::skip]
    let bytes = [
        24, 0x0a, 0x0b, 0x0c, 0x2a, 0x2b, 0x2c, 0x2d,
        0, 45, 0, 55,
          0, 1, 0, 10, 0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
          0, 4, 0, 37,                                  // IA_TA, 37 octets
            0, 0, 0, 7,                                 //   IAID 7
            0, 5, 0, 29,                                //   IAADDR
              0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, // fd00::2
              0, 0, 0, 0, 0, 0, 0, 0,                   //     lifetimes 0
              0, 114, 0, 1, 6,                          //     FREE-BACKUP
    ];
    let cd = ClientData {
        client_id: Duid::new(DUID_LL),
        lq_base_time: None,
        vss: None,
        reconfigure: None,
        relay_data: None,
        ias: vec![IaData {
            kind: IaKind::Ta,
            iaid: 7,
            t1: 0,
            t2: 0,
            leases: vec![LeaseData {
                resource: Resource::Address(ip("fd00::2")),
                preferred_lifetime: 0,
                valid_lifetime: 0,
                options: LeaseOptions {
                    binding_status: Some(BindingStatus::FreeBackup),
                    ..LeaseOptions::default()
                },
            }],
            status: None,
            unknown: vec![],
        }],
        status: None,
        unknown: vec![],
    };
    let body =
        BindingMessage { payload: Some(BindingPayload::Client(cd)), status: None, unknown: vec![] };
    check(&bytes, &msg(MessageBody::BndUpd(body)));
}

#[test]
fn bndupd_24_standalone_iaprefix() {
    // §7.4 case B: one top-level IAPREFIX (RFC 8415 §21.22: preferred, valid, prefix-length,
    // prefix, options) with LQ_BASE_TIME, F_BINDING_STATUS FREE-BACKUP and
    // F_START_TIME_OF_STATE (the proportional hand-off of §4.2.2).
    #[rustfmt::skip]
    let bytes = [
        24, 0x0a, 0x0b, 0x0c, 0x2a, 0x2b, 0x2c, 0x2d,
        0, 26, 0, 46,                                   // IAPREFIX, 46 octets
          0, 0, 0, 0,                                   //   preferred 0
          0, 0, 0, 0,                                   //   valid 0
          48,                                           //   prefix-length 48
          0x20, 0x01, 0x0d, 0xb8, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // 2001:db8:1::
          0, 100, 0, 4, 0x20, 0, 0, 0,                  //   LQ_BASE_TIME
          0, 114, 0, 1, 6,                              //   FREE-BACKUP
          0, 133, 0, 4, 0x20, 0, 0, 0,                  //   F_START_TIME_OF_STATE
    ];
    let p = PrefixData {
        lease: LeaseData {
            resource: Resource::Prefix(ip("2001:db8:1::"), 48),
            preferred_lifetime: 0,
            valid_lifetime: 0,
            options: LeaseOptions {
                binding_status: Some(BindingStatus::FreeBackup),
                start_time_of_state: Some(Time(0x2000_0000)),
                ..LeaseOptions::default()
            },
        },
        lq_base_time: Some(Time(0x2000_0000)),
        vss: None,
    };
    let body =
        BindingMessage { payload: Some(BindingPayload::Prefix(p)), status: None, unknown: vec![] };
    check(&bytes, &msg(MessageBody::BndUpd(body)));
}

#[test]
fn bndreply_25_rejects_one_lease() {
    // §7.6: CLIENTID; IA_NA > IAADDR carrying STATUS_CODE OutdatedBindingInformation (19,
    // §5.6, empty message), the F_BINDING_STATUS received, F_STATE_EXPIRATION_TIME and
    // F_PARTNER_LIFETIME_SENT (§5.5.8).
    #[rustfmt::skip]
    let bytes = [
        25, 0x0a, 0x0b, 0x0c, 0x2a, 0x2b, 0x2c, 0x2d,
        0, 45, 0, 85,
          0, 1, 0, 10, 0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
          0, 3, 0, 67,
            0, 0, 0, 1, 0, 0, 0x07, 0x08, 0, 0, 0x0b, 0x40,
            0, 5, 0, 51,
              0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
              0, 0, 0x0e, 0x10, 0, 0, 0x1c, 0x20,
              0, 13, 0, 2, 0, 19,                       //     STATUS_CODE 19, ""
              0, 114, 0, 1, 1,                          //     ACTIVE
              0, 134, 0, 4, 0x20, 0x00, 0x1c, 0x20,     //     F_STATE_EXPIRATION_TIME
              0, 124, 0, 4, 0x20, 0x00, 0x2a, 0x30,     //     F_PARTNER_LIFETIME_SENT
    ];
    let lease = LeaseData {
        resource: Resource::Address(ip("2001:db8::1")),
        preferred_lifetime: 3600,
        valid_lifetime: 7200,
        options: LeaseOptions {
            status: Some(Status::new(StatusCode::OUTDATED_BINDING_INFORMATION, "")),
            binding_status: Some(BindingStatus::Active),
            state_expiration_time: Some(Time(0x2000_1c20)),
            partner_lifetime_sent: Some(Time(0x2000_2a30)),
            ..LeaseOptions::default()
        },
    };
    let cd = ClientData {
        client_id: Duid::new(DUID_LL),
        lq_base_time: None,
        vss: None,
        reconfigure: None,
        relay_data: None,
        ias: vec![IaData {
            kind: IaKind::Na,
            iaid: 1,
            t1: 1800,
            t2: 2880,
            leases: vec![lease],
            status: None,
            unknown: vec![],
        }],
        status: None,
        unknown: vec![],
    };
    let body =
        BindingMessage { payload: Some(BindingPayload::Client(cd)), status: None, unknown: vec![] };
    check(&bytes, &msg(MessageBody::BndReply(body)));
}

#[test]
fn bndreply_25_any_option_order_decodes() {
    // Decoding accepts any order: the same BNDREPLY as above with the IAADDR sub-options
    // reversed decodes to the same value (and re-encodes canonically).
    #[rustfmt::skip]
    let reordered = [
        25, 0x0a, 0x0b, 0x0c, 0x2a, 0x2b, 0x2c, 0x2d,
        0, 45, 0, 85,
          0, 3, 0, 67,
            0, 0, 0, 1, 0, 0, 0x07, 0x08, 0, 0, 0x0b, 0x40,
            0, 5, 0, 51,
              0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
              0, 0, 0x0e, 0x10, 0, 0, 0x1c, 0x20,
              0, 124, 0, 4, 0x20, 0x00, 0x2a, 0x30,
              0, 134, 0, 4, 0x20, 0x00, 0x1c, 0x20,
              0, 114, 0, 1, 1,
              0, 13, 0, 2, 0, 19,
          0, 1, 0, 10, 0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    ];
    let m = decode_message(&reordered);
    let Ok(Message { body: MessageBody::BndReply(b), .. }) = &m else {
        panic!("not a BNDREPLY: {m:?}");
    };
    let Some(BindingPayload::Client(cd)) = &b.payload else { panic!("no CLIENT_DATA") };
    assert_eq!(cd.client_id, Duid::new(DUID_LL));
    let opts = &cd.ias[0].leases[0].options;
    assert_eq!(
        opts.status.as_ref().map(|s| s.code),
        Some(StatusCode::OUTDATED_BINDING_INFORMATION)
    );
    assert_eq!(opts.partner_lifetime_sent, Some(Time(0x2000_2a30)));
    assert_eq!(opts.binding_status, Some(BindingStatus::Active));
}

// ---- DHCPv6 client messages (RFC 8415 §8, §9) ---------------------------------------------

#[test]
fn direct_solicit() {
    // RFC 8415 §8 header (msg-type 1 SOLICIT, transaction-id), then CLIENTID (§21.2),
    // IA_NA (§21.4), ELAPSED_TIME (§21.9), RAPID_COMMIT (§21.14), ORO (§21.7) asking for
    // DNS servers (23).
    #[rustfmt::skip]
    let bytes = [
        1, 0x12, 0x34, 0x56,
        0, 1, 0, 10, 0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
        0, 3, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 6, 0, 2, 0, 23,
        0, 8, 0, 2, 0, 0,
        0, 14, 0, 0,
    ];
    let p = decode_client_packet(&bytes, 99, false);
    let Ok(p) = p else { panic!("{p:?}") };
    assert_eq!(p.request.tag, 99);
    assert_eq!(p.request.kind, ClientMsgKind::Solicit);
    assert_eq!(p.request.client_id, Some(Duid::new(DUID_LL)));
    assert_eq!(p.request.server_id, None);
    assert!(p.request.rapid_commit);
    assert_eq!(p.request.ias, vec![IaRequest { kind: IaKind::Na, iaid: 1, leases: vec![] }]);
    assert_eq!(p.request.link_address, None);
    assert!(!p.request.unicast);
    assert_eq!(
        p.context,
        ReplyContext { xid: [0x12, 0x34, 0x56], msg_type: 1, relays: vec![], oro: vec![23] }
    );

    assert_eq!(p.request.oro, vec![23]);
    // Our request helper writes the same SOLICIT (options ordered by code), and without the
    // ORO when the request names no option.
    assert_eq!(encode_client_request(&p.request, [0x12, 0x34, 0x56]).as_deref(), Ok(&bytes[..]));
    let no_oro = ClientRequest { oro: vec![], ..p.request.clone() };
    #[rustfmt::skip]
    let helper = [
        1, 0x12, 0x34, 0x56,
        0, 1, 0, 10, 0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
        0, 3, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 8, 0, 2, 0, 0,
        0, 14, 0, 0,
    ];
    assert_eq!(encode_client_request(&no_oro, [0x12, 0x34, 0x56]).as_deref(), Ok(&helper[..]));

    // The REPLY (rapid commit, RFC 8415 §18.3.1): CLIENTID, SERVERID, IA_NA with IAADDR,
    // RAPID_COMMIT; same transaction id, not relayed.
    let reply = ClientReply {
        tag: 99,
        kind: ReplyKind::Reply,
        client_id: Some(Duid::new(DUID_LL)),
        server_id: Duid::new(SERVER_DUID),
        rapid_commit: true,
        status: None,
        ias: vec![IaReply {
            kind: IaKind::Na,
            iaid: 1,
            t1: 1800,
            t2: 2880,
            leases: vec![GrantedLease {
                resource: Resource::Address(ip("2001:db8::5")),
                preferred_lifetime: 3600,
                valid_lifetime: 7200,
            }],
            status: None,
        }],
        preference: None,
        options: Vec::new(),
    };
    #[rustfmt::skip]
    let reply_bytes = [
        7, 0x12, 0x34, 0x56,
        0, 1, 0, 10, 0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
        0, 2, 0, 10, 0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0xfe,
        0, 3, 0, 40,
          0, 0, 0, 1, 0, 0, 0x07, 0x08, 0, 0, 0x0b, 0x40,
          0, 5, 0, 24,
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05,
            0, 0, 0x0e, 0x10, 0, 0, 0x1c, 0x20,
        0, 14, 0, 0,
    ];
    assert_eq!(encode_client_reply(&reply, &p.context).as_deref(), Ok(&reply_bytes[..]));
    let back = decode_server_reply(&reply_bytes);
    assert_eq!(back, Ok((ClientReply { tag: 0, ..reply }, [0x12, 0x34, 0x56])));
}

#[test]
fn relayed_request_and_relay_repl() {
    // RFC 8415 §9.1 RELAY-FORW: msg-type 12, hop-count, link-address, peer-address, then
    // INTERFACE_ID (§21.18) and RELAY_MSG (§21.10) holding a REQUEST (3) with CLIENTID,
    // SERVERID and an IA_NA (IAID 2) with an IAADDR hint 2001:db8:1::10 (lifetimes 0).
    #[rustfmt::skip]
    let bytes = [
        12, 0,
        0x20, 0x01, 0x0d, 0xb8, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // link 2001:db8:1::1
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,          // peer fe80::1
        0, 18, 0, 4, b'e', b't', b'h', b'0',
        0, 9, 0, 82,
          3, 0xab, 0xcd, 0xef,
          0, 1, 0, 10, 0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
          0, 2, 0, 10, 0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0xfe,
          0, 3, 0, 40,
            0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 5, 0, 24,
              0x20, 0x01, 0x0d, 0xb8, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
              0, 0, 0, 0, 0, 0, 0, 0,
          0, 8, 0, 2, 0, 0,
    ];
    let p = decode_client_packet(&bytes, 5, true);
    let Ok(p) = p else { panic!("{p:?}") };
    assert_eq!(p.request.kind, ClientMsgKind::Request);
    assert_eq!(p.request.server_id, Some(Duid::new(SERVER_DUID)));
    assert_eq!(
        p.request.ias,
        vec![IaRequest {
            kind: IaKind::Na,
            iaid: 2,
            leases: vec![RequestedLease {
                resource: Resource::Address(ip("2001:db8:1::10")),
                preferred_lifetime: 0,
                valid_lifetime: 0,
            }],
        }]
    );
    assert_eq!(p.request.link_address, Some(ip("2001:db8:1::1")));
    assert!(!p.request.unicast, "a relayed message is not a unicast client message");
    let hop = RelayHop {
        hop_count: 0,
        link_address: ip("2001:db8:1::1"),
        peer_address: ip("fe80::1"),
        interface_id: Some(b"eth0".to_vec()),
        echo: vec![],
    };
    assert_eq!(p.context.relays, vec![hop.clone()]);
    assert_eq!(p.context.xid, [0xab, 0xcd, 0xef]);

    // Our relay helper writes the same envelope.
    let inner = bytes.get(46..).unwrap_or_default();
    assert_eq!(
        wrap_relay_forw(inner, 0, ip("2001:db8:1::1"), ip("fe80::1"), Some(b"eth0")).as_deref(),
        Ok(&bytes[..])
    );

    // RFC 8415 §9.2 RELAY-REPL: hop-count, link-address and peer-address copied, INTERFACE_ID
    // echoed (§19.3), RELAY_MSG holding a REPLY with status NoAddrsAvail in the IA (§21.13:
    // code 2, message "NoAddrsAvail").
    let reply = ClientReply {
        tag: 5,
        kind: ReplyKind::Reply,
        client_id: Some(Duid::new(DUID_LL)),
        server_id: Duid::new(SERVER_DUID),
        rapid_commit: false,
        status: None,
        ias: vec![IaReply {
            kind: IaKind::Na,
            iaid: 2,
            t1: 0,
            t2: 0,
            leases: vec![],
            status: Some(DhcpStatus::NoAddrsAvail),
        }],
        preference: None,
        options: Vec::new(),
    };
    #[rustfmt::skip]
    let repl = [
        13, 0,
        0x20, 0x01, 0x0d, 0xb8, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
        0, 18, 0, 4, b'e', b't', b'h', b'0',
        0, 9, 0, 66,
          7, 0xab, 0xcd, 0xef,
          0, 1, 0, 10, 0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
          0, 2, 0, 10, 0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0xfe,
          0, 3, 0, 30,
            0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 13, 0, 14, 0, 2,
              b'N', b'o', b'A', b'd', b'd', b'r', b's', b'A', b'v', b'a', b'i', b'l',
    ];
    assert_eq!(encode_client_reply(&reply, &p.context).as_deref(), Ok(&repl[..]));
    let (inner, hops) = match unwrap_relay_repl(&repl) {
        Ok(x) => x,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(hops, vec![hop]);
    assert_eq!(
        decode_server_reply(&inner),
        Ok((ClientReply { tag: 0, ..reply }, [0xab, 0xcd, 0xef]))
    );
}

#[test]
fn two_relays_use_the_innermost_link_address() {
    // ClientRequest::link_address is the innermost relay's link-address (the relay on the
    // client's link, RFC 8415 §19.1.1); an outer relay's `::` does not matter, an innermost
    // `::` gives None.
    let solicit = [1, 0, 0, 1, 0, 1, 0, 3, 0, 1, 9];
    let inner = wrap_relay_forw(&solicit, 0, ip("2001:db8:2::1"), ip("fe80::2"), None);
    let Ok(inner) = inner else { panic!("{inner:?}") };
    let outer = wrap_relay_forw(&inner, 1, Ipv6Addr::UNSPECIFIED, ip("2001:db8:2::1"), Some(b"x"));
    let Ok(outer) = outer else { panic!("{outer:?}") };
    let p = decode_client_packet(&outer, 0, true);
    let Ok(p) = p else { panic!("{p:?}") };
    assert_eq!(p.request.link_address, Some(ip("2001:db8:2::1")));
    assert_eq!(p.context.relays.len(), 2);
    assert_eq!(p.context.relays[0].hop_count, 1);
    assert_eq!(p.context.relays[1].hop_count, 0);

    let innermost_unspecified =
        wrap_relay_forw(&solicit, 0, Ipv6Addr::UNSPECIFIED, ip("fe80::2"), None);
    let Ok(b) = innermost_unspecified else { panic!() };
    let p = decode_client_packet(&b, 0, true);
    assert_eq!(p.map(|p| p.request.link_address), Ok(None));
}
