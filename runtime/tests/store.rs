//! Lease store durability and refusal.

use failover_model::{
    Binding, BindingStatus, DurableWrite, EndpointState, Resource, Role, StateRecord, Time,
};
use failover_runtime::store::{Store, StoreError, StoreIdentity};
use std::net::Ipv6Addr;

fn record() -> StateRecord {
    StateRecord {
        state: EndpointState::Normal,
        start_time_of_state: Time(100),
        partner_state: Some(EndpointState::Normal),
        partner_state_start: Time(90),
        partner_down_time: Time::ZERO,
        last_operating_time: Time(120),
        time_of_failure: Time::ZERO,
        mclt: 30,
        communicated: true,
        partner_communicated: true,
        recovering_all: false,
    }
}

fn writes() -> Vec<DurableWrite> {
    let a = Resource::Address(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x101));
    let p = Resource::Prefix(Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0x200, 0, 0, 0, 0), 56);
    let mut b = Binding::free(a, BindingStatus::Free, Time(5));
    b.set_status(BindingStatus::Active, Time(10));
    vec![
        DurableWrite::Binding(Binding::free(p, BindingStatus::FreeBackup, Time(3))),
        DurableWrite::Binding(Binding::free(a, BindingStatus::Free, Time(5))),
        DurableWrite::State(record()),
        DurableWrite::Binding(b),
    ]
}

fn id() -> StoreIdentity {
    StoreIdentity::new("pair", Role::Primary)
}

#[test]
fn round_trip_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("leases.redb");
    let (store, image) = Store::open(&path, &id()).expect("create");
    assert!(image.state.is_none() && image.bindings.is_empty());
    let ws = writes();
    store.commit(&ws[..2]).expect("commit 1");
    store.commit(&ws[2..]).expect("commit 2");
    drop(store);
    let mut expected = failover_model::DurableImage::default();
    for w in &ws {
        expected.apply(w);
    }
    let (store, image) = Store::open(&path, &id()).expect("reopen");
    assert_eq!(image, expected);
    store.commit(&[]).expect("empty commit");
}

#[test]
fn corrupt_file_is_refused_and_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("leases.redb");
    let junk: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&path, &junk).expect("write junk");
    let err = Store::open(&path, &id()).expect_err("junk must be refused");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert_eq!(std::fs::read(&path).expect("still there"), junk, "never reset");

    // A real store, damaged after the fact.
    let path2 = dir.path().join("damaged.redb");
    {
        let (store, _) = Store::open(&path2, &id()).expect("create");
        store.commit(&writes()).expect("commit");
    }
    let mut bytes = std::fs::read(&path2).expect("read");
    let n = bytes.len();
    for b in &mut bytes[..n.min(4096)] {
        *b ^= 0x5a;
    }
    std::fs::write(&path2, &bytes).expect("damage");
    assert!(Store::open(&path2, &id()).is_err(), "damaged store must be refused");
}

#[test]
fn foreign_store_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("leases.redb");
    {
        let (store, _) = Store::open(&path, &id()).expect("create");
        store.commit(&writes()).expect("commit");
    }
    for other in [
        StoreIdentity::new("pair", Role::Secondary),
        StoreIdentity::new("another", Role::Primary),
        StoreIdentity { format: 99, ..id() },
    ] {
        let err = Store::open(&path, &other).expect_err("foreign must be refused");
        assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    }
    // And the original owner still finds everything.
    let (_, image) = Store::open(&path, &id()).expect("reopen");
    assert_eq!(image.bindings.len(), 2);
}
