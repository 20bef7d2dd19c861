//! Rules of the partner link below the endpoint's messages: who accepts a connection
//! (RFC 8156 §6, §6.1) and which messages may overtake queued traffic on it.
//!
//! Both are protocol decisions the driver (`failoverd`) carries out and the model checker
//! (`specs/`) explores; they live here so the two cannot disagree.

use crate::config::Config;
use crate::failover::message::MessageBody;
use crate::failover::state::Role;

/// Whether `body` may be written ahead of messages queued before it on the partner link.
///
/// TCP keeps the order of what is written (RFC 8156 §6: one long-lived TCP connection), but a
/// sender may hold a backlog it has not written yet (BNDUPDs and BNDREPLYs waiting behind a
/// group commit or flow control). A message for which this is `true` may go out before that
/// backlog; every other message keeps its place. The receiver therefore sees the messages
/// with `false` in the order they were sent, and each `true` one somewhere between its send
/// position and the first `true` one sent before it (the `true` ones keep their order among
/// themselves, and none of them overtakes the end of the stream).
///
/// The messages that may overtake carry nothing the ordering of §5 and §7 depends on:
///
/// - CONTACT (§5.3.12, §6.5): liveness only; it "MAY be sent at any time", and what it
///   proves (the partner is alive) is true whichever queued message it passes.
/// - CONNECT and CONNECTREPLY (§6.1, §6.2): the first message in each direction of a new
///   connection, so nothing is queued before them on it.
/// - STARTTLS and its REPLY (RFC 7653 §8.2, §9.1, via RFC 8156 §10): the exchange before
///   CONNECT, again with nothing queued before it.
/// - DISCONNECT (§5.3.10, §6.1): the connection ends with it; whatever it passes is lost
///   with the connection, exactly as when a connection breaks with messages in flight, which
///   the protocol recovers from (§7.5.4: the update flags stay set until acknowledged).
///
/// Everything else keeps its order: BNDUPD/BNDREPLY (§7.5: an acknowledgement follows its
/// update), UPDREQ/UPDREQALL/UPDDONE (§5.3.5 to §5.3.7: UPDDONE ends the BNDUPDs before it),
/// POOLREQ/POOLRESP (§4.2.2, answered after the BNDUPDs that move the prefixes) and STATE
/// (§6.3, §8: a STATE overtaking the BNDUPDs or the UPDDONE sent before it would let the
/// partner leave RECOVER or see NORMAL before it has the bindings). The backlog a STATE can
/// wait behind is bounded by the flow control of MAX_UNACKED_BNDUPD (§6.1.1).
#[must_use]
pub fn may_overtake(body: &MessageBody) -> bool {
    matches!(
        body,
        MessageBody::Contact(_)
            | MessageBody::Connect(_)
            | MessageBody::ConnectReply(_)
            | MessageBody::Disconnect(_)
            | MessageBody::StartTls(_)
            | MessageBody::StartTlsReply(_)
    )
}

/// Whether this endpoint accepts an incoming partner connection at all (before any message
/// is read from it).
///
/// §6: the connection "is always initiated by the primary server"; §6.1: "Every secondary
/// server ... MUST listen for TCP connection attempts ... from a primary server", and "a
/// primary server MUST use a connection that it has initiated". So a secondary accepts (its
/// checks on the first message come later: STARTTLS in [`crate::failover::secure`], CONNECT in
/// the endpoint) and a primary accepts none.
///
/// # Errors
/// Why the connection is refused (for the log).
pub fn accepts_connection(config: &Config) -> Result<(), &'static str> {
    match config.role {
        Role::Secondary => Ok(()),
        Role::Primary => {
            Err("a primary accepts no partner connection: it initiates its own (RFC 8156 §6.1)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::message::{ConnectOptions, DisconnectOptions, NoOptions, StateOptions};

    #[test]
    fn only_order_free_messages_overtake() {
        let none = || NoOptions { unknown: Vec::new() };
        let dis = DisconnectOptions::default;
        for body in [
            MessageBody::Contact(none()),
            MessageBody::Connect(ConnectOptions::default()),
            MessageBody::ConnectReply(ConnectOptions::default()),
            MessageBody::Disconnect(dis()),
            MessageBody::StartTls(dis()),
            MessageBody::StartTlsReply(dis()),
        ] {
            assert!(may_overtake(&body), "{}", body.name());
        }
        let state = StateOptions {
            server_state: None,
            flags: None,
            start_time_of_state: None,
            partner_down_time: None,
            unknown: Vec::new(),
        };
        for body in [
            MessageBody::State(state),
            MessageBody::UpdDone(none()),
            MessageBody::UpdReq(none()),
            MessageBody::UpdReqAll(none()),
            MessageBody::PoolReq(none()),
            MessageBody::PoolResp(none()),
        ] {
            assert!(!may_overtake(&body), "{}", body.name());
        }
    }

    #[test]
    fn only_a_secondary_accepts_connections() {
        assert_eq!(accepts_connection(&Config::example(Role::Secondary)), Ok(()));
        assert!(accepts_connection(&Config::example(Role::Primary)).is_err());
    }
}
