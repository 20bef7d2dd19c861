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

/// Writes a store the way format 1 did (identity and records in JSON), with redb directly.
fn write_format_1(path: &std::path::Path) {
    use redb::{Database, TableDefinition};
    let meta: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
    let state: TableDefinition<&str, &[u8]> = TableDefinition::new("state");
    let bindings: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bindings");
    let db = Database::create(path).expect("create");
    let tx = db.begin_write().expect("write");
    {
        let identity = serde_json::to_vec(&StoreIdentity { format: 1, ..id() }).expect("json");
        tx.open_table(meta).expect("meta").insert("identity", identity.as_slice()).expect("id");
        let mut s = tx.open_table(state).expect("state");
        let mut b = tx.open_table(bindings).expect("bindings");
        for w in writes() {
            match w {
                DurableWrite::State(r) => {
                    let v = serde_json::to_vec(&r).expect("json");
                    s.insert("state", v.as_slice()).expect("state row");
                }
                DurableWrite::Binding(x) => {
                    let v = serde_json::to_vec(&x).expect("json");
                    let k = failover_runtime::store::resource_key(&x.resource);
                    b.insert(k.as_slice(), v.as_slice()).expect("binding row");
                }
            }
        }
    }
    tx.commit().expect("commit");
}

#[test]
fn store_of_another_format_version_is_refused_and_kept() {
    assert_eq!(failover_runtime::store::FORMAT_VERSION, 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("leases.redb");
    write_format_1(&path);
    let err = Store::open(&path, &id()).expect_err("a format 1 store must be refused");
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("format 1") && msg.contains("format 2"), "{msg}");
    // Neither reset nor converted: the identity and the JSON records are still there.
    let db = redb::Database::open(&path).expect("open with redb");
    let tx = redb::ReadableDatabase::begin_read(&db).expect("read");
    let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
    let table = tx.open_table(meta).expect("meta");
    let v = redb::ReadableTable::get(&table, "identity").expect("get").expect("identity row");
    let found: StoreIdentity = serde_json::from_slice(v.value()).expect("identity");
    assert_eq!(found.format, 1);
    let bindings: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("bindings");
    let table = tx.open_table(bindings).expect("bindings");
    assert_eq!(redb::ReadableTableMetadata::len(&table).expect("len"), 2);
    for row in redb::ReadableTable::iter(&table).expect("iter") {
        let (_, v) = row.expect("row");
        let _: Binding = serde_json::from_slice(v.value()).expect("a format 1 JSON record");
    }
}

#[test]
fn identity_record_stays_readable_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("leases.redb");
    {
        let (store, _) = Store::open(&path, &id()).expect("create");
        store.commit(&writes()).expect("commit");
    }
    let db = redb::Database::open(&path).expect("open with redb");
    let tx = redb::ReadableDatabase::begin_read(&db).expect("read");
    let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
    let table = tx.open_table(meta).expect("meta");
    let v = redb::ReadableTable::get(&table, "identity").expect("get").expect("identity row");
    let json: serde_json::Value = serde_json::from_slice(v.value()).expect("identity is JSON");
    assert_eq!(json["format"], 2);
    assert_eq!(json["relationship"], "pair");
}

#[test]
fn unreadable_record_is_refused_and_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("leases.redb");
    {
        let (store, _) = Store::open(&path, &id()).expect("create");
        store.commit(&writes()).expect("commit");
    }
    let bindings: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("bindings");
    let key = failover_runtime::store::resource_key(&Resource::Address(Ipv6Addr::new(
        0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x101,
    )));
    // A binding record that does not decode, then one with bytes left over after the record.
    let good = {
        let db = redb::Database::open(&path).expect("open with redb");
        let tx = redb::ReadableDatabase::begin_read(&db).expect("read");
        let table = tx.open_table(bindings).expect("bindings");
        let v = redb::ReadableTable::get(&table, key.as_slice()).expect("get").expect("row");
        v.value().to_vec()
    };
    let mut trailing = good.clone();
    trailing.push(0);
    for value in [vec![0xff; 3], trailing] {
        {
            let db = redb::Database::open(&path).expect("open with redb");
            let tx = db.begin_write().expect("write");
            tx.open_table(bindings)
                .expect("bindings")
                .insert(key.as_slice(), value.as_slice())
                .expect("insert");
            tx.commit().expect("commit");
        }
        let err = Store::open(&path, &id()).expect_err("an unreadable record must be refused");
        assert!(matches!(err, StoreError::BadRecord { .. }), "{err}");
    }
    // The file was left alone: putting the good record back makes it usable again.
    {
        let db = redb::Database::open(&path).expect("open with redb");
        let tx = db.begin_write().expect("write");
        tx.open_table(bindings)
            .expect("bindings")
            .insert(key.as_slice(), good.as_slice())
            .expect("insert");
        tx.commit().expect("commit");
    }
    let (_, image) = Store::open(&path, &id()).expect("reopen");
    assert_eq!(image.bindings.len(), 2);
}
