//! `faxhub send --to NUMBER… [--from ADDR] [--subject S] FILE…`: builds a MIME message with the
//! files attached and queues it through the same durable intake as SMTP (works with or without a
//! running daemon, which picks the job up within its poll interval). Bad numbers and unreadable
//! files are refused before anything is queued, with a one-line message and exit code 2. With
//! `--wait` it then follows the job until it is finished (`watch`).

use crate::Failure;
use crate::cli::SendArgs;
use crate::config::{Checked, Config};
use faxhub_queue::Origin;
use faxhub_queue::intake::{Intake, Submission};
use faxhub_queue::store::NewRecipient;
use std::sync::Arc;

pub async fn run(config: &Config, checked: &Checked, args: SendArgs) -> Result<(), Failure> {
    let mut recipients: Vec<NewRecipient> = Vec::new();
    let domain = config.smtp.fax_domains.first().cloned().unwrap_or_default();
    for to in &args.to {
        let number = checked
            .dialplan
            .parse(to)
            .map_err(|e| Failure::Usage(e.to_string()))?;
        if recipients.iter().all(|r| r.number != number) {
            recipients.push(NewRecipient {
                number: number.clone(),
                address: format!("{}@{domain}", number),
                display_name: None,
                subaddress: None,
                notify: None,
                orcpt: None,
                refused: None,
            });
        }
    }
    let mut files = Vec::new();
    for path in &args.files {
        let bytes =
            std::fs::read(path).map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "document".into());
        files.push((name, bytes));
    }
    let host = crate::serve::hostname(config);
    let from = args.from.clone().unwrap_or_else(|| {
        format!(
            "{}@{host}",
            std::env::var("USER").unwrap_or_else(|_| "root".into())
        )
    });
    let subject = args.subject.clone().unwrap_or_else(|| {
        files
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    });
    let to_header = recipients
        .iter()
        .map(|r| r.address.clone())
        .collect::<Vec<_>>()
        .join(", ");
    let message = build_message(&from, &to_header, &subject, &host, &files);

    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| Failure::Runtime(format!("{}: {e}", config.data_dir.display())))?;
    let (store, spool) = crate::serve::open_queue(config).await?;
    let intake = Intake::start(spool, store.clone(), Arc::new(tokio::sync::Notify::new()));
    let submission = Submission {
        origin: Origin::Cli,
        return_path: from.clone(),
        from_header: Some(from),
        subject: Some(subject),
        env_id: None,
        ret: None,
        recipients,
        source: None,
    };
    let id = intake
        .accept(submission, message)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    println!("{id}");
    if args.wait {
        return crate::watch::follow(&store, &id).await;
    }
    Ok(())
}

/// A multipart/mixed message with each file as a base64 attachment.
fn build_message(
    from: &str,
    to: &str,
    subject: &str,
    host: &str,
    files: &[(String, Vec<u8>)],
) -> Vec<u8> {
    let boundary = format!(
        "faxhub-{}",
        faxhub_queue::JobId::generate(faxhub_queue::job::now_ms())
    );
    let date = chrono::Utc::now().to_rfc2822();
    let message_id = format!(
        "<{}@{host}>",
        faxhub_queue::JobId::generate(faxhub_queue::job::now_ms())
    );
    let mut m = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {}\r\nDate: {date}\r\nMessage-ID: {message_id}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n",
        header_text(subject)
    );
    for (name, bytes) in files {
        let ctype = content_type(name, bytes);
        m.push_str(&format!(
            "--{boundary}\r\nContent-Type: {ctype}; name=\"{0}\"\r\nContent-Disposition: attachment; filename=\"{0}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n",
            name.replace(['"', '\\', '\r', '\n'], "_")
        ));
        m.push_str(&base64_lines(bytes));
    }
    m.push_str(&format!("--{boundary}--\r\n"));
    m.into_bytes()
}

fn content_type(name: &str, bytes: &[u8]) -> &'static str {
    let lower = name.to_ascii_lowercase();
    if bytes.starts_with(b"%PDF-") || lower.ends_with(".pdf") {
        "application/pdf"
    } else if lower.ends_with(".txt") || lower.ends_with(".text") {
        "text/plain; charset=utf-8"
    } else if lower.ends_with(".html") || lower.ends_with(".htm") {
        "text/html; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

/// RFC 2047 encoding for a non-ASCII subject.
fn header_text(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.is_ascii() {
        clean
    } else {
        format!("=?utf-8?b?{}?=", base64(clean.as_bytes()))
    }
}

fn base64_lines(bytes: &[u8]) -> String {
    let encoded = base64(bytes);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 38 + 2);
    for chunk in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).expect("invariant: base64 is ASCII"));
        out.push_str("\r\n");
    }
    out
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_parses_back() {
        let m = build_message(
            "a@x",
            "0169293999@fax.localhost",
            "Tarif été",
            "host",
            &[("a.pdf".into(), b"%PDF-1.4 x".to_vec())],
        );
        let parsed = mail_parser::MessageParser::default().parse(&m).unwrap();
        assert_eq!(parsed.subject(), Some("Tarif été"));
        let att = parsed.attachments().next().unwrap();
        assert_eq!(att.contents(), b"%PDF-1.4 x");
    }
}
