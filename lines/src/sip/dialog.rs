//! SIP dialogs (RFC 3261 §12–§15): the requests of a call and what identifies it.
//!
//! `Dialog::invite` builds the initial INVITE (new Call-ID, From tag and branch) and the state
//! that goes with it; a 2xx response completes the dialog (the far end's tag, its Contact as the
//! remote target, the Record-Route set reversed); from then on `request` builds in-dialog
//! requests (ACK for the 2xx with the INVITE's CSeq number, re-INVITE and BYE with the next
//! one), routed by the route set. `ack_for_error` builds the hop-by-hop ACK of a failed INVITE
//! (§17.1.1.3). `Dialog::accept` is the answering side, from a received INVITE. Identifiers come
//! from the caller's random source, so that tests are reproducible. Pure.

use super::message::{Message, StartLine, param, uri_of};

/// Where we are, as the peer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    /// `SIP/2.0/UDP host:port` without the branch.
    pub via: String,
    /// Our From/To name-addr without the tag, e.g. `<sip:faxhub@192.0.2.1>`.
    pub address: String,
    /// Our Contact URI.
    pub contact: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: Option<String>,
    /// Our From (caller) or To (callee) value, with our tag.
    local_address: String,
    /// The peer's, with its tag once known.
    remote_address: String,
    /// Where in-dialog requests go (the peer's Contact).
    pub remote_target: String,
    /// Record-Route, in the order our requests take it.
    pub route: Vec<String>,
    /// Our last CSeq number.
    pub local_cseq: u32,
    /// The CSeq of the INVITE being answered or acknowledged.
    pub invite_cseq: u32,
    via: String,
    contact: String,
}

/// A fresh branch parameter (RFC 3261's magic cookie first).
pub fn branch(random: &str) -> String {
    format!("z9hG4bK{random}")
}

impl Dialog {
    /// The INVITE to `uri` (with `body`, an SDP offer), and the dialog it starts. `ids` gives
    /// the Call-ID, our tag and the branch.
    pub fn invite(
        local: &Local,
        uri: &str,
        body: &[u8],
        ids: (&str, &str, &str),
    ) -> (Dialog, Message) {
        let (call_id, tag, branch_id) = ids;
        let dialog = Dialog {
            call_id: call_id.to_string(),
            local_tag: tag.to_string(),
            remote_tag: None,
            local_address: format!("{};tag={tag}", local.address),
            remote_address: format!("<{uri}>"),
            remote_target: uri.to_string(),
            route: Vec::new(),
            local_cseq: 1,
            invite_cseq: 1,
            via: local.via.clone(),
            contact: local.contact.clone(),
        };
        let mut m = Message::request("INVITE", uri);
        m.add("Via", format!("{};branch={}", local.via, branch(branch_id)))
            .add("Max-Forwards", "70")
            .add("From", dialog.local_address.clone())
            .add("To", dialog.remote_address.clone())
            .add("Call-ID", call_id)
            .add("CSeq", "1 INVITE")
            .add("Contact", format!("<{}>", local.contact))
            .add("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE")
            .add("Content-Type", "application/sdp");
        m.body = body.to_vec();
        (dialog, m)
    }

    /// The state for requests outside any call (REGISTER, OPTIONS): From `local.address` with
    /// our tag, To `to`, sent to `target`; `request` numbers them from 1.
    pub fn outside(local: &Local, to: &str, target: &str, ids: (&str, &str)) -> Dialog {
        let (call_id, tag) = ids;
        Dialog {
            call_id: call_id.to_string(),
            local_tag: tag.to_string(),
            remote_tag: None,
            local_address: format!("{};tag={tag}", local.address),
            remote_address: format!("<{to}>"),
            remote_target: target.to_string(),
            route: Vec::new(),
            local_cseq: 0,
            invite_cseq: 0,
            via: local.via.clone(),
            contact: local.contact.clone(),
        }
    }

    /// The dialog an INVITE we received starts, with our tag; its responses are made with
    /// `response`.
    pub fn accept(local: &Local, invite: &Message, tag: &str) -> Option<Dialog> {
        let from = invite.header("From")?;
        let (cseq, _) = invite.cseq()?;
        Some(Dialog {
            call_id: invite.header("Call-ID")?.to_string(),
            local_tag: tag.to_string(),
            remote_tag: param(from, "tag").map(str::to_string),
            local_address: format!("{};tag={tag}", invite.header("To")?),
            remote_address: from.to_string(),
            remote_target: invite.header("Contact").map(uri_of)?.to_string(),
            // as received: our requests follow the Record-Route in order (§12.1.1)
            route: invite.values("Record-Route").map(str::to_string).collect(),
            local_cseq: 0,
            invite_cseq: cseq,
            via: local.via.clone(),
            contact: local.contact.clone(),
        })
    }

    /// Our response to `request` in this dialog (our tag on To, our Contact on 2xx to INVITE).
    pub fn response(&self, request: &Message, code: u16, reason: &str) -> Message {
        let mut r = Message::response_to(request, code, reason);
        if code > 100 {
            r.set("To", self.local_address.clone());
        }
        if (200..300).contains(&code) && request.method() == Some("INVITE") {
            r.add("Contact", format!("<{}>", self.contact));
        }
        r
    }

    /// Takes in a 2xx to our INVITE: the far end's tag, its Contact, the route set.
    pub fn confirm(&mut self, ok: &Message) {
        if let Some(to) = ok.header("To") {
            self.remote_tag = param(to, "tag").map(str::to_string);
            self.remote_address = to.to_string();
        }
        if let Some(contact) = ok.header("Contact") {
            self.remote_target = uri_of(contact).to_string();
        }
        // the caller uses the Record-Route of the response in reverse order (§12.1.2)
        let mut route: Vec<String> = ok.values("Record-Route").map(str::to_string).collect();
        route.reverse();
        self.route = route;
    }

    /// An in-dialog request: `ACK` (for the 2xx of the INVITE with CSeq `invite_cseq`), or
    /// INVITE / BYE / others with the next CSeq. `branch_id` makes its Via branch.
    pub fn request(&mut self, method: &str, body: &[u8], branch_id: &str) -> Message {
        let cseq = if method == "ACK" {
            self.invite_cseq
        } else {
            self.local_cseq += 1;
            if method == "INVITE" {
                self.invite_cseq = self.local_cseq;
            }
            self.local_cseq
        };
        let mut m = Message::request(method, &self.remote_target);
        m.add("Via", format!("{};branch={}", self.via, branch(branch_id)))
            .add("Max-Forwards", "70");
        for r in &self.route {
            m.add("Route", r.clone());
        }
        m.add("From", self.local_address.clone())
            .add("To", self.remote_address.clone())
            .add("Call-ID", self.call_id.clone())
            .add("CSeq", format!("{cseq} {method}"));
        if method == "INVITE" {
            m.add("Contact", format!("<{}>", self.contact));
        }
        if !body.is_empty() {
            m.add("Content-Type", "application/sdp");
            m.body = body.to_vec();
        }
        m
    }
}

/// The ACK for a non-2xx final response to `invite` (same branch, the response's To).
pub fn ack_for_error(invite: &Message, response: &Message) -> Option<Message> {
    let StartLine::Request { uri, .. } = &invite.start else {
        return None;
    };
    let (cseq, _) = invite.cseq()?;
    let mut ack = Message::request("ACK", uri);
    ack.add("Via", invite.header("Via")?)
        .add("Max-Forwards", "70")
        .add("From", invite.header("From")?)
        .add("To", response.header("To")?)
        .add("Call-ID", invite.header("Call-ID")?)
        .add("CSeq", format!("{cseq} ACK"));
    for route in invite.values("Route") {
        ack.add("Route", route);
    }
    Some(ack)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(port: u16) -> Local {
        Local {
            via: format!("SIP/2.0/UDP 127.0.0.1:{port}"),
            address: format!("<sip:faxhub@127.0.0.1:{port}>"),
            contact: format!("sip:faxhub@127.0.0.1:{port}"),
        }
    }

    /// Through bytes, as a socket would carry it.
    fn wire(m: &Message) -> Message {
        Message::parse(&m.render()).unwrap().0
    }

    #[test]
    fn a_call_from_invite_to_bye_keeps_its_identity() {
        let (mut caller, invite) = Dialog::invite(
            &local(5062),
            "sip:+33169293999@127.0.0.1:5060",
            b"v=0\r\n",
            ("call-1", "ta", "b1"),
        );
        let invite = wire(&invite);
        assert_eq!(
            param(invite.header("Via").unwrap(), "branch"),
            Some("z9hG4bKb1")
        );
        // the far end answers through a proxy that records its route
        let mut callee = Dialog::accept(&local(5060), &invite, "tb").unwrap();
        let mut ok = callee.response(&invite, 200, "OK");
        ok.add("Record-Route", "<sip:proxy1;lr>, <sip:proxy2;lr>");
        let ok = wire(&ok);
        assert_eq!(param(ok.header("To").unwrap(), "tag"), Some("tb"));
        caller.confirm(&ok);
        assert_eq!(caller.remote_tag.as_deref(), Some("tb"));
        assert_eq!(caller.remote_target, "sip:faxhub@127.0.0.1:5060");
        assert_eq!(
            caller.route,
            ["<sip:proxy2;lr>", "<sip:proxy1;lr>"],
            "reversed"
        );
        let ack = wire(&caller.request("ACK", b"", "b2"));
        assert_eq!(ack.cseq(), Some((1, "ACK")));
        assert_eq!(ack.values("Route").count(), 2);
        // the callee switches the call to T.38
        let reinvite = wire(&callee.request("INVITE", b"m=image", "c1"));
        assert_eq!(reinvite.cseq(), Some((1, "INVITE")));
        assert_eq!(param(reinvite.header("From").unwrap(), "tag"), Some("tb"));
        assert_eq!(param(reinvite.header("To").unwrap(), "tag"), Some("ta"));
        assert_eq!(reinvite.header("Call-ID"), Some("call-1"));
        // the caller hangs up: the next CSeq of its own
        let bye = wire(&caller.request("BYE", b"", "b3"));
        assert_eq!(bye.cseq(), Some((2, "BYE")));
        let StartLine::Request { uri, .. } = &bye.start else {
            panic!()
        };
        assert_eq!(uri, "sip:faxhub@127.0.0.1:5060", "to the remote target");
    }

    #[test]
    fn a_refused_invite_is_acknowledged_hop_by_hop() {
        let (_, invite) = Dialog::invite(
            &local(5062),
            "sip:0169293999@127.0.0.1",
            b"",
            ("call-2", "ta", "b1"),
        );
        let invite = wire(&invite);
        let callee = Dialog::accept(&local(5060), &invite, "tz").unwrap();
        let busy = wire(&callee.response(&invite, 486, "Busy Here"));
        let ack = wire(&ack_for_error(&invite, &busy).unwrap());
        assert_eq!(ack.method(), Some("ACK"));
        assert_eq!(
            ack.header("Via"),
            invite.header("Via"),
            "the INVITE's branch"
        );
        assert_eq!(param(ack.header("To").unwrap(), "tag"), Some("tz"));
        assert_eq!(ack.cseq(), Some((1, "ACK")));
    }
}
