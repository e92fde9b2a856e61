//! Who may sign in: local users (`[[web.users]]`, argon2 hashes) first, then the directory
//! (`[ldap]`: a bind as the user; administrators are the members of `[web] admin_group`). And
//! how often one may try: `Attempts` counts failures per name and per client address, and a
//! name or address over `max_failures` within `lockout` is refused without asking anyone.

use super::config::{LocalUser, WebConfig};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use faxhub_connectors::directory::Directory;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// A user signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub login: String,
    pub mail: String,
    pub name: Option<String>,
    pub admin: bool,
}

/// Why nobody could say whether the password is right.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the directory cannot be reached: {0}")]
    Directory(String),
    #[error("the directory entry of {0:?} has no mail address")]
    NoMail(String),
}

/// The longest name and password looked at (longer ones are wrong): the sign-in limits keep
/// names, and argon2 reads the whole password.
pub const MAX_LOGIN: usize = 256;
pub const MAX_PASSWORD: usize = 1024;

/// The hash of 32 random bytes forgotten since, checked for a name nobody has.
const NOBODY: &str = "$argon2id$v=19$m=19456,t=2,p=1$+SWfhTWd9bvJes+qdh4hqA$U1WZpnB74tPRRlMqj2YxVTd7r1YlR8XC/dEO8zkrnhI";

/// The argon2id hash of `password` with a fresh salt (PHC string), for `[[web.users]]`.
pub fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `phc` is an argon2 hash faxhub can check.
pub fn check_hash(phc: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(phc).map_err(|e| format!("not a PHC hash: {e}"))?;
    match parsed.algorithm.as_str() {
        "argon2id" | "argon2i" | "argon2d" => Ok(()),
        other => Err(format!("{other} is not argon2")),
    }
}

fn verify(user: &LocalUser, password: &str) -> bool {
    PasswordHash::new(&user.password)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The user `login` is with `password`, or `None` (no such user and a wrong password alike).
/// A local user is checked here (a name a local user has is never asked of the directory);
/// another is asked of `directory`. An empty password is refused without asking.
pub async fn sign_in(
    config: &WebConfig,
    directory: Option<&Directory>,
    login: &str,
    password: &str,
) -> Result<Option<User>, SignInError> {
    if login.is_empty()
        || password.is_empty()
        || login.len() > MAX_LOGIN
        || password.len() > MAX_PASSWORD
    {
        return Ok(None);
    }
    if let Some(local) = config
        .users
        .iter()
        .find(|u| u.login.eq_ignore_ascii_case(login))
    {
        let (local, password) = (local.clone(), password.to_string());
        // argon2 is meant to be slow: off the async workers
        let ok = tokio::task::spawn_blocking(move || verify(&local, &password).then_some(local))
            .await
            .ok()
            .flatten();
        return Ok(ok.map(|u| User {
            login: u.login,
            mail: u.mail,
            name: u.name,
            admin: u.admin,
        }));
    }
    let Some(directory) = directory else {
        // as long as checking a local user's password: the time does not tell who exists
        let password = password.to_string();
        let _ = tokio::task::spawn_blocking(move || {
            PasswordHash::new(NOBODY)
                .map(|h| Argon2::default().verify_password(password.as_bytes(), &h))
        })
        .await;
        return Ok(None);
    };
    let down =
        |e: faxhub_connectors::directory::DirectoryError| SignInError::Directory(e.to_string());
    let Some(entry) = directory
        .authenticate(login, password)
        .await
        .map_err(down)?
    else {
        return Ok(None);
    };
    let mail = entry
        .mail
        .clone()
        .ok_or_else(|| SignInError::NoMail(login.to_string()))?;
    let admin = match &config.admin_group {
        Some(group) => directory.is_member(group, &entry.dn).await.map_err(down)?,
        None => false,
    };
    Ok(Some(User {
        login: login.to_string(),
        mail,
        name: entry.name.clone(),
        admin,
    }))
}

/// Keys (names, addresses) followed at most; past it the one failed longest ago is forgotten.
const MAX_KEYS: usize = 10_000;

/// Failed sign-ins lately, per key. Pure: the caller says what time it is.
pub struct Attempts {
    max: usize,
    window: Duration,
    failures: HashMap<String, VecDeque<Instant>>,
}

impl Attempts {
    pub fn new(max_failures: u32, window: Duration) -> Attempts {
        Attempts {
            max: max_failures as usize,
            window,
            failures: HashMap::new(),
        }
    }

    /// How long until `key` may try again, if it has had its failures.
    pub fn wait(&mut self, key: &str, now: Instant) -> Option<Duration> {
        let window = self.window;
        let times = self.failures.get_mut(key)?;
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            times.pop_front();
        }
        if times.is_empty() {
            self.failures.remove(key);
            return None;
        }
        (times.len() >= self.max).then(|| window - now.duration_since(times[0]))
    }

    /// Counts a failure of `key` at `now`.
    pub fn failed(&mut self, key: &str, now: Instant) {
        if !self.failures.contains_key(key) && self.failures.len() >= MAX_KEYS {
            let window = self.window;
            self.failures
                .retain(|_, t| t.back().is_some_and(|t| now.duration_since(*t) < window));
            if self.failures.len() >= MAX_KEYS
                && let Some(oldest) = self
                    .failures
                    .iter()
                    .min_by_key(|(_, t)| t.back().copied())
                    .map(|(k, _)| k.clone())
            {
                self.failures.remove(&oldest);
            }
        }
        let times = self.failures.entry(key.to_string()).or_default();
        times.push_back(now);
        while times.len() > self.max {
            times.pop_front();
        }
    }

    /// Forgets `key`'s failures (it signed in).
    pub fn succeeded(&mut self, key: &str) {
        self.failures.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_refused_after_max_failures_until_the_oldest_is_a_window_old() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut a = Attempts::new(3, s(60));
        for i in 0..3 {
            assert_eq!(a.wait("alice", t0 + s(i)), None, "try {i}");
            a.failed("alice", t0 + s(i));
        }
        assert_eq!(a.wait("alice", t0 + s(10)), Some(s(50)));
        assert_eq!(a.wait("bob", t0 + s(10)), None, "others are not held");
        assert_eq!(a.wait("alice", t0 + s(60)), None, "the oldest aged out");
        a.failed("alice", t0 + s(60));
        assert_eq!(a.wait("alice", t0 + s(60)), Some(s(1)), "two recent + one");
        a.succeeded("alice");
        assert_eq!(a.wait("alice", t0 + s(60)), None);
    }

    #[test]
    fn the_keys_followed_are_bounded() {
        let t0 = Instant::now();
        let mut a = Attempts::new(1, Duration::from_secs(60));
        for i in 0..MAX_KEYS + 10 {
            a.failed(&format!("k{i}"), t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(a.failures.len(), MAX_KEYS);
        assert!(a.wait("k0", t0).is_none(), "the oldest was forgotten");
        assert!(a.wait(&format!("k{}", MAX_KEYS + 9), t0).is_some());
    }

    #[test]
    fn hashes_are_argon2_and_check_the_password() {
        let phc = hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        check_hash(&phc).unwrap();
        let user = LocalUser {
            login: "a".into(),
            password: phc,
            mail: "a@example.com".into(),
            name: None,
            admin: false,
        };
        assert!(verify(&user, "correct horse"));
        assert!(!verify(&user, "correct horse "));
        assert!(check_hash("$5$rounds=1000$salt$hash").is_err());
        assert!(check_hash("plain").is_err());
    }
}
