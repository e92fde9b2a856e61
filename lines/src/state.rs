//! What a line is doing now, as this node sees it: its channels in use (the scheduler takes one
//! for each call it places, `Line::occupy`) and, for a SIP trunk kept registered or pinged, the
//! trunk's state (`agent::register` sets it). Read by `GET /v1/lines` and `/metrics`; nothing
//! decides on it. Times are milliseconds since the Unix epoch.

use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

/// One line's state.
#[derive(Debug)]
pub struct LineState {
    pub name: String,
    pub kind: crate::LineKind,
    /// Calls this node places on the line at once, at most.
    pub channels: u32,
    in_use: AtomicU32,
    trunk: Mutex<Option<TrunkState>>,
}

/// A SIP trunk's upkeep, as last seen.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TrunkState {
    /// `None` when the line does not register.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered: Option<bool>,
    /// Until when the registrar granted the registration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_until_ms: Option<i64>,
    /// Why the last REGISTER failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub register_error: Option<String>,
    /// Whether the proxy answered the last OPTIONS; `None` without keep-alives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answering: Option<bool>,
    /// When either of them last changed.
    pub since_ms: i64,
}

impl TrunkState {
    /// Up: registered if it registers, answering if it is pinged.
    pub fn up(&self) -> bool {
        self.registered != Some(false) && self.answering != Some(false)
    }
}

/// A channel taken; given back when dropped.
pub struct Occupied<'a>(&'a LineState);

impl Drop for Occupied<'_> {
    fn drop(&mut self) {
        self.0.in_use.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What `GET /v1/lines` shows of a line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineView {
    pub name: String,
    pub kind: crate::LineKind,
    pub channels: u32,
    pub channels_in_use: u32,
    /// SIP lines that register or send keep-alives only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trunk: Option<TrunkState>,
}

impl LineState {
    pub fn new(name: &str, kind: crate::LineKind, channels: u32) -> LineState {
        LineState {
            name: name.into(),
            kind,
            channels,
            in_use: AtomicU32::new(0),
            trunk: Mutex::new(None),
        }
    }

    /// Counts a call on the line for as long as the guard lives.
    pub fn occupy(&self) -> Occupied<'_> {
        self.in_use.fetch_add(1, Ordering::Relaxed);
        Occupied(self)
    }

    /// Records what the trunk's upkeep saw: `change` edits the state (a new one if none yet);
    /// `since_ms` moves when up or down changed.
    pub fn trunk_seen(&self, now_ms: i64, change: impl FnOnce(&mut TrunkState)) {
        let mut trunk = self.trunk.lock().unwrap_or_else(|p| p.into_inner());
        let mut state = trunk.clone().unwrap_or(TrunkState {
            since_ms: now_ms,
            ..TrunkState::default()
        });
        let before = (state.registered, state.answering);
        change(&mut state);
        if (state.registered, state.answering) != before {
            state.since_ms = now_ms;
        }
        *trunk = Some(state);
    }

    pub fn view(&self) -> LineView {
        LineView {
            name: self.name.clone(),
            kind: self.kind,
            channels: self.channels,
            channels_in_use: self.in_use.load(Ordering::Relaxed),
            trunk: self.trunk.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_in_use_are_given_back_and_trunk_changes_are_dated() {
        let line = LineState::new("trunk", crate::LineKind::Sip, 2);
        {
            let _a = line.occupy();
            let _b = line.occupy();
            assert_eq!(line.view().channels_in_use, 2);
        }
        assert_eq!(line.view().channels_in_use, 0);
        assert_eq!(line.view().trunk, None);
        line.trunk_seen(1_000, |t| t.answering = Some(true));
        line.trunk_seen(2_000, |t| t.answering = Some(true));
        let seen = line.view().trunk.unwrap();
        assert!(seen.up());
        assert_eq!(seen.since_ms, 1_000, "no change, no new date");
        line.trunk_seen(3_000, |t| {
            t.registered = Some(false);
            t.register_error = Some("SIP 403".into());
        });
        let seen = line.view().trunk.unwrap();
        assert!(!seen.up());
        assert_eq!(seen.since_ms, 3_000);
    }
}
