//! The persist-before-send gate with group commit (the ordering rule of
//! [`failover_model::io`]).
//!
//! Writes go into the *open* batch. At most one batch is *in flight* (being committed) at a
//! time; writes produced meanwhile wait in the next open batch, so one fsync covers every step
//! that happened during the previous one (group commit).
//!
//! Every output that leaves the machine is held with the id of the batch it must wait for: the
//! open batch if it has writes (a write of this step or an earlier one precedes the output),
//! else the batch in flight, else nothing. Held outputs are released strictly in order once
//! their batch is durable, so an output never overtakes a write that preceded it, and outputs
//! never overtake each other.

use std::collections::VecDeque;

/// The gate. `W` is a durable write, `T` an outgoing action.
#[derive(Debug)]
pub struct Gate<W, T> {
    open: Vec<W>,
    open_id: u64,
    inflight: Option<u64>,
    committed: u64,
    held: VecDeque<(u64, T)>,
}

impl<W, T> Default for Gate<W, T> {
    fn default() -> Self {
        Gate { open: Vec::new(), open_id: 1, inflight: None, committed: 0, held: VecDeque::new() }
    }
}

impl<W, T> Gate<W, T> {
    /// A write, in output order.
    pub fn persist(&mut self, w: W) {
        self.open.push(w);
    }

    /// An outgoing action, in output order: it waits for every write before it.
    pub fn send(&mut self, t: T) {
        let need = if !self.open.is_empty() {
            self.open_id
        } else if let Some(id) = self.inflight {
            id
        } else {
            self.committed
        };
        self.held.push_back((need, t));
    }

    /// If no commit is in flight and writes are waiting, takes them as the next batch.
    pub fn next_batch(&mut self) -> Option<(u64, Vec<W>)> {
        if self.inflight.is_some() || self.open.is_empty() {
            return None;
        }
        let id = self.open_id;
        self.open_id += 1;
        self.inflight = Some(id);
        Some((id, std::mem::take(&mut self.open)))
    }

    /// The batch in flight, if any.
    #[must_use]
    pub fn inflight(&self) -> Option<u64> {
        self.inflight
    }

    /// Batch `id` is durable.
    pub fn committed(&mut self, id: u64) {
        if self.inflight == Some(id) {
            self.inflight = None;
        }
        self.committed = self.committed.max(id);
    }

    /// The batch in flight failed: nothing held may leave, ever. Drops the held actions.
    pub fn failed(&mut self) -> usize {
        self.inflight = None;
        let n = self.held.len();
        self.held.clear();
        n
    }

    /// The next action that may leave now, in order.
    pub fn release(&mut self) -> Option<T> {
        match self.held.front() {
            Some((need, _)) if *need <= self.committed => self.held.pop_front().map(|(_, t)| t),
            _ => None,
        }
    }

    /// Nothing waiting, nothing in flight, nothing held.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.open.is_empty() && self.inflight.is_none() && self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(g: &mut Gate<&'static str, &'static str>) -> Vec<&'static str> {
        std::iter::from_fn(|| g.release()).collect()
    }

    #[test]
    fn output_without_writes_leaves_at_once() {
        let mut g: Gate<&str, &str> = Gate::default();
        g.send("contact");
        assert_eq!(drain(&mut g), ["contact"]);
        assert!(g.next_batch().is_none());
        assert!(g.is_idle());
    }

    #[test]
    fn reply_waits_for_the_write_before_it() {
        let mut g: Gate<&str, &str> = Gate::default();
        g.send("before"); // no write precedes it
        g.persist("lease");
        g.send("reply");
        assert_eq!(drain(&mut g), ["before"]);
        let (id, batch) = g.next_batch().expect("batch");
        assert_eq!(batch, ["lease"]);
        assert_eq!(drain(&mut g), Vec::<&str>::new(), "not before the commit");
        g.committed(id);
        assert_eq!(drain(&mut g), ["reply"]);
        assert!(g.is_idle());
    }

    #[test]
    fn group_commit_and_fifo() {
        let mut g: Gate<&str, &str> = Gate::default();
        // Step 1: a write and a reply; the commit starts.
        g.persist("w1");
        g.send("r1");
        let (b1, batch1) = g.next_batch().expect("batch 1");
        assert_eq!(batch1, ["w1"]);
        // Step 2 (commit 1 in flight): a send with no write of its own still waits (FIFO and
        // it may depend on w1); step 3 and 4 write; they share the next commit.
        g.send("s2");
        g.persist("w3");
        g.send("r3");
        g.persist("w4");
        g.send("r4");
        assert!(g.next_batch().is_none(), "one commit at a time");
        assert!(drain(&mut g).is_empty());
        g.committed(b1);
        assert_eq!(drain(&mut g), ["r1", "s2"]);
        let (b2, batch2) = g.next_batch().expect("batch 2");
        assert_eq!(batch2, ["w3", "w4"], "group commit");
        assert!(drain(&mut g).is_empty());
        g.committed(b2);
        assert_eq!(drain(&mut g), ["r3", "r4"]);
        assert!(g.is_idle());
    }

    #[test]
    fn a_failed_commit_releases_nothing() {
        let mut g: Gate<&str, &str> = Gate::default();
        g.persist("w");
        g.send("reply");
        let _ = g.next_batch();
        assert_eq!(g.failed(), 1);
        assert!(g.release().is_none());
    }
}
