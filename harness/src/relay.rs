//! A relayed DHCPv6 client: requests wrapped in RELAY-FORW as a relay agent on the link
//! [`LINK`] sends them, replies unwrapped from RELAY-REPL (the codecs are `failover-model`'s).

use failover_model::dhcp::client::{ClientMsgKind, ClientReply, ClientRequest, IaRequest};
use failover_model::wire::client::{
    decode_server_reply, encode_client_request, unwrap_relay_repl, wrap_relay_forw,
};
use failover_model::{Duid, IaKind, Resource};
use std::net::{Ipv6Addr, SocketAddr, UdpSocket};

/// The link the relay agent serves (`link-address` of every RELAY-FORW): 2001:db8:1::1, in
/// the /64 of the test and demo address pools.
pub const LINK: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);

/// A SOLICIT with Rapid Commit from `duid` for one IA of each `kind` (IAID 1 for IA_NA, 2 for
/// IA_PD, 3 for IA_TA), asking for nothing in particular.
#[must_use]
pub fn rapid_solicit(duid: Duid, kinds: &[IaKind]) -> ClientRequest {
    ClientRequest {
        tag: 0,
        kind: ClientMsgKind::Solicit,
        client_id: Some(duid),
        server_id: None,
        rapid_commit: true,
        ias: kinds
            .iter()
            .map(|&kind| IaRequest {
                kind,
                iaid: match kind {
                    IaKind::Na => 1,
                    IaKind::Pd => 2,
                    IaKind::Ta => 3,
                },
                leases: vec![],
            })
            .collect(),
        link_address: None,
        unicast: false,
        oro: Vec::new(),
    }
}

/// `req` (transaction `xid`) in a RELAY-FORW from `peer` on [`LINK`], hop count 0, with an
/// Interface-ID option if `interface_id` is given.
///
/// # Errors
/// The request does not encode.
pub fn relay_forw(
    req: &ClientRequest,
    xid: [u8; 3],
    peer: Ipv6Addr,
    interface_id: Option<&[u8]>,
) -> anyhow::Result<Vec<u8>> {
    let inner = encode_client_request(req, xid)?;
    Ok(wrap_relay_forw(&inner, 0, LINK, peer, interface_id)?)
}

/// The server's reply and its transaction id from a RELAY-REPL, or `None` if the datagram is
/// not one that decodes.
#[must_use]
pub fn relay_repl(datagram: &[u8]) -> Option<(ClientReply, [u8; 3])> {
    let (inner, _hops) = unwrap_relay_repl(datagram).ok()?;
    decode_server_reply(&inner).ok()
}

/// The resources a reply grants (valid lifetime > 0), in order.
#[must_use]
pub fn granted(reply: &ClientReply) -> Vec<Resource> {
    reply
        .ias
        .iter()
        .flat_map(|ia| ia.leases.iter())
        .filter(|l| l.valid_lifetime > 0)
        .map(|l| l.resource)
        .collect()
}

/// One relayed exchange: `req` in a RELAY-FORW from `peer` ([`relay_forw`], no Interface-ID)
/// to each of `servers`, and the first answer's granted resources ([`granted`]), or `None` if
/// no answer came within the socket's read timeout.
///
/// # Panics
/// The request does not encode.
#[must_use]
pub fn relay_exchange(
    relay: &UdpSocket,
    req: &ClientRequest,
    xid: [u8; 3],
    peer: Ipv6Addr,
    servers: &[SocketAddr],
) -> Option<Vec<Resource>> {
    let pkt = relay_forw(req, xid, peer, None).expect("encode");
    for s in servers {
        let _ = relay.send_to(&pkt, s);
    }
    let mut buf = [0u8; 4096];
    let (n, _) = relay.recv_from(&mut buf).ok()?;
    let (reply, _) = relay_repl(buf.get(..n)?)?;
    Some(granted(&reply))
}

#[cfg(test)]
mod tests {
    use super::*;
    use failover_model::wire::client::unwrap_relay_repl;

    /// What [`relay_forw`] sends is a RELAY-FORW from `peer` on [`LINK`] with the request
    /// inside (message type 12, hop count 0, the link and peer addresses in place).
    #[test]
    fn relay_forw_wraps_the_request_on_the_link() {
        let req =
            rapid_solicit(Duid::new(vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 1]), &[IaKind::Na, IaKind::Pd]);
        assert_eq!(req.ias.iter().map(|i| i.iaid).collect::<Vec<_>>(), [1, 2]);
        let peer = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 5);
        let pkt = relay_forw(&req, [1, 2, 3], peer, Some(b"eth0")).expect("encode");
        assert_eq!(pkt[0], 12, "RELAY-FORW");
        assert_eq!(pkt[1], 0, "hop count");
        assert_eq!(pkt[2..18], LINK.octets());
        assert_eq!(pkt[18..34], peer.octets());
        let inner = encode_client_request(&req, [1, 2, 3]).expect("encode");
        assert!(pkt.windows(inner.len()).any(|w| w == inner.as_slice()), "request not inside");
        // A RELAY-FORW is not a RELAY-REPL: nothing to unwrap.
        assert!(unwrap_relay_repl(&pkt).is_err());
        assert_eq!(relay_repl(&pkt).map(|(_, x)| x), None);
    }
}
