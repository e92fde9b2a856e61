//! `[web]`: the web client's settings and its local users. A local user's password is kept as
//! an argon2 PHC string (`faxhub passwd` makes one), never in clear; directory users sign in
//! against `[ldap]`, administrators there being the members of `admin_group`.

use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Serve the web client beside the API (on `[http] listen`).
    pub enabled: bool,
    /// How long a sign-in lasts.
    #[serde(with = "faxhub_queue::units::serde_duration")]
    pub session_ttl: Duration,
    /// Failed sign-ins allowed per name and per client address within `lockout`; one more is
    /// refused without checking the password until the oldest is `lockout` old.
    pub max_failures: u32,
    #[serde(with = "faxhub_queue::units::serde_duration")]
    pub lockout: Duration,
    /// The directory group (DN) whose members are administrators.
    pub admin_group: Option<String>,
    /// Users who sign in with a password kept here (`[[web.users]]`), before the directory.
    pub users: Vec<LocalUser>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enabled: true,
            session_ttl: Duration::from_secs(12 * 3600),
            max_failures: 5,
            lockout: Duration::from_secs(15 * 60),
            admin_group: None,
            users: Vec::new(),
        }
    }
}

/// `[[web.users]]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LocalUser {
    pub login: String,
    /// The argon2 hash of the password, as `faxhub passwd` prints it (`$argon2id$…`).
    pub password: String,
    /// The address the user faxes as (receipts go there) and whose numbers' faxes they see.
    pub mail: String,
    pub name: Option<String>,
    #[serde(default)]
    pub admin: bool,
}

impl WebConfig {
    /// What is wrong with the settings, if anything.
    pub fn validate(&self) -> Result<(), String> {
        let mut logins = std::collections::HashSet::new();
        for user in &self.users {
            let who = format!("web.users {:?}", user.login);
            if user.login.trim().is_empty() || user.login.chars().any(char::is_control) {
                return Err("web.users: a login is empty or has a control character".into());
            }
            if !logins.insert(user.login.to_lowercase()) {
                return Err(format!("{who}: given twice"));
            }
            super::users::check_hash(&user.password)
                .map_err(|e| format!("{who}: password: {e} (make one with `faxhub passwd`)"))?;
            if faxhub_queue::senders::mailbox(&user.mail).is_none() {
                return Err(format!("{who}: mail {:?} is not a mail address", user.mail));
            }
        }
        if self.max_failures == 0 {
            return Err("web.max_failures must be at least 1".into());
        }
        if self.session_ttl < Duration::from_secs(60) {
            return Err("web.session_ttl must be at least 1m".into());
        }
        Ok(())
    }
}
