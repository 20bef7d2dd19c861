//! The specification, read top to bottom as in stateright's own examples: the world, the
//! actions, then the properties.
//!
//! 1. **The world** ([`crate::world::World`]): two `failover_model::Endpoint`s with their
//!    durable images, the partner connection, the clients' ledger of what they believe they
//!    hold, the clock, the fault budgets and the ghost variables the properties read.
//! 2. **The actions** ([`crate::model::Action`], carried out by the environment in
//!    [`crate::model`]): clients asking either server, the partner connection delivering,
//!    connecting, breaking and partitioning, servers crashing (with or without their stable
//!    storage) and restarting, timers firing, time advancing, the operator's PARTNER-DOWN
//!    command. Every protocol decision is the core's (`Endpoint::handle`,
//!    `Endpoint::restore`); every action yields one [`Step`]: the world before, the action,
//!    each input fed to a server with its outputs in order, the world after.
//! 3. **The properties** ([`crate::properties::TABLE`]): one row each — name, RFC section,
//!    `always` or `sometimes`, and one function over the world or over a [`Step`]. A step
//!    property is judged on every step here and a failed verdict stays in the world
//!    ([`crate::world::Ghost::violations`], bit `k` for row `k`).

use crate::model::{format_action, Action, FailoverModel};
use crate::properties;
use crate::step::Step;
use crate::world::World;
use stateright::{Model, Property};

impl FailoverModel {
    /// Keeps the failed verdicts of the step properties on `step` in its world after.
    fn judged(
        &self,
        before: &World,
        action: Option<&Action>,
        fed: &[crate::step::Fed],
        mut after: World,
    ) -> World {
        let failed = properties::judge(self, &Step { before, action, fed, after: &after });
        after.ghost.violations |= failed;
        after
    }
}

impl Model for FailoverModel {
    type State = World;
    type Action = Action;

    /// Both servers start from empty stable storage at `T0`; with `Bounds::warm_start`, the
    /// run starts from the quiescent world their handshake reaches.
    fn init_states(&self) -> Vec<World> {
        let (before, after, fed) = self.start();
        let w = self.judged(&before, None, &fed, after);
        if self.bounds.warm_start {
            vec![self.warm_up(w)]
        } else {
            vec![w]
        }
    }

    fn actions(&self, w: &World, actions: &mut Vec<Action>) {
        self.enabled(w, actions);
    }

    fn next_state(&self, last: &World, action: Action) -> Option<World> {
        let (after, fed) = self.transition(last, &action)?;
        Some(self.judged(last, Some(&action), &fed, after))
    }

    fn format_action(&self, a: &Action) -> String {
        format_action(a)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties::all()
    }
}
