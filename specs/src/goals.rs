//! Reachability goals (`sometimes` properties) for the behaviours the configurations of issue 13
//! ("verification depth") are meant to reach: the pool cursor skipping a recorded address,
//! a break that can cut an update from its reply with a third client operation still to come,
//! a BNDUPD meeting the receiver's own pending change of the resource after a fault (the
//! §7.5.4 comparison on reconnection), and two faults in one run. Each is a state predicate, so
//! the model explores exactly what it explored without them (no ghost variable is added); the
//! checker reports whether each is reached: they are rows of [`crate::properties::TABLE`]. Every goal quantifies
//! over all clients and resources (no client is named: the symmetry reduction of
//! [`crate::reduce`] keeps their verdicts).

use crate::model::FailoverModel;
use crate::world::{fault, Wire, World};
use failover_model::failover::message::{BindingPayload, MessageBody};
use failover_model::{BindingStatus, Resource, Role};

/// Goal names.
pub mod name {
    /// A client holds an address above a recorded, non-free address of the same half at the
    /// granting server: the cursor walked over it.
    pub const SKIP: &str = "pool cursor skipped a recorded address";
    /// As [`SKIP`], the skipped address not held by a client (ABANDONED, or EXPIRED, RELEASED
    /// or RESET waiting to be reused).
    pub const SKIP_WAITING: &str = "pool cursor skipped an abandoned or reuse-waiting address";
    /// Two client operations done, one left, and a break is possible while a BNDUPD or its
    /// BNDREPLY is in flight.
    pub const BREAK_UPDATE: &str =
        "a break can cut an update from its reply before a third client operation";
    /// After a break, partition or crash, a BNDUPD about a resource is on its way to a server
    /// whose own record of it is pending (changed and not acknowledged): §7.5.4's comparison.
    pub const CROSSED: &str = "reconnection: a BNDUPD meets the receiver's own pending change";
    /// Two faults (crash, storage loss, break, partition, lost reply) in one run.
    pub const TWO_FAULTS: &str = "two faults in one run";
}

/// The addresses granting server `by` has recorded below `r` in its half, not free.
fn skipped(w: &World, r: Resource, by: Role, waiting_only: bool) -> bool {
    let Resource::Address(_) = r else { return false };
    let Some(ep) = &w.servers[crate::world::idx(by)].live else { return false };
    let half = r.primary_half();
    ep.bindings().any(|b| {
        matches!(b.resource, Resource::Address(_))
            && b.resource < r
            && b.resource.primary_half() == half
            && !b.status.is_available()
            && (!waiting_only || b.status != BindingStatus::Active)
    })
}

fn skip_any(w: &World, waiting_only: bool) -> bool {
    w.clients
        .iter()
        .any(|c| c.valid_at(w.now).any(|h| skipped(w, h.resource, h.granted_by, waiting_only)))
}

/// [`name::SKIP`].
pub fn skip(_: &FailoverModel, w: &World) -> bool {
    skip_any(w, false)
}

/// [`name::SKIP_WAITING`].
pub fn skip_waiting(_: &FailoverModel, w: &World) -> bool {
    skip_any(w, true)
}

fn is_binding_msg(wire: &Wire) -> bool {
    matches!(wire, Wire::Msg(m) if matches!(m.body, MessageBody::BndUpd(_) | MessageBody::BndReply(_)))
}

/// [`name::BREAK_UPDATE`].
pub fn break_update(m: &FailoverModel, w: &World) -> bool {
    let used = m.bounds.client_ops.saturating_sub(w.budget.client_ops);
    used >= 2
        && w.budget.client_ops > 0
        && w.budget.breaks > 0
        && w.budget.faults > 0
        && w.link.flowing()
        && w.link.fifo.iter().flatten().any(is_binding_msg)
}

/// The resources a BNDUPD carries.
fn carried(wire: &Wire) -> Vec<Resource> {
    let Wire::Msg(m) = wire else { return Vec::new() };
    let MessageBody::BndUpd(b) = &m.body else { return Vec::new() };
    match &b.payload {
        Some(BindingPayload::Client(cd)) => {
            cd.ias.iter().flat_map(|ia| ia.leases.iter().map(|l| l.resource)).collect()
        }
        Some(BindingPayload::Prefix(p)) => vec![p.lease.resource],
        None => Vec::new(),
    }
}

/// [`name::CROSSED`].
pub fn crossed(_: &FailoverModel, w: &World) -> bool {
    if w.ghost.faults_seen & (fault::BREAK | fault::PARTITION | fault::CRASH | fault::STORAGE_LOSS)
        == 0
    {
        return false;
    }
    (0..2).any(|to| {
        let Some(ep) = &w.servers[to].live else { return false };
        w.link.fifo[to].iter().flat_map(carried).any(|r| ep.binding(&r).is_some_and(|b| b.pending))
    })
}

/// [`name::TWO_FAULTS`].
pub fn two_faults(m: &FailoverModel, w: &World) -> bool {
    let b = &m.bounds;
    let used = |bound: u8, left: u8| u32::from(bound.saturating_sub(left));
    used(b.crashes, w.budget.crashes)
        + used(b.storage_losses, w.budget.storage_losses)
        + used(b.breaks, w.budget.breaks)
        + used(b.partitions, w.budget.partitions)
        + used(b.lost_replies, w.budget.lost_replies)
        >= 2
}
