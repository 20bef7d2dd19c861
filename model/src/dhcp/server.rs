//! The server side of DHCPv6 (RFC 8415 §18.3) as pure decisions on abstract client requests,
//! under the failover rules: responsiveness by state (RFC 8156 §8), pool ownership (§4.2),
//! the MCLT (§4.4) and re-allocation waits (§4.2.2.1). Which resource and which lifetimes
//! are [`crate::leases::allocation`]'s; this module answers the client.

use crate::dhcp::client::{
    ClientMsgKind, ClientReply, ClientRequest, DhcpStatus, GrantedLease, IaReply, ReplyKind,
    RequestedLease, SilenceReason,
};
use crate::failover::state::{self, EndpointState, Responsiveness};
use crate::leases::allocation::{is_unspecified, Leases, Standing};
use crate::leases::binding::{Binding, BindingStatus};
use crate::resource::{ClientKey, Duid, IaKind, Resource};
use crate::sink::Sink;
use crate::time::Time;
use std::collections::BTreeSet;

/// The DHCPv6 server of one endpoint for one request: it owns nothing, and works on the
/// endpoint's leases where the endpoint stands.
pub(crate) struct Server<'a> {
    /// Where the endpoint stands (state, role, MCLT).
    pub(crate) st: Standing<'a>,
    /// The endpoint's leases.
    pub(crate) leases: &'a mut Leases,
    /// The resources carried by outstanding BNDUPDs (for a seeded bug only).
    pub(crate) in_flight: &'a BTreeSet<Resource>,
    /// A planned shutdown was commanded: no client is answered.
    pub(crate) shut_down: bool,
}

/// What a request did to the leases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answered {
    /// Nothing changed that the partner must learn.
    Only,
    /// Leases changed: lazy updates may go now (§4.3).
    Changed,
}

impl Server<'_> {
    /// One client request.
    pub(crate) fn on_client(&mut self, now: Time, req: ClientRequest, sink: &mut Sink) -> Answered {
        if let Err(reason) = self.screen(&req) {
            sink.silence(req.tag, reason);
            return Answered::Only;
        }
        let mut reply = self.reply_to(&req, ReplyKind::Reply);
        if req.unicast {
            // RFC 8415 §18.4: we never send the Server Unicast option, so a unicast REQUEST,
            // RENEW, RELEASE or DECLINE (the others were screened out, §16) is answered with
            // UseMulticast and otherwise ignored.
            reply.status = Some(DhcpStatus::UseMulticast);
            sink.reply(reply);
            return Answered::Only;
        }
        if req.kind == ClientMsgKind::InformationRequest {
            // RFC 8415 §18.3.6: the configuration, no lease, with or without a client id (the
            // options do not depend on who asks). Bindings are untouched: nothing to update.
            self.configure(&req, &mut reply);
            sink.reply(reply);
            return Answered::Only;
        }
        let Some(duid) = req.client_id.clone() else {
            // Screened: every other message carries a client id.
            sink.silence(req.tag, SilenceReason::Invalid);
            return Answered::Only;
        };
        match req.kind {
            ClientMsgKind::Solicit => self.on_solicit(now, &req, &duid, reply, sink),
            ClientMsgKind::Request => self.on_request(now, &req, &duid, reply, sink),
            ClientMsgKind::Renew | ClientMsgKind::Rebind => {
                self.on_renew(now, &req, &duid, reply, sink)
            }
            ClientMsgKind::Release => {
                self.on_release(now, &req, &duid, reply, BindingStatus::Released, sink)
            }
            ClientMsgKind::Decline => {
                self.on_release(now, &req, &duid, reply, BindingStatus::Abandoned, sink)
            }
            ClientMsgKind::Confirm => {
                self.on_confirm(&req, reply, sink);
                Answered::Only
            }
            ClientMsgKind::InformationRequest => Answered::Only, // answered above
        }
    }

    /// RFC 8415 §16 validity and RFC 8156 responsiveness (§3, §8.x.1).
    fn screen(&self, req: &ClientRequest) -> Result<(), SilenceReason> {
        use ClientMsgKind::*;
        if self.shut_down {
            return Err(SilenceReason::Unresponsive);
        }
        let resp = state::responsiveness(self.st.state, self.st.role());
        if resp == Responsiveness::Unresponsive {
            return Err(SilenceReason::Unresponsive);
        }
        let valid = match req.kind {
            Solicit | Rebind | Confirm => req.client_id.is_some() && req.server_id.is_none(),
            Request | Renew | Release | Decline => {
                req.client_id.is_some() && req.server_id.is_some()
            }
            // RFC 8415 §16.12: see below.
            InformationRequest => true,
        };
        if !valid || req.client_id.as_ref().is_some_and(|d| d.0.is_empty()) {
            return Err(SilenceReason::Invalid);
        }
        if req.unicast && matches!(req.kind, Solicit | Rebind | Confirm | InformationRequest) {
            // RFC 8415 §16: discarded when received at a unicast address (relays aside).
            return Err(SilenceReason::Unicast);
        }
        if req.kind == InformationRequest && !req.ias.is_empty() {
            // RFC 8415 §16.12: an INFORMATION-REQUEST with an IA option is discarded (one with a
            // Server Identifier not ours is the OtherServer rule below).
            return Err(SilenceReason::Invalid);
        }
        let ours = &self.st.config.server_duid;
        if req.server_id.as_ref().is_some_and(|s| s != ours) {
            return Err(SilenceReason::OtherServer);
        }
        if resp == Responsiveness::RenewResponsive && req.server_id.as_ref() != Some(ours) {
            return Err(SilenceReason::NotAddressedToUs);
        }
        Ok(())
    }

    fn reply_to(&self, req: &ClientRequest, kind: ReplyKind) -> ClientReply {
        ClientReply {
            tag: req.tag,
            kind,
            client_id: req.client_id.clone(),
            server_id: self.st.config.server_duid.clone(),
            rapid_commit: false,
            status: None,
            ias: Vec::new(),
            preference: None,
            options: Vec::new(),
        }
    }

    /// The configuration options for a reply that carries configuration (SOLICIT, REQUEST,
    /// RENEW, REBIND, INFORMATION-REQUEST): [`crate::dhcp::options::Options::select`] on the client's ORO, once the
    /// reply's kind is known. Never called for a UseMulticast reply (RFC 8415 §18.4: "no other
    /// options").
    fn configure(&self, req: &ClientRequest, reply: &mut ClientReply) {
        reply.options = self.st.config.options.select(req.kind, reply.kind, &req.oro);
    }

    fn on_solicit(
        &mut self,
        now: Time,
        req: &ClientRequest,
        duid: &Duid,
        mut reply: ClientReply,
        sink: &mut Sink,
    ) -> Answered {
        // RFC 8415 §18.3.1: Rapid Commit answers a SOLICIT with a committed REPLY.
        let commit = req.rapid_commit && self.st.config.rapid_commit;
        reply.kind = if commit { ReplyKind::Reply } else { ReplyKind::Advertise };
        reply.rapid_commit = commit;
        if !commit {
            // RFC 8415 §21.8, §18.3.9: preference only in ADVERTISE.
            reply.preference = self.st.config.options.preference;
        }
        for ia in &req.ias {
            let key = ClientKey { duid: duid.clone(), kind: ia.kind, iaid: ia.iaid };
            let pick = if ia.kind == IaKind::Ta {
                None
            } else {
                self.leases.select(&self.st, now, &key, &ia.leases, self.in_flight)
            };
            let ia_reply = match pick {
                Some(r) => {
                    let lease = if commit {
                        self.leases.grant(&self.st, now, &key, r, sink)
                    } else {
                        self.leases.offer(&self.st, now, r)
                    };
                    ia_with(ia.kind, ia.iaid, vec![lease])
                }
                None => ia_status(ia.kind, ia.iaid, no_avail(ia.kind)),
            };
            reply.ias.push(ia_reply);
        }
        self.configure(req, &mut reply);
        sink.reply(reply);
        if commit {
            Answered::Changed
        } else {
            Answered::Only
        }
    }

    fn on_request(
        &mut self,
        now: Time,
        req: &ClientRequest,
        duid: &Duid,
        mut reply: ClientReply,
        sink: &mut Sink,
    ) -> Answered {
        for ia in &req.ias {
            let key = ClientKey { duid: duid.clone(), kind: ia.kind, iaid: ia.iaid };
            if ia.kind == IaKind::Ta {
                reply.ias.push(ia_status(ia.kind, ia.iaid, no_avail(ia.kind)));
                continue;
            }
            // The client's own leases first (a repeated REQUEST, or its previous lease).
            let own: Vec<Resource> = self
                .leases
                .db()
                .of_client(&key)
                .filter(|b| self.leases.usable_for(&self.st, now, b, &key, self.in_flight))
                .map(|b| b.resource)
                .collect();
            let picks = if own.is_empty() {
                self.leases
                    .select(&self.st, now, &key, &ia.leases, self.in_flight)
                    .into_iter()
                    .collect()
            } else {
                own
            };
            if picks.is_empty() {
                reply.ias.push(ia_status(ia.kind, ia.iaid, no_avail(ia.kind)));
                continue;
            }
            let leases = picks
                .into_iter()
                .map(|r| self.leases.grant(&self.st, now, &key, r, sink))
                .collect();
            reply.ias.push(ia_with(ia.kind, ia.iaid, leases));
        }
        self.configure(req, &mut reply);
        sink.reply(reply);
        Answered::Changed
    }

    fn on_renew(
        &mut self,
        now: Time,
        req: &ClientRequest,
        duid: &Duid,
        mut reply: ClientReply,
        sink: &mut Sink,
    ) -> Answered {
        // Not held back by `allocation_held`: taking on a client's own lease that we have no
        // record of gives nothing new away (after a storage loss that is exactly what we lost).
        let allocating = state::may_allocate(self.st.state, self.st.role());
        for ia in &req.ias {
            let key = ClientKey { duid: duid.clone(), kind: ia.kind, iaid: ia.iaid };
            if ia.kind == IaKind::Ta {
                reply.ias.push(ia_status(ia.kind, ia.iaid, DhcpStatus::NoBinding));
                continue;
            }
            let mut named: Vec<Resource> =
                ia.leases.iter().map(|l| l.resource).filter(|r| !is_unspecified(r)).collect();
            if named.is_empty() && self.st.state == EndpointState::RecoverDone {
                // RFC 8156 §8.7.1: in RECOVER-DONE only a lease that appears in the RENEW may
                // change. An IA that names none is answered with its leases as they stand
                // (remaining lifetimes), none of them extended.
                let leases: Vec<GrantedLease> = self
                    .leases
                    .db()
                    .of_client(&key)
                    .filter(|b| b.status == BindingStatus::Active && b.client_expiry > now)
                    .map(|b| remaining(b, now))
                    .collect();
                reply.ias.push(if leases.is_empty() {
                    ia_status(ia.kind, ia.iaid, DhcpStatus::NoBinding)
                } else {
                    ia_with(ia.kind, ia.iaid, leases)
                });
                continue;
            }
            if named.is_empty() {
                // RFC 8415 §18.3.4: an IA with no addresses: renew what we have for it.
                named = self
                    .leases
                    .db()
                    .of_client(&key)
                    .filter(|b| b.status == BindingStatus::Active)
                    .map(|b| b.resource)
                    .collect();
            }
            let mut leases = Vec::new();
            let mut granted = 0usize;
            for r in named {
                let kind_ok = matches!(
                    (ia.kind, r),
                    (IaKind::Na, Resource::Address(_)) | (IaKind::Pd, Resource::Prefix(..))
                );
                let ok = kind_ok
                    && match self.leases.get(&r) {
                        Some(b) => {
                            b.client.as_ref() == Some(&key)
                                && self.leases.usable_for(&self.st, now, b, &key, self.in_flight)
                        }
                        // A lease we have no record of, in our pools: most likely granted by the
                        // partner with its update still on the way (lazy update, §4.3). RFC 8415
                        // §18.3.4/§18.3.5 let a server take it on; failover keeps it to the MCLT
                        // (nothing acked). Only where new leases may be given (§8.7.1, §8.8.1).
                        None => allocating && self.leases.serves(&r),
                    };
                if ok {
                    leases.push(self.leases.grant(&self.st, now, &key, r, sink));
                    granted += 1;
                } else {
                    // RFC 8415 §18.3.4: not appropriate any more: lifetimes 0.
                    leases.push(GrantedLease {
                        resource: r,
                        preferred_lifetime: 0,
                        valid_lifetime: 0,
                    });
                }
            }
            let mut ia_reply = ia_with(ia.kind, ia.iaid, leases);
            if granted == 0 {
                ia_reply.status = Some(DhcpStatus::NoBinding);
            }
            reply.ias.push(ia_reply);
        }
        self.configure(req, &mut reply);
        sink.reply(reply);
        Answered::Changed
    }

    fn on_release(
        &mut self,
        now: Time,
        req: &ClientRequest,
        duid: &Duid,
        mut reply: ClientReply,
        to: BindingStatus,
        sink: &mut Sink,
    ) -> Answered {
        for ia in &req.ias {
            let key = ClientKey { duid: duid.clone(), kind: ia.kind, iaid: ia.iaid };
            let mut done = 0usize;
            for l in &ia.leases {
                let Some(b) = self.leases.get(&l.resource) else { continue };
                if b.client.as_ref() != Some(&key) || b.status != BindingStatus::Active {
                    continue;
                }
                let mut b = b.clone();
                // §7.2 (3) RELEASED / (9) ABANDONED; the client identity is kept (SHOULD/MAY).
                b.set_status(to, now);
                b.cltt = now;
                b.state_expiration_time = None;
                b.client_expiry = b.client_expiry.min(now);
                self.leases.store(b, sink);
                done += 1;
            }
            if done == 0 {
                reply.ias.push(ia_status(ia.kind, ia.iaid, DhcpStatus::NoBinding));
            }
        }
        reply.status = Some(DhcpStatus::Success);
        sink.reply(reply);
        Answered::Changed
    }

    fn on_confirm(&mut self, req: &ClientRequest, mut reply: ClientReply, sink: &mut Sink) {
        let addrs: Vec<&RequestedLease> = req
            .ias
            .iter()
            .filter(|ia| ia.kind != IaKind::Pd)
            .flat_map(|ia| &ia.leases)
            .filter(|l| matches!(l.resource, Resource::Address(_)))
            .collect();
        if addrs.is_empty() {
            // RFC 8415 §18.3.3: no addresses, no reply.
            sink.silence(req.tag, SilenceReason::NothingToSay);
            return;
        }
        let on_link = addrs.iter().all(|l| self.leases.serves(&l.resource));
        reply.status = Some(if on_link { DhcpStatus::Success } else { DhcpStatus::NotOnLink });
        sink.reply(reply);
    }
}

fn ia_with(kind: IaKind, iaid: u32, leases: Vec<GrantedLease>) -> IaReply {
    let pref = leases.iter().map(|l| l.preferred_lifetime).filter(|p| *p > 0).min().unwrap_or(0);
    IaReply { kind, iaid, t1: pref / 2, t2: pref.saturating_mul(4) / 5, leases, status: None }
}

/// A lease as it stands: what is left of its lifetimes, nothing extended.
fn remaining(b: &Binding, now: Time) -> GrantedLease {
    let valid = b.client_expiry.since(now);
    let preferred = b.cltt.plus(b.preferred_lifetime).since(now);
    GrantedLease {
        resource: b.resource,
        preferred_lifetime: preferred.min(valid),
        valid_lifetime: valid,
    }
}

fn ia_status(kind: IaKind, iaid: u32, status: DhcpStatus) -> IaReply {
    IaReply { kind, iaid, t1: 0, t2: 0, leases: Vec::new(), status: Some(status) }
}

fn no_avail(kind: IaKind) -> DhcpStatus {
    match kind {
        IaKind::Pd => DhcpStatus::NoPrefixAvail,
        IaKind::Na | IaKind::Ta => DhcpStatus::NoAddrsAvail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::dhcp::client::IaRequest;
    use crate::dhcp::options::{DomainName, OptionName, OptionValue, Options};
    use crate::failover::state::{Role, ALL_STATES};
    use crate::io::Output;
    use std::collections::BTreeMap;
    use std::net::Ipv6Addr;

    fn config(role: Role) -> Config {
        let mut c = Config::example(role);
        c.options = Options {
            dns_servers: Some(vec![Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53)]),
            domain_search: Some(vec![DomainName::new("example.org")]),
            information_refresh_time: Some(3600),
            sol_max_rt: Some(7200),
            preference: Some(200),
            ..Options::default()
        };
        c
    }

    fn request(kind: ClientMsgKind, oro: &[u16]) -> ClientRequest {
        ClientRequest {
            tag: 7,
            kind,
            client_id: Some(Duid::new([0, 3, 0, 1, 2, 0, 0, 0, 0, 9])),
            server_id: None,
            rapid_commit: false,
            ias: Vec::new(),
            link_address: None,
            unicast: false,
            oro: oro.to_vec(),
        }
    }

    /// Runs one request through the server of `config` in `state`; returns the outputs.
    fn run(config: &Config, state: EndpointState, req: ClientRequest) -> Vec<Output> {
        let (mut leases, _) = Leases::restore(config, BTreeMap::new());
        let in_flight = BTreeSet::new();
        let st = Standing {
            config,
            state,
            mclt: config.mclt,
            partner_down_time: Time::ZERO,
            allocation_held: false,
        };
        let mut server =
            Server { st, leases: &mut leases, in_flight: &in_flight, shut_down: false };
        let mut sink = Sink::new(BTreeMap::new());
        let _ = server.on_client(Time::ZERO.plus(1000), req, &mut sink);
        sink.finish().0
    }

    fn reply(out: &[Output]) -> Option<&ClientReply> {
        out.iter().find_map(|o| match o {
            Output::Reply(r) => Some(r),
            _ => None,
        })
    }

    fn silence(out: &[Output]) -> Option<SilenceReason> {
        out.iter().find_map(|o| match o {
            Output::Silence { reason, .. } => Some(*reason),
            _ => None,
        })
    }

    fn codes(r: Option<&ClientReply>) -> Option<Vec<u16>> {
        r.map(|r| r.options.iter().map(OptionValue::code).collect())
    }

    /// RFC 8415 §18.3.6 in every state of both roles: a responsive state answers any
    /// INFORMATION-REQUEST, a renew-responsive one (RFC 8156 §3) those naming it, an
    /// unresponsive one none; the answer is the configuration the ORO asks for, never an IA,
    /// and it changes no binding (no Persist, no update).
    #[test]
    fn information_request_in_every_state() {
        for role in [Role::Primary, Role::Secondary] {
            let c = config(role);
            for state in ALL_STATES {
                let resp = state::responsiveness(state, role);
                let oro = [23, 24, 32, 82, 83];
                let anonymous = ClientRequest {
                    client_id: None,
                    ..request(ClientMsgKind::InformationRequest, &oro)
                };
                let directed = ClientRequest {
                    server_id: Some(c.server_duid.clone()),
                    ..request(ClientMsgKind::InformationRequest, &oro)
                };
                for (req, named) in [(anonymous, false), (directed, true)] {
                    let out = run(&c, state, req.clone());
                    let answers = match resp {
                        Responsiveness::Responsive => true,
                        Responsiveness::RenewResponsive => named,
                        Responsiveness::Unresponsive => false,
                    };
                    if answers {
                        let r = reply(&out);
                        assert_eq!(codes(r), Some(vec![23, 24, 32, 82]), "{role:?} {state:?}");
                        let r = r.cloned().unwrap_or_else(|| panic!("{out:?}"));
                        assert_eq!(r.kind, ReplyKind::Reply);
                        assert_eq!(r.client_id, req.client_id);
                        assert_eq!((r.ias.len(), r.status, r.preference), (0, None, None));
                        assert_eq!(out.len(), 1, "only the reply: {out:?}");
                    } else {
                        let want = if resp == Responsiveness::Unresponsive {
                            SilenceReason::Unresponsive
                        } else {
                            SilenceReason::NotAddressedToUs
                        };
                        assert_eq!(silence(&out), Some(want), "{role:?} {state:?} {out:?}");
                    }
                }
            }
        }
    }

    /// RFC 8415 §16.12: discarded if it carries an IA or another server's identifier; §16: if
    /// it came by unicast.
    #[test]
    fn information_request_discards() {
        let c = config(Role::Primary);
        let mut with_ia = request(ClientMsgKind::InformationRequest, &[23]);
        with_ia.ias.push(IaRequest { kind: IaKind::Na, iaid: 1, leases: vec![] });
        assert_eq!(silence(&run(&c, EndpointState::Normal, with_ia)), Some(SilenceReason::Invalid));
        let mut other = request(ClientMsgKind::InformationRequest, &[23]);
        other.server_id = Some(Duid::new([0, 2, 0, 0, 0, 0, 9]));
        assert_eq!(
            silence(&run(&c, EndpointState::Normal, other)),
            Some(SilenceReason::OtherServer)
        );
        let mut unicast = request(ClientMsgKind::InformationRequest, &[23]);
        unicast.unicast = true;
        assert_eq!(silence(&run(&c, EndpointState::Normal, unicast)), Some(SilenceReason::Unicast));
    }

    #[test]
    fn which_replies_carry_configuration() {
        let c = config(Role::Primary);
        let normal = EndpointState::Normal;
        let mut sol = request(ClientMsgKind::Solicit, &[23, 32, 82, 7]);
        sol.ias.push(IaRequest { kind: IaKind::Na, iaid: 1, leases: vec![] });
        // ADVERTISE: what the ORO asks for but 32 (§21.23), and the preference (§21.8), which
        // the ORO cannot ask for (§21.7).
        let out = run(&c, normal, sol.clone());
        assert_eq!(codes(reply(&out)), Some(vec![23, 82]));
        assert_eq!(
            reply(&out).map(|r| (r.kind, r.preference)),
            Some((ReplyKind::Advertise, Some(200)))
        );
        // Rapid Commit: a REPLY, no preference.
        let rapid = ClientRequest { rapid_commit: true, ..sol.clone() };
        let out = run(&c, normal, rapid);
        assert_eq!(codes(reply(&out)), Some(vec![23, 82]));
        assert_eq!(reply(&out).map(|r| (r.kind, r.preference)), Some((ReplyKind::Reply, None)));
        // No ORO: nothing (§21.7), unless always sent (§18.3).
        let bare = ClientRequest { oro: vec![], ..sol.clone() };
        assert_eq!(codes(reply(&run(&c, normal, bare.clone()))), Some(vec![]));
        let mut always = c.clone();
        always.options.always_send = Some(vec![OptionName::DomainSearch]);
        assert_eq!(codes(reply(&run(&always, normal, bare))), Some(vec![24]));
        // An ADVERTISE with NoAddrsAvail still carries SOL_MAX_RT (RFC 8415 §18.2.9 has the
        // client act on it).
        let mut full = c.clone();
        full.address_pools.clear();
        let out = run(&full, normal, sol);
        let r = reply(&out);
        assert_eq!(r.map(|r| r.ias[0].status), Some(Some(DhcpStatus::NoAddrsAvail)));
        assert_eq!(codes(r), Some(vec![23, 82]));
        // RELEASE, DECLINE and CONFIRM replies carry none (§18.3.7, §18.3.8, §18.3.3).
        let server_id = Some(c.server_duid.clone());
        for kind in [ClientMsgKind::Release, ClientMsgKind::Decline] {
            let req = ClientRequest { server_id: server_id.clone(), ..request(kind, &[23]) };
            assert_eq!(codes(reply(&run(&c, normal, req))), Some(vec![]), "{kind:?}");
        }
        let mut confirm = request(ClientMsgKind::Confirm, &[23]);
        confirm.ias.push(IaRequest {
            kind: IaKind::Na,
            iaid: 1,
            leases: vec![RequestedLease {
                resource: Resource::Address(c.address_pools[0].first),
                preferred_lifetime: 0,
                valid_lifetime: 0,
            }],
        });
        assert_eq!(codes(reply(&run(&c, normal, confirm))), Some(vec![]));
        // RENEW with its ORO: configuration (§18.3.4).
        let renew =
            ClientRequest { server_id: server_id.clone(), ..request(ClientMsgKind::Renew, &[24]) };
        assert_eq!(codes(reply(&run(&c, normal, renew))), Some(vec![24]));
        // A unicast REQUEST: UseMulticast "and no other options" (§18.4).
        let mut uni = ClientRequest { server_id, ..request(ClientMsgKind::Request, &[23]) };
        uni.unicast = true;
        let out = run(&c, normal, uni);
        assert_eq!(reply(&out).map(|r| r.status), Some(Some(DhcpStatus::UseMulticast)));
        assert_eq!(codes(reply(&out)), Some(vec![]));
    }
}
