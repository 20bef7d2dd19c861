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
