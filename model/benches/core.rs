//! Microbenchmarks of the core step (`Endpoint::handle`) for the common exchanges and of the
//! codecs in `failover_model::wire`. Run: `cargo bench -p failover-model --bench core`.
//!
//! The endpoints are brought to NORMAL with the two-endpoint harness of the core's tests
//! (`tests/common`), then measured **without** it: each iteration is one `handle` call, as
//! `failoverd`'s driver makes it, on an endpoint that already holds `BASE` client leases
//! (so the numbers include the cost of a realistically sized database, not an empty one).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::{test_config, Pair, Side};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use failover_model::config::{AddressPool, PrefixPool};
use failover_model::dhcp::client::{ClientMsgKind, ClientRequest, IaRequest, RequestedLease};
use failover_model::wire::client::{
    decode_client_packet, encode_client_reply, encode_client_request, ReplyContext,
};
use failover_model::wire::failover::{decode_message, encode_frame, FrameDecoder};
use failover_model::{
    Config, Duid, Endpoint, EndpointState, IaKind, Input, Message, MessageBody, Output, Role,
};
use std::hint::black_box;
use std::net::Ipv6Addr;

/// Leases the endpoints hold before measuring.
const BASE: u32 = 5_000;

fn bench_config(role: Role) -> Config {
    let mut c = test_config(role);
    c.address_pools = vec![AddressPool {
        first: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 1, 0, 0, 0),
        last: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 1, 0xffff, 0xffff, 0xffff),
    }];
    c.prefix_pools = vec![PrefixPool {
        prefix: Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0),
        prefix_len: 40,
        delegated_len: 64,
    }];
    c.address_lifetimes.preferred = 3000;
    c.address_lifetimes.valid = 4000;
    c.mclt = 300;
    c
}

fn duid(i: u32) -> Duid {
    let mut v = vec![0, 3, 0, 1, 0xbe, 0x4c];
    v.extend_from_slice(&i.to_be_bytes());
    Duid::new(v)
}

fn request(
    kind: ClientMsgKind,
    i: u32,
    server: Option<Duid>,
    hint: Option<Ipv6Addr>,
) -> ClientRequest {
    let leases = hint
        .map(|a| {
            vec![RequestedLease {
                resource: failover_model::Resource::Address(a),
                preferred_lifetime: 0,
                valid_lifetime: 0,
            }]
        })
        .unwrap_or_default();
    ClientRequest {
        tag: u64::from(i),
        kind,
        client_id: Some(duid(i)),
        server_id: server,
        rapid_commit: false,
        ias: vec![IaRequest { kind: IaKind::Na, iaid: 1, leases }],
        link_address: None,
        unicast: false,
        oro: Vec::new(),
    }
}

/// A pair in NORMAL whose primary granted `BASE` leases (all acked by the secondary).
fn normal_pair() -> (Pair, Vec<Ipv6Addr>) {
    let mut pair = Pair::new(bench_config(Role::Primary), bench_config(Role::Secondary), 100_000);
    pair.advance(30);
    assert_eq!(pair.state(Side::P), EndpointState::Normal, "the bench pair reaches NORMAL");
    assert_eq!(pair.state(Side::S), EndpointState::Normal);
    let server = pair.server_duid(Side::P);
    let mut leased = Vec::new();
    for i in 0..BASE {
        let r = pair.ask(Side::P, request(ClientMsgKind::Request, i, Some(server.clone()), None));
        let a = r
            .and_then(|r| r.ias.first().and_then(|ia| ia.leases.first()).map(|l| l.resource))
            .expect("a lease");
        let failover_model::Resource::Address(a) = a else { panic!("an address") };
        leased.push(a);
    }
    pair.drive();
    (pair, leased)
}

fn ep(pair: &Pair, side: Side) -> Endpoint {
    pair.node(side).ep().clone()
}

fn core(c: &mut Criterion) {
    let (pair, leased) = normal_pair();
    let now = pair.now;
    let server = pair.server_duid(Side::P);
    let mut g = c.benchmark_group("core");
    g.throughput(Throughput::Elements(1));

    // SOLICIT -> ADVERTISE on the primary (a new client each time).
    let mut p = ep(&pair, Side::P);
    let mut i = 1_000_000u32;
    g.bench_function("solicit_advertise", |b| {
        b.iter(|| {
            i += 1;
            black_box(p.handle(now, Input::Client(request(ClientMsgKind::Solicit, i, None, None))))
        });
    });

    // REQUEST -> REPLY: a new client is granted a new lease (Persist, Reply, BNDUPD).
    let mut p = ep(&pair, Side::P);
    let mut i = 2_000_000u32;
    g.bench_function("request_reply", |b| {
        b.iter(|| {
            i += 1;
            let req = request(ClientMsgKind::Request, i, Some(server.clone()), None);
            black_box(p.handle(now, Input::Client(req)))
        });
    });

    // RENEW -> REPLY of an existing lease.
    let mut p = ep(&pair, Side::P);
    let mut k = 0usize;
    g.bench_function("renew_reply", |b| {
        b.iter(|| {
            k = (k + 1) % leased.len();
            let n = u32::try_from(k).unwrap_or(0);
            let req = request(ClientMsgKind::Renew, n, Some(server.clone()), Some(leased[k]));
            black_box(p.handle(now.plus(10), Input::Client(req)))
        });
    });

    // BNDUPD received by the secondary, and the BNDREPLY received by the primary: record each
    // grant's BNDUPD, the secondary's BNDREPLY, and the primary as it was just before it.
    let mut p = ep(&pair, Side::P);
    let mut s = ep(&pair, Side::S);
    let mut upds = Vec::new();
    let mut acks = Vec::new();
    for j in 0..32u32 {
        let req = request(ClientMsgKind::Request, 3_000_000 + j, Some(server.clone()), None);
        for o in p.handle(now, Input::Client(req)) {
            let Output::Send(m) = o else { continue };
            if !matches!(m.body, MessageBody::BndUpd(_)) {
                continue;
            }
            for o2 in s.handle(now, Input::Partner(m.clone())) {
                if let Output::Send(r) = o2 {
                    if matches!(r.body, MessageBody::BndReply(_)) {
                        acks.push((p.clone(), r));
                    }
                }
            }
            upds.push(m);
        }
        if let Some((_, r)) = acks.last() {
            let _ = p.handle(now, Input::Partner(r.clone()));
        }
    }
    assert!(!upds.is_empty(), "the primary sent BNDUPDs");
    assert_eq!(upds.len(), acks.len(), "every BNDUPD was answered");
    let s0 = ep(&pair, Side::S);
    let mut n = 0usize;
    g.bench_function("bndupd_receive", |b| {
        b.iter_batched(
            || {
                n = (n + 1) % upds.len();
                (s0.clone(), upds[n].clone())
            },
            // Return the endpoint: criterion drops outputs after timing, so the clone's drop
            // (thousands of bindings) is not measured as part of the step.
            |(mut s, m)| {
                let o = s.handle(now, Input::Partner(m));
                (s, o)
            },
            BatchSize::LargeInput,
        );
    });
    let mut n = 0usize;
    g.bench_function("bndreply_receive", |b| {
        b.iter_batched(
            || {
                n = (n + 1) % acks.len();
                acks[n].clone()
            },
            |(mut p, m)| {
                let o = p.handle(now, Input::Partner(m));
                (p, o)
            },
            BatchSize::LargeInput,
        );
    });
    g.finish();

    codecs(c, &upds[0]);
}

fn codecs(c: &mut Criterion, bndupd: &Message) {
    let mut g = c.benchmark_group("wire");
    g.throughput(Throughput::Elements(1));
    g.bench_function("failover_frame_encode_bndupd", |b| {
        b.iter(|| black_box(encode_frame(black_box(bndupd))));
    });
    let frame = encode_frame(bndupd).expect("encodes");
    g.bench_function("failover_frame_decode_bndupd", |b| {
        b.iter(|| {
            let mut d = FrameDecoder::new();
            d.push(black_box(&frame));
            black_box(d.next_message())
        });
    });
    let body = frame.get(2..).unwrap_or_default().to_vec();
    g.bench_function("failover_message_decode_bndupd", |b| {
        b.iter(|| black_box(decode_message(black_box(&body))));
    });
    let mut req = request(ClientMsgKind::Request, 7, Some(duid(99)), Some(Ipv6Addr::LOCALHOST));
    req.ias.push(IaRequest { kind: IaKind::Pd, iaid: 2, leases: vec![] });
    let packet = encode_client_request(&req, [1, 2, 3]).expect("encodes");
    g.bench_function("client_packet_decode_request", |b| {
        b.iter(|| black_box(decode_client_packet(black_box(&packet), 1, false)));
    });
    let reply = failover_model::dhcp::client::ClientReply {
        tag: 1,
        kind: failover_model::dhcp::client::ReplyKind::Reply,
        client_id: Some(duid(7)),
        server_id: duid(99),
        rapid_commit: false,
        status: None,
        ias: vec![failover_model::dhcp::client::IaReply {
            kind: IaKind::Na,
            iaid: 1,
            t1: 1000,
            t2: 2000,
            leases: vec![failover_model::dhcp::client::GrantedLease {
                resource: failover_model::Resource::Address(Ipv6Addr::LOCALHOST),
                preferred_lifetime: 3000,
                valid_lifetime: 4000,
            }],
            status: None,
        }],
        preference: None,
        options: Vec::new(),
    };
    let ctx = ReplyContext { xid: [1, 2, 3], msg_type: 3, relays: vec![], oro: vec![] };
    g.bench_function("client_reply_encode", |b| {
        b.iter(|| black_box(encode_client_reply(black_box(&reply), &ctx)));
    });
    g.finish();
}

criterion_group!(benches, core);
criterion_main!(benches);
