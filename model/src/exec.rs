//! The reference executor of the core's outputs.
//!
//! [`crate::io`] says what a driver must do with the outputs of a step; this module does it
//! for every driver that does no real I/O: the model checker (`failover-specs`), the core's
//! tests and the replay of a runtime trace. It holds an endpoint and its [`DurableImage`] (by
//! reference: the caller keeps them where it likes) and, for one step:
//!
//! 1. notes what the step checks need from before the step (the state, the leases a BNDUPD
//!    names);
//! 2. feeds the input ([`Endpoint::handle`]) or restores ([`Endpoint::restore`]);
//! 3. carries out the outputs **in order**: each [`Output::Persist`] is applied to the image
//!    before anything after it is looked at, so a reply or a BNDREPLY is judged against the
//!    image as it is when that reply leaves; everything else (sends, replies, silences,
//!    connects, disconnects, events) is kept, in order, for the caller to deliver
//!    ([`Step::effects`]);
//! 4. performs the step checks ([`Check`]) and reports every one that failed in
//!    [`Step::violations`]. A correct core never fails one: the model checker turns each into a
//!    property, the tests and the replay treat one as a bug.
//!
//! Timers are not outputs: a driver reads [`Endpoint::next_deadline`] after the step and feeds
//! [`Input::Timeout`] when its clock reaches it ([`crate::io`], *Timers*).
//!
//! The runtime (`failoverd`) differs only in doing real I/O: its writes go to a store in group
//! commits and its outputs wait for them (the same order rule, enforced by its gate).

use crate::dhcp::client::ReplyKind;
use crate::endpoint::ConnPhase;
use crate::failover::message::{BindingMessage, BindingPayload, MessageBody, Status};
use crate::io::{DurableImage, Input, Output};
use crate::leases::binding::BindingStatus;
use crate::{ClientKey, Config, Endpoint, EndpointState, Resource, Role, Time};

/// One step check. The names in brackets are the model checker's properties
/// (`failover-specs`, `properties::name`), which report these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Check {
    /// \[S5\] (§7.5.2, §4.4.1): every binding a BNDREPLY accepts is on stable storage, with at
    /// least the partner lifetime the reply acknowledges as its expiration time, when the
    /// BNDREPLY is sent.
    AckDurable,
    /// \[S5b\] (the driving contract, [`crate::io`]): every lease a REPLY grants (valid
    /// lifetime > 0) is on stable storage when the REPLY is sent: ACTIVE, for that client, and
    /// valid at least as long as the reply says.
    GrantDurable,
    /// \[S6\] (§7.5.3, §7.6): a BNDUPD received over a connection is answered by exactly one
    /// BNDREPLY with its transaction id in the same step (unless the endpoint closes the
    /// connection in that step). One that arrives after the endpoint closed its side (a
    /// runtime reads what was already in the socket) has nothing to be answered on.
    UpdateAnswered,
    /// \[S17\] (§8.1): a change of state is on stable storage by the end of its step.
    TransitionDurable,
    /// \[S19\] (§6.1): only the primary sends CONNECT; only the secondary CONNECTREPLY.
    ConnectionRoles,
    /// \[S20\] (§8.3.1, §5.5.16): a STATE sent in STARTUP has the STARTUP flag and a recorded
    /// state other than STARTUP; a STATE sent outside STARTUP has no STARTUP flag.
    StartupSignalling,
    /// \[S21\] (§8.4.2): PARTNER-DOWN takes no transition on a STATE with the STARTUP flag.
    PartnerDownIgnoresStartup,
    /// \[S24\] (§8.10.2): POTENTIAL-CONFLICT is left only on UPDDONE (the primary to
    /// CONFLICT-DONE, the secondary to NORMAL) or on a comms failure (RESOLUTION-INTERRUPTED).
    PotentialConflictExit,
    /// \[S32\] (§7.5.4, Figure 4, the project's causal reading): a partner's BNDUPD does not
    /// take a lease from the client that holds it, unexpired, in the receiver's settled (not
    /// pending) record.
    SettledLeaseKept,
    /// \[I1\] [`Endpoint::check_invariants`] holds after the step.
    Invariants,
}

/// A failed step check.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Violation {
    /// Which check.
    pub check: Check,
    /// What was wrong, in words.
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.check, self.detail)
    }
}

/// One step carried out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Every output, in order, exactly as the core returned them (what a trace records). The
    /// `Persist` writes among them are already in the image.
    pub outputs: Vec<Output>,
    /// The step checks that failed, in the order they were found (empty for a correct core).
    pub violations: Vec<Violation>,
}

impl Step {
    /// The outputs that are the caller's to deliver, in order: everything but the `Persist`
    /// writes (already applied to the image).
    pub fn effects(self) -> impl Iterator<Item = Output> {
        self.outputs.into_iter().filter(|o| !matches!(o, Output::Persist(_)))
    }

    /// The violations as one line each (for a panic or an error message).
    #[must_use]
    pub fn violations_text(&self) -> String {
        self.violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    }
}

/// Restores an endpoint from `image` at `now` ([`Endpoint::restore`]), carries out the restore
/// outputs against the image and checks them.
#[must_use]
pub fn restore(config: Config, image: &mut DurableImage, now: Time) -> (Endpoint, Step) {
    let (ep, outputs) = Endpoint::restore(config, image, now);
    let mut step = Step::default();
    carry_out(&ep, image, now, &Before::default(), outputs, &mut step);
    (ep, step)
}

/// [`restore`] for a caller that has no further use for its image: the image is moved into
/// the endpoint ([`Endpoint::restore_owned`]) and a fresh one, equal to it, is returned for
/// the writes that follow. Same result as [`restore`].
#[must_use]
pub fn restore_owned(
    config: Config,
    image: DurableImage,
    now: Time,
) -> (Endpoint, DurableImage, Step) {
    let mut kept = image.clone();
    let (ep, outputs) = Endpoint::restore_owned(config, image, now);
    let mut step = Step::default();
    carry_out(&ep, &mut kept, now, &Before::default(), outputs, &mut step);
    (ep, kept, step)
}

/// Feeds `input` to `ep` at `now`, carries out the outputs against `image` in order and
/// performs the step checks.
pub fn step(ep: &mut Endpoint, image: &mut DurableImage, now: Time, input: Input) -> Step {
    let before = Before::of(ep, &input, now);
    let outputs = ep.handle(now, input);
    let mut step = Step::default();
    carry_out(ep, image, now, &before, outputs, &mut step);
    step
}

/// What the checks need from before the step.
#[derive(Default)]
struct Before {
    /// The state before the step (`None` for a restore).
    pre: Option<EndpointState>,
    /// The endpoint had a connection (of any phase) before the step.
    connected: bool,
    bndupd_xid: Option<u32>,
    startup_state: bool,
    upddone: bool,
    /// S32: the leases the input BNDUPD names that the receiver holds ACTIVE, unexpired, for a
    /// client, with no change of its own pending; and that client.
    settled_live: Vec<(Resource, ClientKey)>,
}

impl Before {
    fn of(ep: &Endpoint, input: &Input, now: Time) -> Before {
        let mut b = Before {
            pre: Some(ep.state()),
            connected: ep.conn_phase() != ConnPhase::Down,
            ..Before::default()
        };
        if let Input::Partner(m) = input {
            match &m.body {
                MessageBody::State(st) => b.startup_state = st.flags.is_some_and(|f| f.startup),
                MessageBody::UpdDone(_) => b.upddone = true,
                MessageBody::BndUpd(bm) => {
                    b.bndupd_xid = Some(m.xid);
                    if let Some(BindingPayload::Client(cd)) = &bm.payload {
                        b.settled_live = cd
                            .ias
                            .iter()
                            .flat_map(|ia| &ia.leases)
                            .filter_map(|l| ep.binding(&l.resource))
                            .filter(|b| {
                                b.status == BindingStatus::Active
                                    && !b.pending
                                    && now < b.state_expiration_time.unwrap_or(b.client_expiry)
                            })
                            .filter_map(|b| b.client.clone().map(|c| (b.resource, c)))
                            .collect();
                    }
                }
                _ => {}
            }
        }
        b
    }
}

fn carry_out(
    ep: &Endpoint,
    image: &mut DurableImage,
    now: Time,
    before: &Before,
    outputs: Vec<Output>,
    step: &mut Step,
) {
    let mut fail = |check: Check, detail: String| step.violations.push(Violation { check, detail });
    let role = ep.role();
    let pre = before.pre;
    let post = ep.state();
    let mut bndreplies = 0usize;
    let mut closes = false;
    for o in &outputs {
        match o {
            Output::Persist(w) => image.apply(w),
            Output::Reply(r) if r.kind == ReplyKind::Reply => {
                for ia in &r.ias {
                    for l in ia.leases.iter().filter(|l| l.valid_lifetime > 0) {
                        let ok = image.bindings.get(&l.resource).is_some_and(|b| {
                            b.status == BindingStatus::Active
                                && b.client.as_ref().is_some_and(|k| {
                                    Some(&k.duid) == r.client_id.as_ref()
                                        && k.kind == ia.kind
                                        && k.iaid == ia.iaid
                                })
                                && b.client_expiry >= now.plus(l.valid_lifetime)
                        });
                        if !ok {
                            fail(
                                Check::GrantDurable,
                                format!(
                                    "REPLY (tag {}) grants {} for {} s before it is durable",
                                    r.tag, l.resource, l.valid_lifetime
                                ),
                            );
                        }
                    }
                }
            }
            Output::Send(m) => match &m.body {
                MessageBody::BndReply(bm) => {
                    if before.bndupd_xid == Some(m.xid) {
                        bndreplies += 1;
                    }
                    if !acked_is_durable(image, bm) {
                        fail(
                            Check::AckDurable,
                            format!("BNDREPLY (xid {}) acks what is not durable", m.xid),
                        );
                    }
                }
                MessageBody::Connect(_) if role == Role::Secondary => {
                    fail(Check::ConnectionRoles, "the secondary sent CONNECT".into());
                }
                MessageBody::ConnectReply(_) if role == Role::Primary => {
                    fail(Check::ConnectionRoles, "the primary sent CONNECTREPLY".into());
                }
                MessageBody::State(st) => {
                    if let Some(pre) = pre {
                        let s_flag = st.flags.is_some_and(|f| f.startup);
                        let in_startup =
                            pre == EndpointState::Startup && post == EndpointState::Startup;
                        let out_of_startup =
                            pre != EndpointState::Startup && post != EndpointState::Startup;
                        if (in_startup
                            && (!s_flag || st.server_state == Some(EndpointState::Startup)))
                            || (out_of_startup && s_flag)
                        {
                            fail(
                                Check::StartupSignalling,
                                format!(
                                    "STATE with S={} and state {:?} sent in {} -> {}",
                                    u8::from(s_flag),
                                    st.server_state,
                                    pre,
                                    post
                                ),
                            );
                        }
                    }
                }
                _ => {}
            },
            Output::Disconnect => closes = true,
            _ => {}
        }
    }
    if let Some(xid) = before.bndupd_xid {
        if bndreplies != 1 && !closes && before.connected {
            fail(
                Check::UpdateAnswered,
                format!("BNDUPD (xid {xid}) answered by {bndreplies} BNDREPLY"),
            );
        }
    }
    if before.settled_live.iter().any(|(r, holder)| {
        ep.binding(r)
            .is_some_and(|b| b.status == BindingStatus::Active && b.client.as_ref() != Some(holder))
    }) {
        fail(
            Check::SettledLeaseKept,
            "a BNDUPD gave a settled live lease to another client".into(),
        );
    }
    if let Some(pre) = pre.filter(|&p| p != post) {
        if post != EndpointState::Startup && image.state.as_ref().map(|r| r.state) != Some(post) {
            fail(Check::TransitionDurable, format!("{pre} -> {post} is not on stable storage"));
        }
        if pre == EndpointState::PartnerDown && before.startup_state {
            fail(
                Check::PartnerDownIgnoresStartup,
                format!("PARTNER-DOWN -> {post} on a STATE with the STARTUP flag"),
            );
        }
        if pre == EndpointState::PotentialConflict {
            let ok = match post {
                EndpointState::ResolutionInterrupted => true,
                EndpointState::ConflictDone => role == Role::Primary && before.upddone,
                EndpointState::Normal => role == Role::Secondary && before.upddone,
                _ => false,
            };
            if !ok {
                fail(Check::PotentialConflictExit, format!("POTENTIAL-CONFLICT -> {post}"));
            }
        }
    }
    if let Err(e) = ep.check_invariants() {
        fail(Check::Invariants, e);
    }
    step.outputs = outputs;
}

/// S5: every binding a BNDREPLY accepts is in `image`, with at least the partner lifetime the
/// reply acknowledges as its expiration time.
fn acked_is_durable(image: &DurableImage, bm: &BindingMessage) -> bool {
    let ok = |s: &Option<Status>| s.as_ref().is_none_or(|s| s.code.0 == 0);
    if !ok(&bm.status) {
        return true;
    }
    let mut leases = Vec::new();
    match &bm.payload {
        Some(BindingPayload::Client(cd)) => {
            if !ok(&cd.status) {
                return true;
            }
            for ia in cd.ias.iter().filter(|ia| ok(&ia.status)) {
                leases.extend(ia.leases.iter().filter(|l| ok(&l.options.status)));
            }
        }
        Some(BindingPayload::Prefix(p)) if ok(&p.lease.options.status) => leases.push(&p.lease),
        _ => {}
    }
    leases.iter().all(|l| {
        image.bindings.get(&l.resource).is_some_and(|b| {
            l.options.partner_lifetime_sent.is_none_or(|pls| b.expiration_time >= pls)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::client::{ClientMsgKind, ClientRequest, IaRequest};
    use crate::{Duid, IaKind};

    /// A lone primary commissioned into PARTNER-DOWN (it answers and allocates), with the
    /// image its writes left.
    fn serving() -> (Endpoint, DurableImage, Time) {
        let mut cfg = Config::example(Role::Primary);
        cfg.startup_partner_down_if_alone = true;
        let mut image = DurableImage::default();
        let now = Time(10_000);
        let (mut ep, first) = restore(cfg, &mut image, now);
        assert!(first.violations.is_empty(), "{}", first.violations_text());
        let at = ep.next_deadline().expect("STARTUP is timed");
        let s = step(&mut ep, &mut image, at, Input::Timeout);
        assert!(s.violations.is_empty(), "{}", s.violations_text());
        assert_eq!(ep.state(), EndpointState::PartnerDown);
        (ep, image, at)
    }

    fn solicit_rapid() -> Input {
        Input::Client(ClientRequest {
            tag: 7,
            kind: ClientMsgKind::Solicit,
            client_id: Some(Duid::new(vec![0, 3, 0, 1, 0xc1])),
            server_id: None,
            rapid_commit: true,
            ias: vec![IaRequest { kind: IaKind::Na, iaid: 1, leases: Vec::new() }],
            link_address: None,
            unicast: false,
            oro: Vec::new(),
        })
    }

    /// The executor applies a step's writes before it judges the reply that follows them.
    #[test]
    fn a_grant_is_judged_against_the_image_its_writes_made() {
        let (mut ep, mut image, now) = serving();
        let s = step(&mut ep, &mut image, now, solicit_rapid());
        assert!(s.violations.is_empty(), "{}", s.violations_text());
        assert!(s
            .outputs
            .iter()
            .any(|o| matches!(o, Output::Reply(r) if r.kind == ReplyKind::Reply)));
        let effects: Vec<Output> = s.clone().effects().collect();
        assert!(effects.iter().all(|o| !matches!(o, Output::Persist(_))));
        assert_eq!(
            effects.len(),
            s.outputs.iter().filter(|o| !matches!(o, Output::Persist(_))).count()
        );
        assert!(!image.bindings.is_empty(), "the grant is in the image");
    }

    /// A REPLY whose write comes after it (or never) breaks GrantDurable; a write moved after
    /// the reply is caught as well as one dropped.
    #[test]
    fn a_reply_before_its_write_is_flagged() {
        let (mut ep, image, now) = serving();
        let before = Before::of(&ep, &solicit_rapid(), now);
        let outputs = ep.handle(now, solicit_rapid());
        let (writes, rest): (Vec<Output>, Vec<Output>) =
            outputs.into_iter().partition(|o| matches!(o, Output::Persist(_)));
        assert!(!writes.is_empty());
        for reordered in [rest.clone(), rest.iter().cloned().chain(writes).collect()] {
            let mut img = image.clone();
            let mut s = Step::default();
            carry_out(&ep, &mut img, now, &before, reordered, &mut s);
            assert!(
                s.violations.iter().any(|v| v.check == Check::GrantDurable),
                "{:?}",
                s.violations
            );
        }
    }

    /// A change of state judged against an image that does not hold it breaks
    /// TransitionDurable; against the image its write made, nothing is reported.
    #[test]
    fn a_transition_not_written_is_flagged() {
        let (ep, image, now) = serving();
        // The step that ended STARTUP moved the endpoint to PARTNER-DOWN and wrote it.
        let mut before = Before::of(&ep, &Input::ConnectionDown, now);
        before.pre = Some(EndpointState::Startup);
        let mut s = Step::default();
        carry_out(&ep, &mut DurableImage::default(), now, &before, Vec::new(), &mut s);
        let checks: Vec<Check> = s.violations.iter().map(|v| v.check).collect();
        assert_eq!(checks, vec![Check::TransitionDurable]);
        let mut s = Step::default();
        carry_out(&ep, &mut image.clone(), now, &before, Vec::new(), &mut s);
        assert!(s.violations.is_empty(), "{:?}", s.violations);
    }

    /// A BNDUPD that came over a connection and got no BNDREPLY breaks UpdateAnswered; one that
    /// arrived after this side had closed (nothing to answer on) does not.
    #[test]
    fn an_unanswered_update_is_flagged_only_over_a_connection() {
        let (ep, image, now) = serving();
        for (connected, flagged) in [(true, true), (false, false)] {
            let before = Before {
                pre: Some(ep.state()),
                connected,
                bndupd_xid: Some(9),
                ..Before::default()
            };
            let mut s = Step::default();
            carry_out(&ep, &mut image.clone(), now, &before, Vec::new(), &mut s);
            let checks: Vec<Check> = s.violations.iter().map(|v| v.check).collect();
            assert_eq!(checks.contains(&Check::UpdateAnswered), flagged, "{checks:?}");
        }
    }
}
