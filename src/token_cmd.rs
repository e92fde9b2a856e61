//! `faxhub token create|list|revoke`: the HTTP API's tokens. A token is printed once, when it
//! is made; the store keeps a hash of it (`http::token`).

use crate::Failure;
use crate::cli::TokenAction;
use crate::config::Config;
use crate::http::token;

pub async fn run(config: &Config, action: TokenAction) -> Result<(), Failure> {
    let store = crate::daemon::open_store(config).await?;
    let runtime = |e: faxhub_queue::store::StoreError| Failure::Runtime(e.to_string());
    match action {
        TokenAction::Create {
            scope,
            sender,
            name,
        } => {
            let scopes = token::parse_scopes(&scope).map_err(Failure::Usage)?;
            if let Some(sender) = &sender
                && !is_address(sender)
            {
                return Err(Failure::Usage(format!(
                    "--sender: {sender:?} is not a mail address"
                )));
            }
            let issued = token::issue(&scopes, sender, name, faxhub_queue::job::now_ms());
            store.create_token(&issued.row).await.map_err(runtime)?;
            println!("{}", issued.token);
            eprintln!(
                "token {} ({}): shown this once, faxhub keeps only its hash",
                issued.row.id, issued.row.scopes
            );
            Ok(())
        }
        TokenAction::List { json } => {
            let tokens = store.tokens().await.map_err(runtime)?;
            if json {
                let text = serde_json::to_string_pretty(&tokens)
                    .map_err(|e| Failure::Runtime(e.to_string()))?;
                println!("{text}");
                return Ok(());
            }
            if tokens.is_empty() {
                println!("No tokens");
            }
            for t in tokens {
                println!(
                    "{}  {:<16} {:<24} {}{}",
                    t.id,
                    t.scopes,
                    t.sender.as_deref().unwrap_or("(any sender)"),
                    t.name.as_deref().unwrap_or(""),
                    if t.revoked_at_ms.is_some() {
                        "  revoked"
                    } else {
                        ""
                    }
                );
            }
            Ok(())
        }
        TokenAction::Revoke { id } => {
            if store
                .revoke_token(&id, faxhub_queue::job::now_ms())
                .await
                .map_err(runtime)?
            {
                // a running node may use a copy of the token read just before: by now none does
                tokio::time::sleep(crate::http::auth::FRESH).await;
                println!("token {id} revoked");
                Ok(())
            } else {
                Err(Failure::Runtime(format!("no token {id} to revoke")))
            }
        }
    }
}

/// Whether `s` is a plain mailbox (`senders::mailbox`, as senders are checked everywhere) of
/// at most 254 characters (RFC 5321's path limit).
fn is_address(s: &str) -> bool {
    s.len() <= 254 && faxhub_queue::senders::mailbox(s).is_some()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bound_sender_must_be_an_address() {
        for good in ["alice@example.com", "a.b+fax@sub.example.org"] {
            assert!(super::is_address(good), "{good}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "a@b@c",
            "a b@c",
            "a\n@c",
            &long,
        ] {
            assert!(!super::is_address(bad), "{bad:?}");
        }
    }
}
