//! What a call has done so far (`CallProgress`), one typed value from the line that publishes
//! it, through the store that keeps it while the call lasts and with the attempt after, to
//! `faxhub queue watch` and the receipts that tell it. Stored as JSON; the names are those of
//! `faxhub queue --json`.

use serde::{Deserialize, Serialize};

/// How far a call got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// The INVITE is out (or the line is otherwise reaching the number).
    Dialling,
    /// The far end answered.
    Connected,
    /// The fax machines agreed on a speed: pages are going.
    Sending,
}

/// How the fax travels once connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaxTransport {
    /// T.38 over UDPTL.
    #[serde(rename = "t38")]
    T38,
    /// The fax modems' audio over RTP (PCMA or PCMU).
    #[serde(rename = "g711")]
    G711,
}

impl FaxTransport {
    /// As users read it.
    pub fn words(self) -> &'static str {
        match self {
            FaxTransport::T38 => "T.38",
            FaxTransport::G711 => "G.711 audio",
        }
    }
}

/// What a call has done so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallProgress {
    /// `None` until the line publishes anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// Once connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<FaxTransport>,
    /// The receiving machine's ident (CSI).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_ident: Option<String>,
    pub bit_rate: u32,
    pub ecm: bool,
    /// Pages the receiver confirmed, of `pages`.
    pub pages_confirmed: u32,
    pub pages: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_keeps_the_names_users_read() {
        let p = CallProgress {
            stage: Some(Stage::Sending),
            transport: Some(FaxTransport::T38),
            remote_ident: Some("+33 1 69".into()),
            bit_rate: 14_400,
            ecm: true,
            pages_confirmed: 1,
            pages: 2,
        };
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["stage"], "sending");
        assert_eq!(json["transport"], "t38");
        assert_eq!(serde_json::from_value::<CallProgress>(json).unwrap(), p);
        let none = serde_json::to_value(CallProgress::default()).unwrap();
        assert!(none.get("stage").is_none() && none.get("transport").is_none());
        // what earlier versions stored reads the same
        let old: CallProgress = serde_json::from_str(
            r#"{"stage":"connected","transport":"g711","bit_rate":0,"ecm":false,"pages_confirmed":0,"pages":3}"#,
        )
        .unwrap();
        assert_eq!(
            (old.stage, old.transport),
            (Some(Stage::Connected), Some(FaxTransport::G711))
        );
    }
}
