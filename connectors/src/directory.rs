//! The site's directory (`[ldap]`: OpenLDAP, Active Directory): who a sender is (the name,
//! company and numbers a cover page shows), who owns which fax number (inbound routing), who may
//! sign in (a bind as the user) and who belongs to a group (the admins, those allowed to fax).
//!
//! Over `ldaps://`, or `ldap://` with StartTLS (`starttls = true`), the server's certificate
//! checked against `ca_file` or the system's CAs; plain `ldap://` only when `insecure = true`
//! says so (a directory on the same host). Every value put in a filter is escaped (RFC 4515),
//! a sign-in with an empty password is refused before the server is asked (an LDAP bind with
//! none succeeds as an anonymous one), and every operation has a time limit. A directory that
//! cannot be reached is a temporary fault (`DirectoryError::Unavailable`): the caller defers,
//! nothing is lost. `facsimileTelephoneNumber` has no equality rule in the standard schema, so
//! numbers are read by presence and matched here, at most `max_entries` of them.

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, ldap_escape};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// `[ldap]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldaps://host[:port]` or `ldap://host[:port]`.
    pub url: String,
    /// `ldap://` upgraded with StartTLS.
    #[serde(default)]
    pub starttls: bool,
    /// Plain `ldap://` without TLS: only for a directory on this host.
    #[serde(default)]
    pub insecure: bool,
    /// The CA the server's certificate is checked against (the system's CAs if left out).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Who faxhub binds as to search (anonymous if left out).
    #[serde(default)]
    pub bind_dn: Option<String>,
    #[serde(default)]
    pub bind_password: Option<String>,
    /// Where users are searched.
    pub base_dn: String,
    /// The filter finding a user by mail address; `{mail}` stands for it (escaped).
    #[serde(default = "default_mail_filter")]
    pub mail_filter: String,
    /// The filter finding a user by sign-in name; `{login}` stands for it (escaped).
    #[serde(default = "default_login_filter")]
    pub login_filter: String,
    /// The attribute holding a user's fax number (the DID routed to them).
    #[serde(default = "default_fax_attribute")]
    pub fax_attribute: String,
    /// Users read at most when numbers are looked for.
    #[serde(default = "default_max_entries")]
    pub max_entries: usize,
    /// How long an operation may take.
    #[serde(
        default = "default_timeout",
        with = "faxhub_queue::units::serde_duration"
    )]
    pub timeout: Duration,
    /// Only members of this group (its DN) may fax: others get `550 5.7.1` at MAIL. Everyone
    /// if left out.
    #[serde(default)]
    pub fax_group: Option<String>,
    /// How long what was read (who owns which fax number) is used before it is read again.
    #[serde(
        default = "default_cache_ttl",
        with = "faxhub_queue::units::serde_duration"
    )]
    pub cache_ttl: Duration,
}

fn default_mail_filter() -> String {
    "(&(objectClass=inetOrgPerson)(mail={mail}))".into()
}
fn default_login_filter() -> String {
    "(&(objectClass=inetOrgPerson)(uid={login}))".into()
}
fn default_fax_attribute() -> String {
    "facsimileTelephoneNumber".into()
}
fn default_max_entries() -> usize {
    10_000
}
fn default_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_cache_ttl() -> Duration {
    Duration::from_secs(300)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DirectoryError {
    /// The directory cannot be asked now: try again later.
    #[error("the directory cannot be reached: {0}")]
    Unavailable(String),
    /// The configuration cannot work.
    #[error("ldap: {0}")]
    Config(String),
}

/// A user, as the directory has them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirUser {
    pub dn: String,
    pub mail: Option<String>,
    /// `displayName`, else `cn`.
    pub name: Option<String>,
    /// `o`, else `company` (Active Directory).
    pub company: Option<String>,
    pub phone: Option<String>,
    pub fax: Option<String>,
}

const USER_ATTRIBUTES: &[&str] = &[
    "mail",
    "displayName",
    "cn",
    "o",
    "company",
    "telephoneNumber",
];

#[derive(Clone)]
pub struct Directory {
    config: LdapConfig,
}

impl Directory {
    pub fn config(&self) -> &LdapConfig {
        &self.config
    }
}

impl LdapConfig {
    /// What can be checked before start-up.
    pub fn validate(&self) -> Result<(), String> {
        let url = self.url.to_ascii_lowercase();
        let secure = url.starts_with("ldaps://") || (url.starts_with("ldap://") && self.starttls);
        if !url.starts_with("ldaps://") && !url.starts_with("ldap://") {
            return Err(format!("ldap.url {:?}: ldaps:// or ldap://", self.url));
        }
        if !secure && !self.insecure {
            return Err(format!(
                "ldap.url {:?}: passwords would cross the network in clear: use ldaps://, \
                 starttls = true, or insecure = true for a directory on this host",
                self.url
            ));
        }
        if !self.mail_filter.contains("{mail}") || !self.login_filter.contains("{login}") {
            return Err("ldap: mail_filter needs {mail} and login_filter {login}".into());
        }
        if self.bind_dn.is_some() != self.bind_password.is_some() {
            return Err("ldap: bind_dn and bind_password go together".into());
        }
        Ok(())
    }
}

impl Directory {
    pub fn new(config: LdapConfig) -> Result<Directory, DirectoryError> {
        config.validate().map_err(DirectoryError::Config)?;
        Ok(Directory { config })
    }

    /// A connection, bound as `bind_dn` (or anonymous).
    async fn connect(&self) -> Result<Ldap, DirectoryError> {
        let unavailable = |e: ldap3::LdapError| DirectoryError::Unavailable(e.to_string());
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.config.timeout)
            .set_starttls(self.config.starttls);
        let lower = self.config.url.to_ascii_lowercase();
        if lower.starts_with("ldaps://") || self.config.starttls {
            let tls = crate::relay::client_config(self.config.ca_file.as_deref(), "ldap.ca_file")
                .map_err(DirectoryError::Config)?;
            settings = settings.set_config(tls);
        }
        let (conn, mut ldap) = tokio::time::timeout(
            self.config.timeout,
            LdapConnAsync::with_settings(settings, &self.config.url),
        )
        .await
        .map_err(|_| DirectoryError::Unavailable("no answer in time".into()))?
        .map_err(unavailable)?;
        ldap3::drive!(conn);
        ldap.with_timeout(self.config.timeout);
        if let (Some(dn), Some(password)) = (&self.config.bind_dn, &self.config.bind_password) {
            ldap.with_timeout(self.config.timeout);
            ldap.simple_bind(dn, password)
                .await
                .map_err(unavailable)?
                .success()
                .map_err(|e| DirectoryError::Unavailable(format!("binding as {dn}: {e}")))?;
        }
        Ok(ldap)
    }

    /// Entries under `base_dn` matching `filter`, at most `limit`.
    async fn search(
        &self,
        filter: &str,
        attributes: &[&str],
        limit: usize,
    ) -> Result<Vec<SearchEntry>, DirectoryError> {
        let mut ldap = self.connect().await?;
        ldap.with_search_options(
            ldap3::SearchOptions::new().sizelimit(i32::try_from(limit).unwrap_or(i32::MAX)),
        );
        ldap.with_timeout(self.config.timeout);
        let found = ldap
            .search(
                &self.config.base_dn,
                Scope::Subtree,
                filter,
                attributes.to_vec(),
            )
            .await
            .map_err(|e| DirectoryError::Unavailable(e.to_string()))?;
        let _ = ldap.unbind().await;
        // a size limit reached (4) still gives the entries read
        let ldap3::SearchResult(entries, result) = found;
        if result.rc != 0 && result.rc != 4 {
            return Err(DirectoryError::Unavailable(format!(
                "search {filter}: {} {}",
                result.rc, result.text
            )));
        }
        Ok(entries.into_iter().map(SearchEntry::construct).collect())
    }

    /// The user whose mail address is `mail`, if exactly one.
    pub async fn user_by_mail(&self, mail: &str) -> Result<Option<DirUser>, DirectoryError> {
        let filter = self
            .config
            .mail_filter
            .replace("{mail}", &ldap_escape(mail));
        self.one_user(&filter).await
    }

    /// The user signing in as `login`, if exactly one.
    pub async fn user_by_login(&self, login: &str) -> Result<Option<DirUser>, DirectoryError> {
        let filter = self
            .config
            .login_filter
            .replace("{login}", &ldap_escape(login));
        self.one_user(&filter).await
    }

    async fn one_user(&self, filter: &str) -> Result<Option<DirUser>, DirectoryError> {
        let mut attributes = USER_ATTRIBUTES.to_vec();
        attributes.push(&self.config.fax_attribute);
        let mut found = self.search(filter, &attributes, 2).await?;
        // two users for one address or name: neither is taken
        Ok(match found.len() {
            1 => Some(self.user(found.remove(0))),
            _ => None,
        })
    }

    fn user(&self, entry: SearchEntry) -> DirUser {
        let first = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| entry.attrs.get(*n).and_then(|v| v.first()).cloned())
        };
        DirUser {
            mail: first(&["mail"]),
            name: first(&["displayName", "cn"]),
            company: first(&["o", "company"]),
            phone: first(&["telephoneNumber"]),
            fax: first(&[self.config.fax_attribute.as_str()]),
            dn: entry.dn,
        }
    }

    /// Whether `password` is `login`'s: a bind as the user found. `None` for no such user or a
    /// wrong password (alike); an empty password is refused without asking.
    pub async fn authenticate(
        &self,
        login: &str,
        password: &str,
    ) -> Result<Option<DirUser>, DirectoryError> {
        if password.is_empty() || login.is_empty() {
            return Ok(None);
        }
        let Some(user) = self.user_by_login(login).await? else {
            return Ok(None);
        };
        let mut ldap = self.connect().await?;
        let bound = ldap
            .simple_bind(&user.dn, password)
            .await
            .map_err(|e| DirectoryError::Unavailable(e.to_string()))?;
        let _ = ldap.unbind().await;
        Ok((bound.rc == 0).then_some(user))
    }

    /// Whether the entry `member_dn` is a member of group `group_dn` (`member` or
    /// `uniqueMember`).
    pub async fn is_member(&self, group_dn: &str, member_dn: &str) -> Result<bool, DirectoryError> {
        let member = ldap_escape(member_dn);
        let filter = format!("(|(member={member})(uniqueMember={member}))");
        let mut ldap = self.connect().await?;
        ldap.with_timeout(self.config.timeout);
        let found = ldap
            .search(group_dn, Scope::Base, &filter, vec!["1.1"])
            .await
            .map_err(|e| DirectoryError::Unavailable(e.to_string()))?;
        let _ = ldap.unbind().await;
        let ldap3::SearchResult(entries, result) = found;
        match result.rc {
            0 => Ok(!entries.is_empty()),
            // no such group: nobody is in it
            32 => Ok(false),
            rc => Err(DirectoryError::Unavailable(format!(
                "{group_dn}: {rc} {}",
                result.text
            ))),
        }
    }

    /// Every user's fax number with their mail address (those with both), at most
    /// `max_entries`.
    pub async fn fax_numbers(&self) -> Result<Vec<(String, String)>, DirectoryError> {
        let attribute = self.config.fax_attribute.clone();
        let filter = format!("(&(mail=*)({attribute}=*))");
        let entries = self
            .search(&filter, &["mail", &attribute], self.config.max_entries)
            .await?;
        let mut out = Vec::new();
        for entry in entries {
            let Some(mail) = entry.attrs.get("mail").and_then(|v| v.first()) else {
                continue;
            };
            for number in entry.attrs.get(&attribute).into_iter().flatten() {
                out.push((number.clone(), mail.clone()));
            }
        }
        Ok(out)
    }
}

/// Answers of the directory by key (a lower-cased address), each used `ttl` after it was read;
/// at most `MAX_ANSWERS` kept (more are asked each time until answers age out).
struct Answers<V> {
    ttl: std::time::Duration,
    kept: tokio::sync::Mutex<std::collections::HashMap<String, (tokio::time::Instant, V)>>,
}

/// Answers kept at most.
const MAX_ANSWERS: usize = 10_000;

impl<V: Clone> Answers<V> {
    fn new(ttl: std::time::Duration) -> Answers<V> {
        Answers {
            ttl,
            kept: Default::default(),
        }
    }

    /// The answer for `key`, from a copy younger than `ttl` or from `ask`.
    async fn get<F>(&self, key: &str, ask: F) -> Result<V, DirectoryError>
    where
        F: std::future::Future<Output = Result<V, DirectoryError>>,
    {
        let key = key.to_ascii_lowercase();
        let now = tokio::time::Instant::now();
        if let Some((at, answer)) = self.kept.lock().await.get(&key)
            && now.duration_since(*at) < self.ttl
        {
            return Ok(answer.clone());
        }
        let answer = ask.await?;
        let mut kept = self.kept.lock().await;
        if kept.len() >= MAX_ANSWERS {
            kept.retain(|_, (at, _)| now.duration_since(*at) < self.ttl);
        }
        if kept.len() < MAX_ANSWERS {
            kept.insert(key, (now, answer.clone()));
        }
        Ok(answer)
    }
}

/// Who may fax (`fax_group`), as asked at SMTP's MAIL: each sender's answer kept `cache_ttl`.
pub struct FaxPolicy {
    directory: Directory,
    group: String,
    asked: Answers<bool>,
}

impl FaxPolicy {
    /// The policy of `config`, if it names a group.
    pub fn new(config: &LdapConfig) -> Result<Option<FaxPolicy>, DirectoryError> {
        let Some(group) = config.fax_group.clone() else {
            return Ok(None);
        };
        Ok(Some(FaxPolicy {
            directory: Directory::new(config.clone())?,
            group,
            asked: Answers::new(config.cache_ttl),
        }))
    }

    /// The group, as the refusal names it.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// What a sender outside the group is told (with `5.7.1`), at SMTP and in reports.
    pub fn refusal(&self) -> String {
        format!(
            "Sender not allowed to fax: only members of {} may (the site's policy)",
            self.group
        )
    }

    /// Whether `sender` (a mail address) is a directory user in the group.
    pub async fn may_fax(&self, sender: &str) -> Result<bool, DirectoryError> {
        self.asked
            .get(sender, async {
                Ok(match self.directory.user_by_mail(sender).await? {
                    Some(user) => self.directory.is_member(&self.group, &user.dn).await?,
                    None => false,
                })
            })
            .await
    }
}

/// The senders as the directory describes them (name, company, phone, fax number), for their
/// cover pages: each kept `cache_ttl`.
pub struct Senders {
    directory: Directory,
    known: Answers<Option<DirUser>>,
}

impl Senders {
    pub fn new(directory: Directory) -> Senders {
        let ttl = directory.config().cache_ttl;
        Senders {
            directory,
            known: Answers::new(ttl),
        }
    }

    /// The directory's user with address `mail`, if one.
    pub async fn by_mail(&self, mail: &str) -> Result<Option<DirUser>, DirectoryError> {
        self.known
            .get(mail, self.directory.user_by_mail(mail))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> LdapConfig {
        LdapConfig {
            url: url.into(),
            starttls: false,
            insecure: false,
            ca_file: None,
            bind_dn: None,
            bind_password: None,
            base_dn: "dc=example,dc=com".into(),
            mail_filter: default_mail_filter(),
            login_filter: default_login_filter(),
            fax_attribute: default_fax_attribute(),
            max_entries: default_max_entries(),
            timeout: default_timeout(),
            cache_ttl: default_cache_ttl(),
            fax_group: None,
        }
    }

    #[test]
    fn a_directory_is_reached_over_tls_unless_said_otherwise() {
        assert_eq!(config("ldaps://dc.example.com").validate(), Ok(()));
        assert!(
            config("ldap://dc.example.com")
                .validate()
                .unwrap_err()
                .contains("in clear")
        );
        let starttls = LdapConfig {
            starttls: true,
            ..config("ldap://dc.example.com")
        };
        assert_eq!(starttls.validate(), Ok(()));
        let local = LdapConfig {
            insecure: true,
            ..config("ldap://127.0.0.1:389")
        };
        assert_eq!(local.validate(), Ok(()));
        assert!(config("http://x").validate().is_err());
        let half = LdapConfig {
            bind_dn: Some("cn=faxhub".into()),
            ..config("ldaps://x")
        };
        assert!(half.validate().unwrap_err().contains("go together"));
    }
}
