//! Endpoint states (RFC 8156 §8) and their transition table.
//!
//! The transition functions here are pure tables: [`on_comms_failed`] and [`on_partner_state`]
//! take the current state, the role and what was learned, and return the next state (if it
//! changes). The endpoint calls them whenever one of the §8.1 inputs changes (own state, comms
//! OK / not OK, the partner's last known state) and carries out the side effects.

use serde::{Deserialize, Serialize};

/// The role of this endpoint in its relationship (§3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Owns the MCLT, connects to the secondary, owns all delegable prefixes at the start.
    Primary,
    /// Listens on port 647; renew-responsive in NORMAL.
    Secondary,
}

impl Role {
    /// The partner's role.
    #[must_use]
    pub fn other(self) -> Role {
        match self {
            Role::Primary => Role::Secondary,
            Role::Secondary => Role::Primary,
        }
    }
}

/// The ten endpoint states of §8 (wire values of OPTION_F_SERVER_STATE, §5.5.17).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum EndpointState {
    /// §8.3. Never sent on the wire (the STARTUP flag is used instead).
    Startup,
    /// §8.8.
    Normal,
    /// §8.9 COMMUNICATIONS-INTERRUPTED.
    CommunicationsInterrupted,
    /// §8.4.
    PartnerDown,
    /// §8.10.
    PotentialConflict,
    /// §8.5.
    Recover,
    /// §8.6.
    RecoverWait,
    /// §8.7.
    RecoverDone,
    /// §8.11 RESOLUTION-INTERRUPTED.
    ResolutionInterrupted,
    /// §8.12 (primary only).
    ConflictDone,
}

/// Every state, in wire-value order (for tables and tests).
pub const ALL_STATES: [EndpointState; 10] = [
    EndpointState::Startup,
    EndpointState::Normal,
    EndpointState::CommunicationsInterrupted,
    EndpointState::PartnerDown,
    EndpointState::PotentialConflict,
    EndpointState::Recover,
    EndpointState::RecoverWait,
    EndpointState::RecoverDone,
    EndpointState::ResolutionInterrupted,
    EndpointState::ConflictDone,
];

impl EndpointState {
    /// The OPTION_F_SERVER_STATE wire value (§5.5.17).
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            EndpointState::Startup => 1,
            EndpointState::Normal => 2,
            EndpointState::CommunicationsInterrupted => 3,
            EndpointState::PartnerDown => 4,
            EndpointState::PotentialConflict => 5,
            EndpointState::Recover => 6,
            EndpointState::RecoverWait => 7,
            EndpointState::RecoverDone => 8,
            EndpointState::ResolutionInterrupted => 9,
            EndpointState::ConflictDone => 10,
        }
    }

    /// Parses a wire value; 0 and values above 10 give `None`.
    #[must_use]
    pub fn from_code(code: u8) -> Option<Self> {
        ALL_STATES.get(usize::from(code).checked_sub(1)?).copied()
    }

    /// The RFC's name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            EndpointState::Startup => "STARTUP",
            EndpointState::Normal => "NORMAL",
            EndpointState::CommunicationsInterrupted => "COMMUNICATIONS-INTERRUPTED",
            EndpointState::PartnerDown => "PARTNER-DOWN",
            EndpointState::PotentialConflict => "POTENTIAL-CONFLICT",
            EndpointState::Recover => "RECOVER",
            EndpointState::RecoverWait => "RECOVER-WAIT",
            EndpointState::RecoverDone => "RECOVER-DONE",
            EndpointState::ResolutionInterrupted => "RESOLUTION-INTERRUPTED",
            EndpointState::ConflictDone => "CONFLICT-DONE",
        }
    }

    /// Figure 6's comms mark: `Some(true)` for states that assume comms OK ("+"),
    /// `Some(false)` for states that assume comms failed ("-"), `None` for states that
    /// tolerate both ("*") and for STARTUP.
    #[must_use]
    pub fn assumes_comms_ok(self) -> Option<bool> {
        match self {
            EndpointState::Normal | EndpointState::PotentialConflict => Some(true),
            EndpointState::CommunicationsInterrupted
            | EndpointState::PartnerDown
            | EndpointState::ResolutionInterrupted => Some(false),
            _ => None,
        }
    }
}

impl std::fmt::Display for EndpointState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a server answers DHCPv6 clients in a state (§3 definitions, §8.x.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Responsiveness {
    /// Answers no client (§8.3.1, §8.5.1, §8.6.1, §8.10.1).
    Unresponsive,
    /// Answers only messages carrying its own SERVERID (§3 "renew-responsive").
    RenewResponsive,
    /// Answers every client.
    Responsive,
}

/// Responsiveness of `state` for `role`.
///
/// RECOVER-DONE is renew-responsive and never allocates: Figure 6 marks it "(unresponsive)"
/// but §8.7.1 says it SHOULD be renew-responsive and §8.1 makes the text authoritative
/// (digest §11.3 item 2).
#[must_use]
pub fn responsiveness(state: EndpointState, role: Role) -> Responsiveness {
    use EndpointState::*;
    match state {
        Startup | PotentialConflict | Recover | RecoverWait => Responsiveness::Unresponsive,
        Normal => match role {
            Role::Primary => Responsiveness::Responsive,
            Role::Secondary => Responsiveness::RenewResponsive,
        },
        RecoverDone => Responsiveness::RenewResponsive,
        CommunicationsInterrupted | PartnerDown | ResolutionInterrupted | ConflictDone => {
            Responsiveness::Responsive
        }
    }
}

/// Whether a server in `state` may allocate a *new* lease (to a client that holds none).
/// NORMAL secondaries (§8.8.1), RECOVER-DONE (§8.7.1) and unresponsive states may not.
#[must_use]
pub fn may_allocate(state: EndpointState, role: Role) -> bool {
    responsiveness(state, role) == Responsiveness::Responsive
}

/// Whether the MCLT bounds the lifetimes given in `state` (§4.4; only PARTNER-DOWN is free of
/// it, §8.4.1).
#[must_use]
pub fn mclt_applies(state: EndpointState) -> bool {
    state != EndpointState::PartnerDown
}

/// The comms-failed transition (§8.8.2, §8.10.2; §8.3.2 step 2): NORMAL → COMM-INT,
/// POTENTIAL-CONFLICT → RESOLUTION-INT; every other state stays.
#[must_use]
pub fn on_comms_failed(state: EndpointState) -> Option<EndpointState> {
    match state {
        EndpointState::Normal => Some(EndpointState::CommunicationsInterrupted),
        EndpointState::PotentialConflict => Some(EndpointState::ResolutionInterrupted),
        _ => None,
    }
}

/// The comms-OK transition: what `own` becomes on learning (from a STATE message received
/// while comms are OK) that the partner is in `partner`. `None` means stay.
///
/// STATE messages with the STARTUP flag never reach this table: the endpoint ignores them for
/// transition purposes (§8.4.2 says so for PARTNER-DOWN; digest §11.3 item 9 extends it to
/// every state, since the partner's recorded state is not its current one).
///
/// Readings that resolve gaps in the RFC (each written here once):
/// - COMM-INT with the partner in RECOVER-WAIT stays, like RECOVER (§8.9.2 lists no entry;
///   Figure 6 "wait for RECOVER-DONE"; digest §11.3 item 9).
/// - NORMAL with the partner in an unexpected state goes to COMM-INT and immediately takes the
///   COMM-INT transition for that partner state (§8.8.2). NORMAL and COMM-INT partners are
///   expected; so is RECOVER-DONE (its COMM-INT transition is NORMAL) and, for a secondary,
///   a primary in CONFLICT-DONE: that is exactly the primary waiting for this secondary to
///   reach NORMAL (§8.12.2), and treating it as unexpected would loop through
///   POTENTIAL-CONFLICT forever.
/// - RECOVER-WAIT waits for its timer whatever the partner does (§8.6.2).
/// - RECOVER-DONE with the partner in PARTNER-DOWN or COMM-INT stays: the partner moves to
///   NORMAL on seeing RECOVER-DONE (§8.4.2, §8.9.2) and its next STATE brings this one there.
#[must_use]
pub fn on_partner_state(
    own: EndpointState,
    role: Role,
    partner: EndpointState,
) -> Option<EndpointState> {
    use EndpointState::*;
    // STARTUP is never a partner state on the wire (§5.5.17): nothing to act on.
    if partner == Startup {
        return None;
    }
    let next = match own {
        Startup => return None,
        Normal => match (partner, role) {
            (Normal | CommunicationsInterrupted | RecoverDone, _) => return None,
            (ConflictDone, Role::Secondary) => return None,
            _ => {
                // §8.8.2: unexpected partner state → COMM-INT, then its comm-OK transition.
                return Some(
                    on_partner_state(CommunicationsInterrupted, role, partner)
                        .unwrap_or(CommunicationsInterrupted),
                );
            }
        },
        CommunicationsInterrupted => match partner {
            Normal | CommunicationsInterrupted | RecoverDone => Normal,
            Recover | RecoverWait | Startup => return None,
            PartnerDown | PotentialConflict | ConflictDone | ResolutionInterrupted => {
                PotentialConflict
            }
        },
        PartnerDown => match partner {
            Recover | RecoverWait | Startup => return None,
            RecoverDone => Normal,
            Normal
            | CommunicationsInterrupted
            | PartnerDown
            | PotentialConflict
            | ResolutionInterrupted
            | ConflictDone => PotentialConflict,
        },
        Recover => match partner {
            PotentialConflict | ResolutionInterrupted | ConflictDone => PotentialConflict,
            _ => return None,
        },
        RecoverWait => return None,
        RecoverDone => match partner {
            Normal | RecoverDone => Normal,
            Recover | RecoverWait => CommunicationsInterrupted,
            PotentialConflict => PotentialConflict,
            _ => return None,
        },
        PotentialConflict => return None,
        ResolutionInterrupted => PotentialConflict,
        ConflictDone => match partner {
            Normal => Normal,
            _ => return None,
        },
    };
    (next != own).then_some(next)
}

/// §8.3.2 step 1: PREVIOUS-STATE from what stable storage holds. With no recorded state the
/// server starts as RECOVER (step 1), not as §8.2's "primary PARTNER-DOWN": digest §11.3 item 3.
/// A commissioning jump to PARTNER-DOWN is the separate config option
/// `Config::startup_partner_down_if_alone`.
#[must_use]
pub fn startup_previous_state(recorded: Option<EndpointState>) -> EndpointState {
    match recorded {
        None | Some(EndpointState::Startup) => EndpointState::Recover,
        Some(s) => s,
    }
}

/// §8.3.2 step 2: if PREVIOUS-STATE assumes comms OK, replace it by its comms-failed successor.
#[must_use]
pub fn startup_apply_comms_failed(previous: EndpointState) -> EndpointState {
    on_comms_failed(previous).unwrap_or(previous)
}

/// §8.3.2 step 5: the state a server in STARTUP takes when comms come up, before applying the
/// comm-OK transition for the partner's state. If the partner is in PARTNER-DOWN, compare when
/// it entered PARTNER-DOWN with this server's last recorded operating time: after we stopped →
/// RECOVER; before (both ran, partitioned) → POTENTIAL-CONFLICT.
///
/// Reading (digest §11.3 style; found by the pair property test): a server whose
/// PREVIOUS-STATE is RECOVER or RECOVER-WAIT had not finished recovering, so it answered no
/// client since it last served ("operated") and cannot conflict with the partner's PARTNER-DOWN
/// allocations. It goes back to RECOVER whatever the times say. Taking POTENTIAL-CONFLICT there
/// would let a crash in RECOVER-WAIT skip the §8.6.2 hold: conflict resolution ends in NORMAL
/// without it, and a lease the server granted before losing its storage (known to nobody else)
/// could be handed out again.
#[must_use]
pub fn startup_on_comms_ok(
    previous: EndpointState,
    partner: EndpointState,
    partner_state_start: crate::time::Time,
    last_operating_time: crate::time::Time,
) -> EndpointState {
    if partner == EndpointState::PartnerDown {
        if matches!(previous, EndpointState::Recover | EndpointState::RecoverWait)
            || partner_state_start > last_operating_time
        {
            EndpointState::Recover
        } else {
            EndpointState::PotentialConflict
        }
    } else {
        previous
    }
}
