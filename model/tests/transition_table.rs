//! The endpoint state machine of RFC 8156 §8 as a table: every (own state, partner state,
//! role) for the comms-OK event, every own state for the comms-failed event, and the operator
//! and timer events, each row citing its section. The test checks the table is complete (every
//! triple is covered by exactly one row) and that `failover_model::failover::state` agrees with it.

use failover_model::failover::state::{
    on_comms_failed, on_partner_state, responsiveness, startup_apply_comms_failed,
    startup_on_comms_ok, startup_previous_state, Responsiveness, ALL_STATES,
};
use failover_model::{EndpointState as S, Role, Time};

/// Which roles a row applies to.
#[derive(Clone, Copy, PartialEq)]
enum R {
    Both,
    P,
    Sec,
}

/// (own, partner states, roles, expected next state (None = stay), section).
type Row = (S, &'static [S], R, Option<S>, &'static str);

use S::*;

const ANY_BUT_STARTUP: &[S] = &[
    Normal,
    CommunicationsInterrupted,
    PartnerDown,
    PotentialConflict,
    Recover,
    RecoverWait,
    RecoverDone,
    ResolutionInterrupted,
    ConflictDone,
];

/// The comms-OK table. STATE messages carrying the STARTUP flag are filtered before this
/// table (§8.4.2, digest §11.3 item 9); a partner state of STARTUP is never on the wire
/// (§5.5.17), and every own state ignores it.
const COMM_OK: &[Row] = &[
    (Startup, ANY_BUT_STARTUP, R::Both, None, "§8.3.2 (STARTUP leaves by its own algorithm)"),
    (Normal, &[Normal, CommunicationsInterrupted, RecoverDone], R::Both, None, "§8.8.2"),
    (Normal, &[ConflictDone], R::Sec, None, "§8.12.2 (the primary waits for our NORMAL)"),
    (Normal, &[ConflictDone], R::P, Some(PotentialConflict), "§8.8.2 → §8.9.2"),
    (
        Normal,
        &[PartnerDown, PotentialConflict, ResolutionInterrupted],
        R::Both,
        Some(PotentialConflict),
        "§8.8.2 → §8.9.2",
    ),
    (Normal, &[Recover, RecoverWait], R::Both, Some(CommunicationsInterrupted), "§8.8.2 → §8.9.2"),
    (
        CommunicationsInterrupted,
        &[Normal, CommunicationsInterrupted, RecoverDone],
        R::Both,
        Some(Normal),
        "§8.9.2",
    ),
    (
        CommunicationsInterrupted,
        &[Recover, RecoverWait],
        R::Both,
        None,
        "§8.9.2 (RECOVER-WAIT as RECOVER)",
    ),
    (
        CommunicationsInterrupted,
        &[PartnerDown, PotentialConflict, ConflictDone, ResolutionInterrupted],
        R::Both,
        Some(PotentialConflict),
        "§8.9.2",
    ),
    (PartnerDown, &[Recover, RecoverWait], R::Both, None, "§8.4.2"),
    (PartnerDown, &[RecoverDone], R::Both, Some(Normal), "§8.4.2"),
    (
        PartnerDown,
        &[
            Normal,
            CommunicationsInterrupted,
            PartnerDown,
            PotentialConflict,
            ResolutionInterrupted,
            ConflictDone,
        ],
        R::Both,
        Some(PotentialConflict),
        "§8.4.2",
    ),
    (
        Recover,
        &[PotentialConflict, ResolutionInterrupted, ConflictDone],
        R::Both,
        Some(PotentialConflict),
        "§8.5.2",
    ),
    (
        Recover,
        &[Normal, CommunicationsInterrupted, PartnerDown, Recover, RecoverWait, RecoverDone],
        R::Both,
        None,
        "§8.5.2 (send UPDREQ/UPDREQALL)",
    ),
    (RecoverWait, ANY_BUT_STARTUP, R::Both, None, "§8.6.2 (waits for its timer)"),
    (RecoverDone, &[Normal, RecoverDone], R::Both, Some(Normal), "§8.7.2"),
    (RecoverDone, &[Recover, RecoverWait], R::Both, Some(CommunicationsInterrupted), "§8.7.2"),
    (RecoverDone, &[PotentialConflict], R::Both, Some(PotentialConflict), "§8.7.2"),
    (
        RecoverDone,
        &[CommunicationsInterrupted, PartnerDown, ResolutionInterrupted, ConflictDone],
        R::Both,
        None,
        "§8.7.2 (the partner moves first)",
    ),
    (PotentialConflict, ANY_BUT_STARTUP, R::Both, None, "§8.10.2 (leaves on UPDDONE only)"),
    (ResolutionInterrupted, ANY_BUT_STARTUP, R::Both, Some(PotentialConflict), "§8.11.2"),
    (ConflictDone, &[Normal], R::Both, Some(Normal), "§8.12.2"),
    (
        ConflictDone,
        &[
            CommunicationsInterrupted,
            PartnerDown,
            PotentialConflict,
            Recover,
            RecoverWait,
            RecoverDone,
            ResolutionInterrupted,
            ConflictDone,
        ],
        R::Both,
        None,
        "§8.12.2",
    ),
];

fn applies(r: R, role: Role) -> bool {
    match r {
        R::Both => true,
        R::P => role == Role::Primary,
        R::Sec => role == Role::Secondary,
    }
}

#[test]
fn comm_ok_table_is_complete_and_matches() {
    let mut covered = 0;
    for own in ALL_STATES {
        for partner in ALL_STATES {
            for role in [Role::Primary, Role::Secondary] {
                let rows: Vec<&Row> = COMM_OK
                    .iter()
                    .filter(|(o, ps, r, _, _)| {
                        *o == own && ps.contains(&partner) && applies(*r, role)
                    })
                    .collect();
                if partner == Startup {
                    assert!(rows.is_empty());
                    assert_eq!(on_partner_state(own, role, partner), None, "{own} ignores STARTUP");
                    continue;
                }
                assert_eq!(
                    rows.len(),
                    1,
                    "({own}, {partner}, {role:?}) must be covered exactly once"
                );
                let (_, _, _, expected, section) = rows[0];
                assert_eq!(
                    on_partner_state(own, role, partner),
                    *expected,
                    "({own}, partner {partner}, {role:?}) per {section}"
                );
                covered += 1;
            }
        }
    }
    assert_eq!(covered, 10 * 9 * 2);
}

/// (own, expected next on comms failure, section).
const COMMS_FAILED: &[(S, Option<S>, &str)] = &[
    (Startup, None, "§8.3.2"),
    (Normal, Some(CommunicationsInterrupted), "§8.8.2"),
    (CommunicationsInterrupted, None, "§8.9.2"),
    (PartnerDown, None, "§8.4.2"),
    (PotentialConflict, Some(ResolutionInterrupted), "§8.10.2"),
    (Recover, None, "§8.5.2 (reissue UPDREQ after reconnecting)"),
    (RecoverWait, None, "§8.6.2 (the timer runs even if comms are down)"),
    (RecoverDone, None, "§8.7.2"),
    (ResolutionInterrupted, None, "§8.11.2"),
    (ConflictDone, None, "§8.12.2"),
];

#[test]
fn comms_failed_table() {
    assert_eq!(COMMS_FAILED.len(), ALL_STATES.len());
    for (own, expected, section) in COMMS_FAILED {
        assert_eq!(on_comms_failed(*own), *expected, "{own} per {section}");
    }
}

/// §3 and §8.x.1: responsiveness per state and role.
#[test]
fn responsiveness_table() {
    use Responsiveness::*;
    let rows: &[(S, Responsiveness, Responsiveness, &str)] = &[
        (Startup, Unresponsive, Unresponsive, "§8.3.1"),
        (Normal, Responsive, RenewResponsive, "§8.8.1"),
        (CommunicationsInterrupted, Responsive, Responsive, "§8.9.1"),
        (PartnerDown, Responsive, Responsive, "§8.4.1"),
        (PotentialConflict, Unresponsive, Unresponsive, "§8.10.1"),
        (Recover, Unresponsive, Unresponsive, "§8.5.1"),
        (RecoverWait, Unresponsive, Unresponsive, "§8.6.1"),
        (RecoverDone, RenewResponsive, RenewResponsive, "§8.7.1 (text over Figure 6)"),
        (ResolutionInterrupted, Responsive, Responsive, "§8.11.1"),
        (ConflictDone, Responsive, Responsive, "§8.12.1"),
    ];
    assert_eq!(rows.len(), 10);
    for (s, p, sec, section) in rows {
        assert_eq!(responsiveness(*s, Role::Primary), *p, "primary in {s} per {section}");
        assert_eq!(responsiveness(*s, Role::Secondary), *sec, "secondary in {s} per {section}");
    }
}

/// §8.3.2 step 1: PREVIOUS-STATE from storage; RECOVER without a record.
#[test]
fn startup_step_1_previous_state() {
    assert_eq!(startup_previous_state(None), Recover);
    for s in ANY_BUT_STARTUP {
        assert_eq!(startup_previous_state(Some(*s)), *s);
    }
}

/// §8.3.2 step 2: comms-OK states are replaced by their comms-failed successors.
#[test]
fn startup_step_2_comms_failed_transition() {
    assert_eq!(startup_apply_comms_failed(Normal), CommunicationsInterrupted);
    assert_eq!(startup_apply_comms_failed(PotentialConflict), ResolutionInterrupted);
    for s in [
        CommunicationsInterrupted,
        PartnerDown,
        Recover,
        RecoverWait,
        RecoverDone,
        ResolutionInterrupted,
        ConflictDone,
    ] {
        assert_eq!(startup_apply_comms_failed(s), s);
    }
}

/// §8.3.2 step 5: the PARTNER-DOWN exception.
#[test]
fn startup_step_5_partner_down_exception() {
    // The partner entered PD after we stopped: RECOVER.
    assert_eq!(
        startup_on_comms_ok(CommunicationsInterrupted, PartnerDown, Time(200), Time(100)),
        Recover
    );
    // It entered PD while we were still running: POTENTIAL-CONFLICT.
    assert_eq!(
        startup_on_comms_ok(CommunicationsInterrupted, PartnerDown, Time(50), Time(100)),
        PotentialConflict
    );
    // A server that had not finished recovering served nobody since: RECOVER, whatever the
    // times say (else a crash in RECOVER-WAIT would skip the §8.6.2 hold; our reading).
    for previous in [Recover, RecoverWait] {
        assert_eq!(startup_on_comms_ok(previous, PartnerDown, Time(50), Time(100)), Recover);
        assert_eq!(startup_on_comms_ok(previous, PartnerDown, Time(200), Time(100)), Recover);
    }
    // RECOVER-DONE had served its hold: the RFC's comparison applies.
    assert_eq!(
        startup_on_comms_ok(RecoverDone, PartnerDown, Time(50), Time(100)),
        PotentialConflict
    );
    // Otherwise PREVIOUS-STATE.
    assert_eq!(
        startup_on_comms_ok(CommunicationsInterrupted, Normal, Time(50), Time(100)),
        CommunicationsInterrupted
    );
}

mod endpoint_steps {
    use failover_model::io::{DurableImage, StateRecord};
    use failover_model::{Config, Endpoint, EndpointState as S, Input, Output, Role, Time, Timer};

    fn image_with(state: S) -> DurableImage {
        DurableImage {
            state: Some(StateRecord {
                state,
                start_time_of_state: Time(500),
                partner_state: Some(S::Normal),
                partner_state_start: Time(400),
                partner_down_time: if state == S::PartnerDown { Time(500) } else { Time(0) },
                last_operating_time: Time(900),
                time_of_failure: Time(0),
                mclt: 3600,
                communicated: true,
                partner_communicated: true,
                recovering_all: false,
            }),
            bindings: Default::default(),
        }
    }

    /// A stored image with records no write of ours produces is repaired at restore, never
    /// trusted into a broken endpoint.
    #[test]
    fn restore_repairs_an_inconsistent_image() {
        use failover_model::{Binding, BindingStatus, Resource};
        let mut image = image_with(S::Startup);
        let a =
            Resource::Address("2001:db8:1::101".parse().unwrap_or(std::net::Ipv6Addr::LOCALHOST));
        let b =
            Resource::Address("2001:db8:1::102".parse().unwrap_or(std::net::Ipv6Addr::LOCALHOST));
        let mut active = Binding::free(a, BindingStatus::Active, Time(10));
        active.client_expiry = Time(5000);
        image.bindings.insert(a, active);
        image.bindings.insert(b, Binding::free(b, BindingStatus::PendingFree, Time(10)));
        // A record filed under the wrong key.
        image.bindings.insert(
            Resource::Address(std::net::Ipv6Addr::LOCALHOST),
            Binding::free(b, BindingStatus::Free, Time(1)),
        );
        let (ep, out) = Endpoint::restore(Config::example(Role::Primary), &image, Time(1000));
        assert_eq!(ep.check_invariants(), Ok(()));
        assert_eq!(ep.binding(&a).map(|x| x.status), Some(BindingStatus::Abandoned));
        assert_eq!(ep.binding(&b).map(|x| x.status), Some(BindingStatus::FreeBackup));
        assert!(out.iter().any(|o| matches!(o, Output::Event(failover_model::Event::Alarm(_)))));
    }

    /// A new connection replaces the live one only with a CONNECT this secondary would accept
    /// (docs/design.md "A second connection"); a primary accepts none.
    #[test]
    fn only_an_acceptable_connect_replaces_the_live_connection() {
        use failover_model::failover::message::{
            ConnectOptions, DisconnectOptions, Message, MessageBody, NoOptions,
            CONNECT_FLAG_FIXED_PD_LENGTH,
        };
        let now = Time(1000);
        let (s, _) = Endpoint::new(Config::example(Role::Secondary), now);
        let good = ConnectOptions {
            protocol_version: Some((1, 0)),
            mclt: Some(3600),
            keepalive_time: Some(60),
            max_unacked_bndupd: Some(10),
            connect_flags: Some(CONNECT_FLAG_FIXED_PD_LENGTH),
            ..ConnectOptions::default()
        };
        let m = |sent_time, body| Message { xid: 1, sent_time, body };
        assert_eq!(
            s.may_replace_connection(now, &m(now, MessageBody::Connect(good.clone()))),
            Ok(())
        );
        for bad in [
            m(now, MessageBody::Contact(NoOptions::default())),
            m(now, MessageBody::StartTls(DisconnectOptions::default())),
            m(Time(990), MessageBody::Connect(good.clone())),
            m(now, MessageBody::Connect(ConnectOptions { mclt: None, ..good.clone() })),
            m(
                now,
                MessageBody::Connect(ConnectOptions {
                    protocol_version: Some((2, 0)),
                    ..good.clone()
                }),
            ),
            m(now, MessageBody::Connect(ConnectOptions { connect_flags: None, ..good.clone() })),
        ] {
            assert!(s.may_replace_connection(now, &bad).is_err(), "{bad:?}");
        }
        let (p, _) = Endpoint::new(Config::example(Role::Primary), now);
        assert!(p.may_replace_connection(now, &m(now, MessageBody::Connect(good))).is_err());
    }

    /// RFC 7653 §9.1: a secondary without TLS answers STARTTLS with a REPLY carrying
    /// TLSConnectionRefused and the STARTTLS's transaction-id, and closes. The STARTTLS of the
    /// 4-octet framing has no sent-time (decoded as 0): no skew is measured on it.
    #[test]
    fn starttls_refused_without_tls() {
        use failover_model::failover::message::{
            DisconnectOptions, Message, MessageBody, StatusCode,
        };
        let now = Time(1000);
        for sent_time in [Time(0), now] {
            let (mut s, _) = Endpoint::new(Config::example(Role::Secondary), now);
            s.handle(now, Input::ConnectionUp);
            let body = MessageBody::StartTls(DisconnectOptions::default());
            let out = s.handle(now, Input::Partner(Message { xid: 0x0a_0b0c, sent_time, body }));
            let refused = out.iter().any(|o| {
                matches!(o, Output::Send(Message { xid: 0x0a_0b0c, body: MessageBody::StartTlsReply(d), .. })
                if d.status.as_ref().map(|s| s.code) == Some(StatusCode::TLS_CONNECTION_REFUSED))
            });
            assert!(refused, "{out:?}");
            assert!(out.contains(&Output::Disconnect));
            assert!(!out
                .iter()
                .any(|o| matches!(o, Output::Event(failover_model::Event::Skew(_)))));
        }
    }

    /// §8.3.2 steps 3 and 4: the STARTUP timer is armed; the primary asks to connect, the
    /// secondary does not (it listens). Nothing is answered meanwhile (§8.3.1).
    #[test]
    fn startup_steps_3_and_4() {
        let now = Time(1000);
        let (p, out) =
            Endpoint::restore(Config::example(Role::Primary), &image_with(S::Normal), now);
        assert_eq!(p.state(), S::Startup);
        assert_eq!(p.timers().get(&Timer::Startup), Some(&now.plus(10)));
        assert!(p.next_deadline().is_some_and(|d| d <= now.plus(10)));
        assert!(
            out.iter().all(|o| matches!(o, Output::Connect | Output::Event(_))),
            "timers are not outputs: {out:?}"
        );
        assert!(out.contains(&Output::Connect));
        let (s, out) =
            Endpoint::restore(Config::example(Role::Secondary), &image_with(S::Normal), now);
        assert_eq!(s.state(), S::Startup);
        assert!(!out.contains(&Output::Connect));
        assert!(out.iter().all(|o| !matches!(o, Output::Persist(_))), "STARTUP is not recorded");
    }

    /// §8.3.2 step 6: when the STARTUP timer fires first, go to PREVIOUS-STATE (after step 2);
    /// with no record and the commissioning option, PARTNER-DOWN.
    #[test]
    fn startup_step_6_timer() {
        let now = Time(1000);
        for (recorded, expected) in [
            (S::Normal, S::CommunicationsInterrupted),
            (S::PotentialConflict, S::ResolutionInterrupted),
            (S::PartnerDown, S::PartnerDown),
            (S::Recover, S::Recover),
            (S::RecoverDone, S::RecoverDone),
        ] {
            let (mut ep, _) =
                Endpoint::restore(Config::example(Role::Secondary), &image_with(recorded), now);
            let early = ep.handle(now.plus(5), Input::Timer(Timer::Startup));
            assert!(early.is_empty() || ep.state() == S::Startup, "a timer never fires early");
            assert_eq!(ep.state(), S::Startup);
            let out = ep.handle(now.plus(10), Input::Timer(Timer::Startup));
            assert_eq!(ep.state(), expected, "from recorded {recorded}");
            assert!(
                out.iter().any(|o| matches!(o, Output::Persist(_))),
                "transition persisted (§8.1)"
            );
        }
        // PD resumed keeps its entry time (the partner's step 5 compares it).
        let (mut ep, _) =
            Endpoint::restore(Config::example(Role::Secondary), &image_with(S::PartnerDown), now);
        ep.handle(now.plus(10), Input::Timer(Timer::Startup));
        assert_eq!(ep.partner_down_since(), Some(Time(500)));
        // Empty storage: RECOVER, or PARTNER-DOWN with the commissioning option.
        let (mut ep, _) = Endpoint::new(Config::example(Role::Primary), now);
        ep.handle(now.plus(10), Input::Timer(Timer::Startup));
        assert_eq!(ep.state(), S::Recover);
        let mut cfg = Config::example(Role::Primary);
        cfg.startup_partner_down_if_alone = true;
        let (mut ep, _) = Endpoint::new(cfg, now);
        ep.handle(now.plus(10), Input::Timer(Timer::Startup));
        assert_eq!(ep.state(), S::PartnerDown);
    }
}
