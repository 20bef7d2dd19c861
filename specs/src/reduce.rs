//! Symmetry reduction over clients: the representative of a world under client renaming.
//!
//! The model's clients are interchangeable: client `c` differs from client `d` only by its
//! index in [`World::clients`] and its DUID ([`FailoverModel::client_duid`]). Renaming them
//! (a permutation `π` of the indices, with the DUIDs renamed alike everywhere they occur) maps
//! every behaviour of the model to a behaviour of the model, and no property can tell the two
//! apart (the argument is in docs/model.md, "Symmetry reduction"; in short: the endpoints read a
//! DUID only by equality, the environment treats every client alike, and every property
//! quantifies over all clients). So the checker need explore only one world of each class of
//! worlds equal up to renaming: [`representative`] picks it, and `run::Search::DfsSymmetry`
//! hands it to stateright's DFS (`CheckerBuilder::symmetry_fn`), which fingerprints the
//! representative but continues from the world it reached, so every trace stays a real path.
//!
//! The representative orders the clients by a key that does not depend on their names: what
//! the client believes it holds (its ghost ledger), then where the state names it — each
//! server's live binding records and stable-storage records for it (by resource), the
//! BNDUPD/BNDREPLY messages on the partner connection that carry its CLIENT_DATA (by direction
//! and position), and the PARTNER-DOWN reuse waits recorded for it (by server and resource).
//! Two clients with equal keys are either named nowhere (then swapping them changes nothing)
//! or tie by accident; ties keep the index order. Soundness needs only that the representative
//! is a renaming of the world (it is, by construction); that equal classes get equal keys makes
//! the reduction as strong as it can be.
//!
//! Only clients are permuted, not addresses: the pools hand out untouched addresses in address
//! order through a cursor (§4.2.1 halves by bit 127, the cursor walks upwards and skips
//! recorded addresses), and the proportional prefix allocation picks the longest-free record
//! with the resource as the tie-break, so the protocol's decisions depend on how addresses
//! compare: a renaming of addresses does not commute with the transitions.

use crate::model::FailoverModel;
use crate::world::{Held, Wire, World};
use failover_model::failover::message::{BindingPayload, MessageBody};
use failover_model::{ClientKey, Duid, Resource};

/// The model client a DUID belongs to (the inverse of [`FailoverModel::client_duid`]).
#[must_use]
pub fn client_of(duid: &Duid, clients: usize) -> Option<usize> {
    let c = usize::from(*duid.0.last()? & 0x0f);
    (c < clients && u8::try_from(c).is_ok_and(|c| FailoverModel::client_duid(c) == *duid))
        .then_some(c)
}

/// Where the state names a client, in terms that do not mention its name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Mention {
    /// A live binding record of server `0`/`1`.
    Live(usize, Resource),
    /// A record on the stable storage of server `0`/`1`.
    Stored(usize, Resource),
    /// A BNDUPD or BNDREPLY towards server `0`/`1` at this position of the FIFO.
    Wire(usize, usize),
    /// A PARTNER-DOWN reuse wait of server `0`/`1`.
    Watch(usize, Resource),
}

/// The client's DUID in a binding message, if it carries CLIENT_DATA.
fn message_client(w: &Wire) -> Option<&Duid> {
    let Wire::Msg(m) = w else { return None };
    match &m.body {
        MessageBody::BndUpd(b) | MessageBody::BndReply(b) => match &b.payload {
            Some(BindingPayload::Client(cd)) => Some(&cd.client_id),
            _ => None,
        },
        _ => None,
    }
}

fn message_client_mut(w: &mut Wire) -> Option<&mut Duid> {
    let Wire::Msg(m) = w else { return None };
    match &mut m.body {
        MessageBody::BndUpd(b) | MessageBody::BndReply(b) => match &mut b.payload {
            Some(BindingPayload::Client(cd)) => Some(&mut cd.client_id),
            _ => None,
        },
        _ => None,
    }
}

/// The name-free key of every client, by index.
fn keys(w: &World) -> Vec<(&[Held], Vec<Mention>)> {
    let n = w.clients.len();
    let mut mentions: Vec<Vec<Mention>> = vec![Vec::new(); n];
    let mut note = |duid: &Duid, m: Mention| {
        if let Some(c) = client_of(duid, n) {
            mentions[c].push(m);
        }
    };
    for (i, s) in w.servers.iter().enumerate() {
        if let Some(ep) = &s.live {
            for b in ep.bindings() {
                if let Some(k) = &b.client {
                    note(&k.duid, Mention::Live(i, b.resource));
                }
            }
        }
        for b in s.image.bindings.values() {
            if let Some(k) = &b.client {
                note(&k.duid, Mention::Stored(i, b.resource));
            }
        }
        for (pos, wire) in w.link.fifo[i].iter().enumerate() {
            if let Some(d) = message_client(wire) {
                note(d, Mention::Wire(i, pos));
            }
        }
        for pw in w.ghost.pd_watch[i].iter().flatten() {
            if let Some(h) = &pw.holder {
                note(&Duid(h.clone()), Mention::Watch(i, pw.resource));
            }
        }
    }
    w.clients.iter().map(|c| c.leases.as_slice()).zip(mentions).collect()
}

/// The permutation that sorts the clients by their name-free keys: position `k` of the
/// representative holds the client at index `order[k]` of `w`. Stable: ties keep index order.
#[must_use]
pub fn canonical_order(w: &World) -> Vec<usize> {
    let keys = keys(w);
    let mut order: Vec<usize> = (0..w.clients.len()).collect();
    order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
    order
}

/// `w` with its clients renamed: the client at index `order[k]` becomes client `k`, in the
/// ledger and in every DUID the state holds (both servers' live bindings and stable storage,
/// the binding messages in flight, the PARTNER-DOWN reuse waits).
///
/// # Panics
/// `order` is not a permutation of the client indices.
#[must_use]
pub fn rename_clients(w: &World, order: &[usize]) -> World {
    let n = w.clients.len();
    assert_eq!(order.len(), n, "a permutation of the clients");
    let mut new_of_old = vec![usize::MAX; n];
    for (new, &old) in order.iter().enumerate() {
        new_of_old[old] = new;
    }
    assert!(new_of_old.iter().all(|&k| k < n), "a permutation of the clients");
    let duid = |c: usize| FailoverModel::client_duid(u8::try_from(c).unwrap_or(u8::MAX));
    let rename_duid = |d: &Duid| -> Option<Duid> {
        let old = client_of(d, n)?;
        let new = new_of_old[old];
        (new != old).then(|| duid(new))
    };
    let rename_key = |k: &ClientKey| -> Option<ClientKey> {
        rename_duid(&k.duid).map(|duid| ClientKey { duid, ..k.clone() })
    };
    let mut r = w.clone();
    r.clients = order.iter().map(|&old| w.clients[old].clone()).collect();
    for s in &mut r.servers {
        if let Some(ep) = &mut s.live {
            ep.rename_clients(&rename_key);
        }
        for b in s.image.bindings.values_mut() {
            if let Some(to) = b.client.as_ref().and_then(rename_key) {
                b.client = Some(to);
            }
        }
    }
    for fifo in &mut r.link.fifo {
        for wire in fifo.iter_mut() {
            if let Some(d) = message_client_mut(wire) {
                if let Some(to) = rename_duid(d) {
                    *d = to;
                }
            }
        }
    }
    for watch in r.ghost.pd_watch.iter_mut().flatten() {
        for pw in watch.iter_mut() {
            if let Some(to) = pw.holder.as_ref().and_then(|h| rename_duid(&Duid(h.clone()))) {
                pw.holder = Some(to.0);
            }
        }
        watch.sort();
    }
    r
}

/// The representative of `w`'s class under client renaming (see the module text). A renaming
/// of `w`; `w` itself when its clients are already in canonical order.
#[must_use]
pub fn representative(w: &World) -> World {
    let order = canonical_order(w);
    if order.iter().enumerate().all(|(k, &old)| k == old) {
        return w.clone();
    }
    rename_clients(w, &order)
}
