//! Malformed input: truncated, over-long, lengths that do not add up, nested garbage, deep
//! nesting, huge counts. Each gives an error value: never a panic (the test profile has
//! overflow checks on), never a silently shortened message.

use failover_model::failover::message::{
    ConnectOptions, Message, MessageBody, NoOptions, RawOption,
};
use failover_model::time::Time;
use failover_model::wire::tlv::{MAX_RELAY_DEPTH, MAX_UDP_MESSAGE_SIZE};
use failover_model::wire::{
    decode_client_packet, decode_message, decode_server_reply, encode_message, unwrap_relay_repl,
    wrap_relay_forw, FrameDecoder, WireError, HOP_COUNT_LIMIT, MAX_MESSAGE_SIZE, MAX_NESTING_DEPTH,
    MAX_OPTIONS,
};
use proptest::collection::vec;
use proptest::prelude::*;
use std::net::Ipv6Addr;

fn opt(code: u16, data: &[u8]) -> Vec<u8> {
    let mut v = code.to_be_bytes().to_vec();
    v.extend_from_slice(&u16::try_from(data.len()).unwrap_or(u16::MAX).to_be_bytes());
    v.extend_from_slice(data);
    v
}

fn header(ty: u8) -> Vec<u8> {
    vec![ty, 0, 0, 1, 0, 0, 0, 1]
}

/// A BNDUPD with a CLIENT_DATA > IA_NA > IAADDR > DNS_REMOVAL_INFO nesting (hand-built).
fn nested_bndupd() -> Vec<u8> {
    let dns = opt(116, &[opt(117, b"\x01h\x00"), opt(119, &[0, 3])].concat());
    let mut iaaddr =
        vec![0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 9];
    iaaddr.extend(opt(114, &[1]));
    iaaddr.extend(dns);
    let mut ia = vec![0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
    ia.extend(opt(5, &iaaddr));
    let cd =
        [opt(1, &[0, 3, 0, 1, 2, 0, 0, 0, 0, 1]), opt(100, &[0, 0, 0, 1]), opt(3, &ia)].concat();
    let mut m = header(24);
    m.extend(opt(45, &cd));
    m
}

#[test]
fn the_nested_sample_is_valid() {
    // The base for the mutations below must itself decode (and re-encode to itself).
    let b = nested_bndupd();
    let m = decode_message(&b);
    assert!(m.is_ok(), "{m:?}");
    assert_eq!(m.and_then(|m| encode_message(&m)), Ok(b));
}

#[test]
fn truncation_is_an_error_or_an_exact_shorter_message() {
    let b = nested_bndupd();
    for cut in 0..b.len() {
        let prefix = b.get(..cut).unwrap_or_default();
        // A cut at a top-level option boundary is a valid (shorter) message: then it must
        // re-encode to exactly the prefix, so nothing was dropped silently.
        if let Ok(m) = decode_message(prefix) {
            assert_eq!(encode_message(&m).as_deref(), Ok(prefix), "cut {cut}");
        }
    }
    // Only the 8-octet header is such a boundary here.
    assert!(decode_message(b.get(..8).unwrap_or_default()).is_ok());
    assert!(decode_message(b.get(..9).unwrap_or_default()).is_err());
    assert_eq!(decode_message(&[24, 0, 0]), Err(WireError::Truncated { needed: 8, available: 3 }));
}

#[test]
fn truncated_frames_wait_and_never_yield_a_shorter_message() {
    let b = nested_bndupd();
    let mut frame = u16::try_from(b.len()).unwrap_or(0).to_be_bytes().to_vec();
    frame.extend_from_slice(&b);
    for cut in 0..frame.len() {
        let mut fd = FrameDecoder::new();
        fd.push(frame.get(..cut).unwrap_or_default());
        assert_eq!(fd.next_frame(), Ok(None), "cut {cut}");
    }
}

#[test]
fn every_length_field_off_by_one_is_caught() {
    let b = nested_bndupd();
    // Option length fields sit at known offsets; find them by walking the structure: simpler,
    // try every 16-bit position and keep only mutations that change a length we know of.
    let lengths = [8 + 2, 8 + 4 + 14 + 8 + 2, 8 + 4 + 14 + 8 + 4 + 12 + 2];
    for &at in &lengths {
        for delta in [-1i32, 1] {
            let mut m = b.clone();
            let old = u16::from_be_bytes([m[at], m[at + 1]]);
            let new = u16::try_from(i32::from(old) + delta).unwrap_or(0);
            m[at..at + 2].copy_from_slice(&new.to_be_bytes());
            assert!(decode_message(&m).is_err(), "length at {at} {delta:+}");
        }
    }
}

#[test]
fn over_long_messages_and_frames() {
    let mut big = header(35);
    big.extend(opt(200, &vec![0; 65_000]));
    big.extend(opt(201, &[0; 600]));
    assert!(big.len() > MAX_MESSAGE_SIZE);
    assert!(matches!(decode_message(&big), Err(WireError::TooLarge { .. })));
    // An encoder refuses to build it.
    let m = Message {
        xid: 1,
        sent_time: Time(1),
        body: MessageBody::Contact(NoOptions {
            unknown: vec![
                RawOption { code: 200, data: vec![0; 65_000] },
                RawOption { code: 201, data: vec![0; 600] },
            ],
        }),
    };
    assert!(matches!(encode_message(&m), Err(WireError::TooLarge { .. })));
    // An option over 65535 octets cannot even be written.
    let m = Message {
        xid: 1,
        sent_time: Time(1),
        body: MessageBody::Contact(NoOptions {
            unknown: vec![RawOption { code: 200, data: vec![0; 70_000] }],
        }),
    };
    assert!(matches!(encode_message(&m), Err(WireError::TooLarge { .. })));
    // Frames: zero length and above a configured limit are sticky errors.
    let mut fd = FrameDecoder::new();
    fd.push(&[0, 0, 1, 2]);
    assert_eq!(fd.next_frame(), Err(WireError::EmptyFrame));
    assert_eq!(fd.next_frame(), Err(WireError::EmptyFrame));
    let mut fd = FrameDecoder::with_limit(100);
    fd.push(&[0, 101]);
    assert_eq!(fd.next_frame(), Err(WireError::TooLarge { size: 101, limit: 100 }));
    // A frame smaller than the header is returned, and fails to decode.
    let mut fd = FrameDecoder::new();
    fd.push(&[0, 3, 35, 0, 0]);
    assert!(matches!(fd.next_message(), Err(WireError::Truncated { .. })));
    // Client side.
    let huge = vec![1u8; MAX_UDP_MESSAGE_SIZE + 1];
    assert!(matches!(decode_client_packet(&huge, 0, false), Err(WireError::TooLarge { .. })));
}

#[test]
fn nested_garbage() {
    // CLIENT_DATA whose content is not options.
    let mut m = header(24);
    m.extend(opt(45, &[1, 2, 3, 4, 5]));
    assert!(decode_message(&m).is_err());
    // IAADDR shorter than its fixed part inside IA_NA inside CLIENT_DATA.
    let ia = [vec![0; 12], opt(5, &[0; 20])].concat();
    let mut m = header(24);
    m.extend(opt(45, &[opt(1, &[0, 3, 9]), opt(3, &ia)].concat()));
    assert!(matches!(decode_message(&m), Err(WireError::BadOptionLength { code: 5, .. })));
    // Reserved binding-status 0, MBZ flag bits, unknown server state, invalid UTF-8.
    let ia = [vec![0; 12], opt(5, &[vec![0; 24], opt(114, &[0])].concat())].concat();
    let mut m = header(24);
    m.extend(opt(45, &[opt(1, &[0, 3, 9]), opt(3, &ia)].concat()));
    assert!(matches!(decode_message(&m), Err(WireError::BadValue { code: 114, .. })));
    let mut m = header(34);
    m.extend(opt(131, &[0x08]));
    assert!(matches!(decode_message(&m), Err(WireError::BadValue { code: 131, .. })));
    let mut m = header(34);
    m.extend(opt(132, &[11]));
    assert!(matches!(decode_message(&m), Err(WireError::BadValue { code: 132, .. })));
    let mut m = header(31);
    m.extend(opt(130, &[0xc3, 0x28]));
    assert!(matches!(decode_message(&m), Err(WireError::BadValue { code: 130, .. })));
    // CLIENT_DATA without CLIENTID.
    let mut m = header(24);
    m.extend(opt(45, &opt(100, &[0, 0, 0, 1])));
    assert_eq!(decode_message(&m), Err(WireError::Missing { code: 1, within: 45 }));
    // A prefix-length above 128.
    let mut m = header(24);
    m.extend(opt(26, &[vec![0; 8], vec![129], vec![0; 16]].concat()));
    assert!(matches!(decode_message(&m), Err(WireError::BadValue { code: 26, .. })));
    // Unknown message type.
    assert_eq!(decode_message(&header(36)), Err(WireError::UnknownMessageType(36)));
    // Relay message option outside a relay envelope.
    let mut m = header(35);
    m.extend(opt(9, &[1, 0, 0, 0]));
    assert!(matches!(decode_message(&m), Err(WireError::BadValue { code: 9, .. })));
}

#[test]
fn duplicate_singletons_are_errors() {
    let mut m = header(31);
    m.extend(opt(122, &[0, 0, 0, 1]));
    m.extend(opt(122, &[0, 0, 0, 2]));
    assert_eq!(decode_message(&m), Err(WireError::Duplicate(122)));
    let mut m = header(33);
    m.extend(opt(13, &[0, 0]));
    m.extend(opt(13, &[0, 1]));
    assert_eq!(decode_message(&m), Err(WireError::Duplicate(13)));
    // Two CLIENTIDs in a SOLICIT.
    let mut s = vec![1, 0, 0, 1];
    s.extend(opt(1, &[0, 3, 1]));
    s.extend(opt(1, &[0, 3, 2]));
    assert_eq!(decode_client_packet(&s, 0, false).map(|_| ()), Err(WireError::Duplicate(1)));
    // But unknown options may repeat, and a second CLIENT_DATA is kept for the receiver.
    let mut m = header(31);
    m.extend(opt(300, &[]));
    m.extend(opt(300, &[]));
    assert_eq!(
        decode_message(&m).map(|m| m.body),
        Ok(MessageBody::Connect(ConnectOptions {
            unknown: vec![
                RawOption { code: 300, data: vec![] },
                RawOption { code: 300, data: vec![] }
            ],
            ..ConnectOptions::default()
        }))
    );
    let cd = opt(45, &opt(1, &[0, 3, 1]));
    let mut m = header(24);
    m.extend(&cd);
    m.extend(&cd);
    let d = decode_message(&m);
    let Ok(Message { body: MessageBody::BndUpd(b), .. }) = &d else { panic!("{d:?}") };
    assert!(b.payload.is_some());
    assert_eq!(b.unknown.len(), 1);
    assert_eq!(d.and_then(|d| encode_message(&d)), Ok(m));
}

#[test]
fn deep_nesting() {
    let mut inner = opt(45, &opt(1, &[0, 3, 1]));
    for _ in 0..MAX_NESTING_DEPTH {
        inner = opt(45, &inner);
    }
    let mut m = header(24);
    m.extend(inner);
    assert_eq!(decode_message(&m), Err(WireError::TooDeep { limit: MAX_NESTING_DEPTH }));
    // Relay envelopes: MAX_RELAY_DEPTH decode, one more does not.
    let solicit = [1, 0, 0, 1, 0, 1, 0, 3, 0, 1, 9];
    let mut b = solicit.to_vec();
    for i in 0..MAX_RELAY_DEPTH {
        b = wrap_relay_forw(
            &b,
            u8::try_from(i).unwrap_or(0),
            Ipv6Addr::LOCALHOST,
            Ipv6Addr::LOCALHOST,
            None,
        )
        .unwrap_or_default();
    }
    assert_eq!(
        decode_client_packet(&b, 0, false).map(|p| p.context.relays.len()),
        Ok(MAX_RELAY_DEPTH)
    );
    let b = wrap_relay_forw(&b, HOP_COUNT_LIMIT, Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, None)
        .unwrap_or_default();
    assert!(matches!(decode_client_packet(&b, 0, false), Err(WireError::TooManyHops { .. })));
    // A hop-count above the limit.
    let mut b = wrap_relay_forw(&solicit, 0, Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, None)
        .unwrap_or_default();
    b[1] = HOP_COUNT_LIMIT + 1;
    assert!(matches!(decode_client_packet(&b, 0, false), Err(WireError::TooManyHops { .. })));
    assert!(wrap_relay_forw(
        &solicit,
        HOP_COUNT_LIMIT + 1,
        Ipv6Addr::LOCALHOST,
        Ipv6Addr::LOCALHOST,
        None
    )
    .is_err());
}

#[test]
fn huge_counts() {
    let mut m = header(35);
    for _ in 0..=MAX_OPTIONS {
        m.extend(opt(300, &[]));
    }
    assert_eq!(decode_message(&m), Err(WireError::TooManyOptions { limit: MAX_OPTIONS }));
    let mut s = vec![1, 0, 0, 1];
    for _ in 0..=MAX_OPTIONS {
        s.extend(opt(300, &[]));
    }
    assert_eq!(
        decode_client_packet(&s, 0, false).map(|_| ()),
        Err(WireError::TooManyOptions { limit: MAX_OPTIONS })
    );
}

#[test]
fn relay_envelope_errors() {
    // Missing RELAY_MSG, two RELAY_MSGs, a short header, RELAY-REPL inside RELAY-FORW.
    let hdr = [vec![12, 0], vec![0; 32]].concat();
    assert_eq!(
        decode_client_packet(&hdr, 0, false).map(|_| ()),
        Err(WireError::Missing { code: 9, within: 0 })
    );
    let inner = [1, 0, 0, 1];
    let two = [hdr.clone(), opt(9, &inner), opt(9, &inner)].concat();
    assert_eq!(decode_client_packet(&two, 0, false).map(|_| ()), Err(WireError::Duplicate(9)));
    assert!(matches!(decode_client_packet(&hdr[..20], 0, false), Err(WireError::Truncated { .. })));
    let repl_inside =
        [hdr.clone(), opt(9, &[[13, 0].as_slice(), &[0; 32], &opt(9, &inner)].concat())].concat();
    assert_eq!(
        decode_client_packet(&repl_inside, 0, false).map(|_| ()),
        Err(WireError::UnexpectedMessageType(13))
    );
    // A server message sent to the server.
    assert_eq!(
        decode_client_packet(&[7, 0, 0, 1], 0, false).map(|_| ()),
        Err(WireError::UnexpectedMessageType(7))
    );
    assert_eq!(
        unwrap_relay_repl(&[7, 0, 0, 1]).map(|_| ()),
        Err(WireError::UnexpectedMessageType(7))
    );
    assert_eq!(
        decode_server_reply(&[1, 0, 0, 1]).map(|_| ()),
        Err(WireError::UnexpectedMessageType(1))
    );
    // A REPLY without SERVERID.
    assert_eq!(
        decode_server_reply(&[7, 0, 0, 1]).map(|_| ()),
        Err(WireError::Missing { code: 2, within: 0 })
    );
}

fn sample_inputs() -> Vec<Vec<u8>> {
    let solicit = [
        vec![1, 0, 0, 1],
        opt(1, &[0, 3, 1]),
        opt(3, &[0; 12]),
        opt(25, &[vec![0; 12], opt(26, &[0; 25])].concat()),
    ]
    .concat();
    let relayed =
        wrap_relay_forw(&solicit, 0, Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, Some(b"i"))
            .unwrap_or_default();
    vec![nested_bndupd(), solicit, relayed]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// Arbitrary bytes: every decoder returns (Ok or Err), never panics.
    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(b in vec(any::<u8>(), 0..300)) {
        let _ = decode_message(&b);
        let _ = decode_client_packet(&b, 0, false);
        let _ = decode_server_reply(&b);
        let _ = unwrap_relay_repl(&b);
        let mut fd = FrameDecoder::new();
        fd.push(&b);
        while let Ok(Some(_)) = fd.next_message() {}
    }

    /// Valid messages with random octets overwritten: never a panic, and whatever decodes
    /// re-encodes without error.
    #[test]
    fn decoders_never_panic_on_mutated_samples(
        which in 0usize..3,
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut b = sample_inputs().swap_remove(which);
        for (i, v) in &edits {
            let at = i.index(b.len());
            b[at] = *v;
        }
        b.truncate(cut.index(b.len() + 1).max(1));
        if let Ok(m) = decode_message(&b) {
            prop_assert!(encode_message(&m).is_ok());
        }
        let _ = decode_client_packet(&b, 0, true);
        let _ = decode_server_reply(&b);
        let _ = unwrap_relay_repl(&b);
    }
}
