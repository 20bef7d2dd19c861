//! The secure mode's STARTTLS exchange (RFC 8156 §6.1 and §10, via RFC 7653 §8.2 and §9.1).
//!
//! The exchange happens below the endpoint's CONNECT, on a fresh TCP connection, so the driver
//! runs it; the decisions are here:
//!
//! - the primary (the "requestor") sends STARTTLS without options as the first message;
//! - a secondary that will do TLS answers a REPLY without a status code carrying the
//!   STARTTLS's transaction-id; one that will not answers a REPLY with TLSConnectionRefused
//!   (the driver sends the first on a secure connection, [`crate::Endpoint`] the second on an
//!   insecure one; both take [`on_first_message`]'s answer); a secondary in the secure mode
//!   closes a connection whose first message is not STARTTLS;
//! - the primary goes ahead only on that REPLY; anything else (no answer, another message, a
//!   REPLY with another transaction-id, a REPLY with TLSConnectionRefused or any other
//!   failure status) means it MUST close the connection (RFC 7653 §8.2).
//!
//! STARTTLS and REPLY are DHCPv6 messages (4-octet header, no sent-time); see
//! [`crate::wire::failover`] for their framing.

use crate::failover::message::{
    DisconnectOptions, Message, MessageBody, Status, StatusCode, XID_MAX,
};
use crate::time::Time;

/// The STARTTLS request (RFC 7653 §6.2.2: without options). `xid` is masked to 24 bits.
#[must_use]
pub fn starttls_request(xid: u32) -> Message {
    Message {
        xid: xid & XID_MAX,
        sent_time: Time(0),
        body: MessageBody::StartTls(DisconnectOptions::default()),
    }
}

/// The go-ahead: a REPLY without a status code, with the request's transaction-id
/// (RFC 7653 §9.1).
#[must_use]
pub fn starttls_go_ahead(request: &Message) -> Message {
    answer_starttls(true, request.xid)
}

/// The refusal: a REPLY with TLSConnectionRefused and the request's transaction-id
/// (RFC 7653 §9.1).
#[must_use]
pub fn starttls_refusal(request_xid: u32, why: &str) -> Message {
    Message {
        xid: request_xid,
        sent_time: Time(0),
        body: MessageBody::StartTlsReply(DisconnectOptions {
            status: Some(Status::new(StatusCode::TLS_CONNECTION_REFUSED, why)),
            unknown: Vec::new(),
        }),
    }
}

/// (Secondary) what the server does with the first message on a new partner connection,
/// before CONNECT (RFC 7653 §9.1, via RFC 8156 §6.1 and §10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FirstMessage {
    /// STARTTLS in the secure mode: answer this REPLY (no status code, the STARTTLS's
    /// transaction-id), then run the TLS handshake as the server.
    GoAhead(Message),
    /// STARTTLS in the insecure mode: answer this REPLY (TLSConnectionRefused) and close.
    Refuse(Message),
    /// Anything but STARTTLS in the secure mode: close without an answer ("MUST close the TCP
    /// connections that are not secured with TLS").
    Close(String),
    /// Anything but STARTTLS in the insecure mode: the message is the protocol's first one
    /// (CONNECT), for the endpoint.
    Protocol,
}

/// (Secondary) the answer to a STARTTLS with transaction-id `request_xid`: in the secure mode
/// the go-ahead (a REPLY without a status code), in the insecure mode a REPLY with
/// TLSConnectionRefused, after which the server closes (RFC 7653 §9.1). The endpoint, which
/// runs only on connections the driver did not secure, answers with `secure = false`.
#[must_use]
pub fn answer_starttls(secure: bool, request_xid: u32) -> Message {
    if secure {
        Message {
            xid: request_xid,
            sent_time: Time(0),
            body: MessageBody::StartTlsReply(DisconnectOptions::default()),
        }
    } else {
        starttls_refusal(request_xid, "TLS is not configured")
    }
}

/// (Secondary) decides on the first message of a new partner connection. `secure`: this
/// server runs the secure mode (`tls = "required"`), so it negotiates TLS with a requestor that
/// asks for it and closes connections that do not; in the insecure mode it refuses STARTTLS
/// with TLSConnectionRefused and goes on with the protocol (RFC 7653 §9.1).
#[must_use]
pub fn on_first_message(secure: bool, first: &Message) -> FirstMessage {
    match (&first.body, secure) {
        (MessageBody::StartTls(_), true) => FirstMessage::GoAhead(answer_starttls(true, first.xid)),
        (MessageBody::StartTls(_), false) => {
            FirstMessage::Refuse(answer_starttls(false, first.xid))
        }
        (body, true) => FirstMessage::Close(format!("expected STARTTLS, got {}", body.name())),
        (_, false) => FirstMessage::Protocol,
    }
}

/// Why the primary will not go ahead with TLS (it closes the connection in every case).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartTlsFailure {
    /// The secondary answered TLSConnectionRefused (RFC 7653 §8.2, possibility 3).
    Refused(Status),
    /// A REPLY with another failure status.
    Failed(Status),
    /// The answer is not the REPLY to our STARTTLS (another message type, or another
    /// transaction-id).
    NotTheReply(String),
}

impl std::fmt::Display for StartTlsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartTlsFailure::Refused(s) => {
                write!(f, "STARTTLS refused: TLSConnectionRefused ({})", s.message)
            }
            StartTlsFailure::Failed(s) => {
                write!(f, "STARTTLS failed: status {} ({})", s.code.0, s.message)
            }
            StartTlsFailure::NotTheReply(why) => write!(f, "STARTTLS not answered: {why}"),
        }
    }
}

impl StartTlsFailure {
    /// A short label for metrics.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            StartTlsFailure::Refused(_) => "starttls_refused",
            StartTlsFailure::Failed(_) => "starttls_failed",
            StartTlsFailure::NotTheReply(_) => "starttls_bad_answer",
        }
    }
}

/// (Primary) judges the secondary's answer to the STARTTLS sent with `request_xid`.
///
/// Accepted: a REPLY with the same transaction-id and no status code. A status code of
/// Success (0) is accepted too: RFC 8415 §21.13 makes a missing status code mean Success, so
/// the two say the same thing.
///
/// # Errors
/// Anything else; the caller MUST close the connection (RFC 7653 §8.2).
pub fn judge_starttls_answer(request_xid: u32, answer: &Message) -> Result<(), StartTlsFailure> {
    let MessageBody::StartTlsReply(o) = &answer.body else {
        return Err(StartTlsFailure::NotTheReply(format!(
            "expected REPLY, got {}",
            answer.body.name()
        )));
    };
    if answer.xid != request_xid {
        return Err(StartTlsFailure::NotTheReply(format!(
            "REPLY transaction-id {:#08x}, STARTTLS had {request_xid:#08x}",
            answer.xid
        )));
    }
    match &o.status {
        None => Ok(()),
        Some(s) if s.code == StatusCode::SUCCESS => Ok(()),
        Some(s) if s.code == StatusCode::TLS_CONNECTION_REFUSED => {
            Err(StartTlsFailure::Refused(s.clone()))
        }
        Some(s) => Err(StartTlsFailure::Failed(s.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::message::ConnectOptions;

    #[test]
    fn the_secondary_goes_ahead_refuses_or_closes() {
        let req = starttls_request(0x0000_0042);
        assert_eq!(on_first_message(true, &req), FirstMessage::GoAhead(starttls_go_ahead(&req)));
        let FirstMessage::Refuse(r) = on_first_message(false, &req) else {
            panic!("insecure STARTTLS must be refused");
        };
        assert_eq!(r.xid, req.xid);
        assert!(matches!(judge_starttls_answer(req.xid, &r), Err(StartTlsFailure::Refused(_))));
        let connect = Message {
            xid: 7,
            sent_time: Time(5),
            body: MessageBody::Connect(ConnectOptions::default()),
        };
        assert!(matches!(on_first_message(true, &connect), FirstMessage::Close(_)));
        assert_eq!(on_first_message(false, &connect), FirstMessage::Protocol);
    }

    #[test]
    fn only_the_reply_to_our_starttls_goes_ahead() {
        let req = starttls_request(0x0012_3456);
        assert_eq!(judge_starttls_answer(req.xid, &starttls_go_ahead(&req)), Ok(()));
        // Another transaction-id.
        let mut other = starttls_go_ahead(&req);
        other.xid = 0;
        assert!(matches!(
            judge_starttls_answer(req.xid, &other),
            Err(StartTlsFailure::NotTheReply(_))
        ));
        // STARTTLS echoed back (what failoverd used to answer).
        assert!(matches!(
            judge_starttls_answer(req.xid, &req),
            Err(StartTlsFailure::NotTheReply(_))
        ));
        // Refused.
        let r = starttls_refusal(req.xid, "no TLS");
        assert!(matches!(judge_starttls_answer(req.xid, &r), Err(StartTlsFailure::Refused(_))));
        // Another failure status.
        let mut f = starttls_go_ahead(&req);
        f.body = MessageBody::StartTlsReply(DisconnectOptions {
            status: Some(Status::new(StatusCode::UNSPEC_FAIL, "x")),
            unknown: Vec::new(),
        });
        assert!(matches!(judge_starttls_answer(req.xid, &f), Err(StartTlsFailure::Failed(_))));
        // An explicit Success says what a missing status says (RFC 8415 §21.13).
        f.body = MessageBody::StartTlsReply(DisconnectOptions {
            status: Some(Status::new(StatusCode::SUCCESS, "")),
            unknown: Vec::new(),
        });
        assert_eq!(judge_starttls_answer(req.xid, &f), Ok(()));
    }
}
