//! Behaviours that cargo-mutants showed no other test of the core pinning down (docs/model.md,
//! "Mutation adequacy"): each test here fails on the mutant it is named after in its comment.

mod common;

use common::{Client, Pair, Side};
use failover_model::failover::message::{NoOptions, ServerFlags, StateOptions};
use failover_model::io::Command;
use failover_model::{
    BindingStatus, EndpointState as St, IaKind, Input, Message, MessageBody, Output, Resource,
};

fn normal_pair() -> Pair {
    let mut pair = Pair::default_pair();
    pair.advance(10);
    assert_eq!((pair.state(Side::P), pair.state(Side::S)), (St::Normal, St::Normal));
    pair
}

/// §4.2.2, §8.4.1: a secondary in PARTNER-DOWN that has delegated all its own prefixes takes the
/// primary's only from PARTNER-DOWN entry + MCLT on. (Mutant: `partner_pool_usable_from` returns
/// time zero, so the primary's prefixes open at once.)
#[test]
fn the_partners_prefixes_open_only_an_mclt_after_partner_down() {
    let mut pair = normal_pair();
    pair.crash(Side::P, false, false);
    pair.advance(11);
    assert_eq!(pair.state(Side::S), St::CommunicationsInterrupted);
    pair.command(Side::S, Command::PartnerDown);
    assert_eq!(pair.state(Side::S), St::PartnerDown);
    let pd_entry = pair.s.ep().partner_down_since().expect("in PARTNER-DOWN");
    // The secondary's own share: 8 of the 16 /52s.
    let mut own = Vec::new();
    for id in 0..8 {
        let mut c = Client::new(20 + id, IaKind::Pd);
        let (r, _) = c.obtain(&mut pair, Side::S).expect("one of the secondary's prefixes");
        assert!(matches!(r, Resource::Prefix(..)));
        own.push(c);
    }
    let mut late = Client::new(40, IaKind::Pd);
    assert!(late.obtain(&mut pair, Side::S).is_none(), "the primary's prefixes wait the MCLT");
    pair.advance(30);
    assert!(pair.now < pd_entry.plus(60));
    assert!(late.obtain(&mut pair, Side::S).is_none(), "still within the MCLT");
    while pair.now < pd_entry.plus(60) {
        pair.advance(5);
    }
    let (r, _) = late.obtain(&mut pair, Side::S).expect("the primary's prefix after the wait");
    assert!(own.iter().all(|c| c.holds(pair.now) != Some(r)));
    assert_eq!(pair.s.ep().binding(&r).map(|b| b.status), Some(BindingStatus::Active));
}

/// §4.2.2: only the secondary asks for prefixes and only the primary answers; a POOLREQ
/// reaching the secondary, or a POOLRESP reaching the primary, is an unexpected message,
/// refused by closing the connection (and never answered). (Mutants: the `role == Primary`
/// guard of the POOLREQ arm, and the `role == Secondary` guard of the POOLRESP arm, replaced
/// by `true`.)
#[test]
fn a_poolreq_to_the_secondary_and_a_poolresp_to_the_primary_are_refused() {
    let mut pair = normal_pair();
    let poolreq =
        Message { xid: 99, sent_time: pair.now, body: MessageBody::PoolReq(NoOptions::default()) };
    let out = pair.input(Side::S, Input::Partner(poolreq));
    assert!(out.contains(&Output::Disconnect), "{out:?}");
    assert!(
        !out.iter().any(|o| matches!(o, Output::Send(m) if m.body.name() == "POOLRESP")),
        "{out:?}"
    );
    let mut pair = normal_pair();
    let poolresp =
        Message { xid: 98, sent_time: pair.now, body: MessageBody::PoolResp(NoOptions::default()) };
    let out = pair.input(Side::P, Input::Partner(poolresp));
    assert!(out.contains(&Output::Disconnect), "{out:?}");
}

/// OPTION_F_SERVER_FLAGS (§5.5.15): every STATE carrying the partner's S (STARTUP) flag is answered
/// with this server's STATE (its flags acknowledge the S flag), not only the first STATE of
/// a connection. (Mutant: `newly_ok || partner.flags.startup` replaced by `&&`, which answers
/// only the first.)
#[test]
fn every_startup_state_is_answered_with_a_state() {
    let mut pair = normal_pair();
    let state = Message {
        xid: 97,
        sent_time: pair.now,
        body: MessageBody::State(StateOptions {
            server_state: Some(St::Normal),
            flags: Some(ServerFlags { startup: true, ack_startup: false, communicated: true }),
            start_time_of_state: Some(pair.now),
            partner_down_time: None,
            unknown: vec![],
        }),
    };
    let out = pair.input(Side::S, Input::Partner(state));
    assert!(
        out.iter().any(|o| matches!(o, Output::Send(m) if m.body.name() == "STATE")),
        "{out:?}"
    );
}
