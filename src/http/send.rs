//! `POST /v1/faxes`: a fax from a business application, through the same durable intake, dial
//! plan and sender limits as SMTP. `202 Accepted` with the job only after its commit.
//!
//! Two shapes: `multipart/form-data` with a `fax` part (JSON, below) and a part per document
//! (its file name kept), or `application/json` with the documents in base64. The request is at
//! most `smtp.max_message_size` (413 beyond). Refusals are problem documents: unknown fields
//! (400, named), a number the dial plan refuses (422 with 5.7.1 and the rule, 5.1.3 when it is
//! no number), a sender the token may not use (403), a full disk or a store down (503, 4.3.x).
//! A document that cannot be converted is found later, and fails its recipients naming it, as
//! by mail.
//!
//! An `Idempotency-Key` makes a retry safe: the key (per token) is the job's `source`, unique in
//! the store and written in the job's own transaction, with a hash of the request. The same key
//! and request again is the same job (`200`, `Idempotent-Replayed: true`), even when the two
//! race; the same key with another request is `409`. A key lives as long as its job.

use super::Api;
use super::auth::{Caller, authorize};
use super::problem::Problem;
use super::request::{FaxRequest, To, parse_json, plain_text};
use super::token::Scope;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use base64::Engine;
use faxhub_connectors::addressing::Refusal;
use faxhub_connectors::compose::Draft;
use faxhub_queue::Origin;
use faxhub_queue::dialplan::DialPlanError;
use faxhub_queue::intake::{IntakeError, Submission};
use faxhub_queue::status::EnhancedStatus;
use faxhub_queue::store::{JobView, NewRecipient};

fn bad_request(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, detail)
}

pub async fn create(
    State(api): State<Api>,
    headers: HeaderMap,
    request: Request,
) -> Result<Made, Problem> {
    let caller = authorize(&api, &headers, Scope::Send).await?;
    let key = idempotency_key(&headers)?;
    let Asked { fax, files, hash } = read(&api, request).await?;
    let source = key.map(|k| format!("api:{}:{k}", caller.token.id));
    if let Some(source) = &source
        && let Some(done) = replay(&api, source, &hash).await?
    {
        return Ok(done);
    }
    let prepared = prepare(&api, &caller, &fax, files)?;
    may_fax(&api, &prepared.sender).await?;
    let job = match queue(&api, prepared, source.clone(), Some(hash.clone())).await {
        Ok(job) => job,
        Err(e) => {
            // the same key, committed meanwhile by a request racing this one
            if let Some(source) = &source
                && let Some(done) = replay(&api, source, &hash).await?
            {
                return Ok(done);
            }
            return Err(intake_problem(e));
        }
    };
    tracing::info!(job = %job.id, token = %caller.token.id, "http: fax queued");
    Ok(made(job, StatusCode::ACCEPTED))
}

/// A fax checked and made into the message the intake keeps: its sender, numbers, subject.
pub(crate) struct Prepared {
    pub sender: String,
    pub recipients: Vec<NewRecipient>,
    pub subject: Option<String>,
    /// The message, as a mail with the same documents would be.
    pub message: Vec<u8>,
    pub billing: Option<String>,
    pub priority: faxhub_queue::schedule::Priority,
    pub send_at_ms: Option<i64>,
    /// A broadcast's bad rows, and its list's name.
    pub refused: Vec<faxhub_queue::store::RefusedRecipient>,
    pub list_part: Option<String>,
}

/// Checks `fax` for `caller` (sender, numbers through the dial plan, texts) and makes its
/// message with `files`; the first thing wrong is the answer.
pub(crate) fn prepare(
    api: &Api,
    caller: &Caller,
    fax: &FaxRequest,
    files: Vec<(String, Vec<u8>)>,
) -> Result<Prepared, Problem> {
    let sender = sender(api, caller, fax.sender.as_deref())?;
    let notify = fax.notify().map_err(bad_request)?;
    let mut recipients = match (&fax.list, fax.to.is_empty()) {
        (Some(_), true) => Vec::new(),
        _ => recipients(api, &fax.to)?,
    };
    let (refused, list_part) = match &fax.list {
        Some(list) => (
            broadcast(api, list, &mut recipients)?,
            Some(list.name.clone()),
        ),
        None => (Vec::new(), None),
    };
    for r in &mut recipients {
        r.notify = notify;
    }
    if files.is_empty() && fax.text.is_none() {
        return Err(bad_request("nothing to fax: no document and no text"));
    }
    // the subject given, or the documents' names; none for a text alone
    if let Some(subject) = &fax.subject {
        plain_text("subject", subject, MAX_TEXT).map_err(bad_request)?;
    }
    let subject = fax
        .subject
        .clone()
        .or_else(|| (!files.is_empty()).then(|| Draft::subject_of(&files)));
    let from = match &fax.from_name {
        Some(name) => {
            let name = plain_text("from_name", name, MAX_TEXT).map_err(bad_request)?;
            format!("\"{}\" <{sender}>", name.replace(['"', '\\'], ""))
        }
        None => sender.clone(),
    };
    let message = Draft {
        from,
        to: recipients
            .iter()
            .map(|r| match &r.display_name {
                Some(name) => format!("\"{}\" <{}>", name.replace(['"', '\\'], ""), r.address),
                None => r.address.clone(),
            })
            .collect(),
        subject: subject.clone().unwrap_or_default(),
        host: api.hostname.clone(),
        headers: fax.headers(),
        text: fax.text.clone(),
        files,
        ..Draft::default()
    }
    .build();
    let now = chrono::Utc::now().timestamp_millis();
    let send_at_ms = match &fax.send_at {
        Some(at) => faxhub_queue::schedule::send_at(at, now).map_err(|e| {
            let detail = e.to_string().replace("X-Fax-Send-At", "send_at");
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail).with_code(EnhancedStatus::MEDIA)
        })?,
        None => None,
    };
    Ok(Prepared {
        sender,
        recipients,
        subject,
        message,
        billing: fax
            .billing
            .as_deref()
            .and_then(faxhub_queue::intake::billing_code),
        priority: match (fax.priority, &list_part) {
            (Some(p), _) => p.into(),
            // a broadcast goes after single faxes unless it asks otherwise
            (None, Some(_)) => faxhub_queue::schedule::Priority::Low,
            (None, None) => Default::default(),
        },
        send_at_ms,
        refused,
        list_part,
    })
}

/// A broadcast's list: its rows added to `recipients` (a number already there is not added
/// twice), its bad rows returned to be failed by name; 422 with 5.6.0 when it cannot be read or
/// no row can be faxed.
fn broadcast(
    api: &Api,
    list: &super::request::Document,
    recipients: &mut Vec<NewRecipient>,
) -> Result<Vec<faxhub_queue::store::RefusedRecipient>, Problem> {
    use faxhub_connectors::broadcast;
    let unprocessable = |detail: String| {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail).with_code(EnhancedStatus::MEDIA)
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(list.content.as_bytes())
        .map_err(|e| bad_request(format!("list ({}): not base64: {e}", list.name)))?;
    let rows = broadcast::read(&list.name, &bytes, api.max_broadcast)
        .map_err(|e| unprocessable(e.to_string()))?;
    let domain = api
        .addressing
        .fax_domains
        .first()
        .cloned()
        .unwrap_or_default();
    let resolved = broadcast::resolve(&api.addressing, &rows, &domain, (None, None));
    resolved
        .merge_into(recipients, &list.name)
        .map_err(unprocessable)
}

/// Whether `sender` may fax by the site's policy (`[ldap] fax_group`): 403 with 5.7.1 naming
/// it if not, 503 with 4.4.3 while the directory cannot say.
pub(crate) async fn may_fax(api: &Api, sender: &str) -> Result<(), Problem> {
    let Some(policy) = &api.fax_policy else {
        return Ok(());
    };
    match policy.may_fax(sender).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            tracing::info!(%sender, group = policy.group(), "http: a sender outside the fax group refused");
            Err(Problem::new(StatusCode::FORBIDDEN, policy.refusal())
                .with_code(EnhancedStatus::NOT_AUTHORIZED))
        }
        Err(e) => {
            tracing::warn!(error = %e, "http: the directory cannot say who may fax");
            Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the directory cannot be reached to say who may fax: try again later",
            )
            .with_code(EnhancedStatus::DIRECTORY_DOWN))
        }
    }
}

/// Queues a prepared fax through the durable intake: the job as committed. `source` and
/// `hash`: the idempotency key's, if any.
pub(crate) async fn queue(
    api: &Api,
    prepared: Prepared,
    source: Option<String>,
    hash: Option<String>,
) -> Result<JobView, IntakeError> {
    let Prepared {
        sender,
        recipients,
        subject,
        message,
        billing,
        priority,
        send_at_ms,
        refused,
        list_part,
    } = prepared;
    let submission = Submission {
        origin: Origin::Api,
        return_path: sender.clone(),
        from_header: Some(sender),
        subject,
        env_id: None,
        ret: None,
        recipients,
        request_hash: source.as_ref().and(hash),
        billing,
        priority,
        send_at_ms,
        source,
        refused,
        list_part,
    };
    api.intake.accept_viewed(submission, message).await
}

/// The answer naming a job: `202` once it is committed (the job as committed), `200` (marked
/// replayed) when a key found it again (as the store has it now); its `Location` and the job
/// as `GET /v1/faxes/{id}` shows it.
fn made(job: JobView, status: StatusCode) -> Made {
    let mut out = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/faxes/{}", job.id)) {
        out.insert(header::LOCATION, location);
    }
    if status == StatusCode::OK {
        out.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    (status, out, Json(job))
}

type Made = (StatusCode, HeaderMap, Json<JobView>);

/// The `Idempotency-Key` header, if given: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            bad_request("Idempotency-Key: 1 to 255 visible ASCII characters, no spaces")
        })?;
    Ok(Some(key.to_string()))
}

/// The answer to a request whose key was used already: the same job (`200`, marked replayed)
/// for the same request, `409` for another one.
async fn replay(api: &Api, source: &str, hash: &str) -> Result<Option<Made>, Problem> {
    let Some((id, stored)) = api
        .store
        .job_and_hash_by_source(source)
        .await
        .map_err(Problem::unavailable)?
    else {
        return Ok(None);
    };
    if stored.as_deref() != Some(hash) {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            format!("this Idempotency-Key was used for another request (fax {id})"),
        ));
    }
    let job = api
        .store
        .job(&id)
        .await
        .map_err(Problem::unavailable)?
        .ok_or_else(|| Problem::unavailable(format!("job {id} of a key not found")))?;
    Ok(Some(made(job, StatusCode::OK)))
}

/// What a request asks for: the fax, its documents (name, bytes), and a hash of both (the same
/// for the same request, whatever multipart boundary it was sent with).
struct Asked {
    fax: FaxRequest,
    files: Vec<(String, Vec<u8>)>,
    hash: String,
}

/// SHA-256 of the parts, each preceded by its length.
fn hash_of(parts: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The request's fax and documents, whichever its shape.
async fn read(api: &Api, request: Request) -> Result<Asked, Problem> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let multipart = Multipart::from_request(request, api)
            .await
            .map_err(|e| rejected(api, e.status(), e.body_text()))?;
        return read_multipart(api, multipart).await;
    }
    if !content_type.starts_with("application/json") {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send multipart/form-data (a fax part and the documents) or application/json",
        ));
    }
    let body = Bytes::from_request(request, api)
        .await
        .map_err(|e| rejected(api, e.status(), e.body_text()))?;
    let mut fax: FaxRequest = parse_json("the JSON body", &body).map_err(bad_request)?;
    let hash = hash_of(&[b"json", &body]);
    let mut files = Vec::new();
    for (i, doc) in std::mem::take(&mut fax.documents).into_iter().enumerate() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(doc.content.as_bytes())
            .map_err(|e| bad_request(format!("documents[{i}] ({}): not base64: {e}", doc.name)))?;
        files.push((doc.name, bytes));
    }
    Ok(Asked { fax, files, hash })
}

/// A body axum would not read: over the limit (413, 5.3.4, the limit named), or malformed.
fn rejected(api: &Api, status: StatusCode, text: String) -> Problem {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return Problem::new(
            status,
            format!(
                "the request is too large: at most {} bytes (smtp.max_message_size)",
                api.max_size
            ),
        )
        .with_code(EnhancedStatus::TOO_BIG);
    }
    Problem::new(status, text)
}

async fn read_multipart(api: &Api, mut multipart: Multipart) -> Result<Asked, Problem> {
    let part_error = |e: axum::extract::multipart::MultipartError| {
        rejected(
            api,
            e.status(),
            format!("the multipart body: {}", e.body_text()),
        )
    };
    let mut fax: Option<FaxRequest> = None;
    let mut list = None;
    let mut fax_bytes = Vec::new();
    let mut files = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(part_error)? {
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_string);
        let bytes = field.bytes().await.map_err(part_error)?;
        match (name.as_str(), file_name) {
            ("fax", None) => {
                if fax.is_some() {
                    return Err(bad_request("more than one fax part"));
                }
                let parsed: FaxRequest = parse_json("the fax part", &bytes).map_err(bad_request)?;
                if !parsed.documents.is_empty() {
                    return Err(bad_request(
                        "the fax part of a multipart request has no documents: send them as parts",
                    ));
                }
                fax = Some(parsed);
                fax_bytes = bytes.to_vec();
            }
            ("list", Some(file_name)) => {
                list = Some(super::request::Document {
                    name: file_name,
                    content: base64::engine::general_purpose::STANDARD.encode(&bytes),
                })
            }
            (_, Some(file_name)) => files.push((file_name, bytes.to_vec())),
            (other, None) => {
                return Err(bad_request(format!(
                    "part {other:?} is neither the fax part nor a file (no filename)"
                )));
            }
        }
    }
    let mut fax =
        fax.ok_or_else(|| bad_request("no fax part (JSON: to, sender, subject, text)"))?;
    if list.is_some() {
        fax.list = list;
    }
    let mut parts: Vec<&[u8]> = vec![b"multipart", &fax_bytes];
    if let Some(list) = &fax.list {
        parts.extend([list.name.as_bytes(), list.content.as_bytes()]);
    }
    for (name, bytes) in &files {
        parts.extend([name.as_bytes(), bytes.as_slice()]);
    }
    let hash = hash_of(&parts);
    Ok(Asked { fax, files, hash })
}

/// Who the fax is from: a bound token's sender (another one asked for is refused), or the one
/// given, which must be one of the site's addresses (`local_domains`), as a mail's must.
fn sender(api: &Api, caller: &Caller, asked: Option<&str>) -> Result<String, Problem> {
    let refused = |detail: String| {
        Problem::new(StatusCode::FORBIDDEN, detail).with_code(EnhancedStatus::NOT_AUTHORIZED)
    };
    if let Some(own) = &caller.token.sender {
        return match asked {
            Some(other) if !other.eq_ignore_ascii_case(own) => Err(refused(format!(
                "token {} sends as {own} only",
                caller.token.id
            ))),
            _ => Ok(own.clone()),
        };
    }
    let asked = asked.ok_or_else(|| bad_request("sender is needed: receipts go there"))?;
    if faxhub_queue::senders::mailbox(asked).is_none() {
        return Err(bad_request(format!(
            "sender {asked:?} is not a mail address"
        )));
    }
    if !api.local.contains(asked) {
        return Err(refused(format!(
            "sender {asked} is not at one of the site's domains (local_domains)"
        )));
    }
    Ok(asked.to_string())
}

/// The recipients of `to`, each read as SMTP's RCPT reads it (an address at a fax domain) or as
/// the dial plan reads a number; the first refused is the answer.
/// The longest subject or name taken (a header field's worth).
const MAX_TEXT: usize = 256;

fn recipients(api: &Api, to: &[To]) -> Result<Vec<NewRecipient>, Problem> {
    if to.is_empty() {
        return Err(bad_request("to: no number"));
    }
    let max = api.max_recipients;
    if to.len() > max {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("to: {} numbers, at most {max} per fax", to.len()),
        ));
    }
    let domain = api
        .addressing
        .fax_domains
        .first()
        .cloned()
        .unwrap_or_default();
    let unprocessable = |refusal: &Refusal| {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, refusal.to_string())
            .with_code(refusal.status())
    };
    let mut out: Vec<NewRecipient> = Vec::new();
    for entry in to {
        let raw = entry.number();
        let mut recipient = if raw.contains('@') {
            api.addressing
                .recipient_of(raw)
                .map_err(|r| unprocessable(&r))?
        } else {
            let number = api.addressing.dialplan.parse(raw).map_err(|e| {
                let code = match e {
                    DialPlanError::Malformed { .. } => EnhancedStatus::BAD_NUMBER,
                    _ => EnhancedStatus::NOT_AUTHORIZED,
                };
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{raw:?}: {e}"))
                    .with_code(code)
            })?;
            NewRecipient {
                address: format!("{number}@{domain}"),
                number,
                display_name: None,
                subaddress: None,
                notify: None,
                orcpt: None,
                list_row: None,
                company: None,
            }
        };
        if let Some(name) = entry.name() {
            let name = plain_text("to: name", name, MAX_TEXT).map_err(bad_request)?;
            recipient.display_name = Some(name.to_string());
        }
        if out.iter().all(|r| r.number != recipient.number) {
            out.push(recipient);
        }
    }
    Ok(out)
}

/// A job not made: the intake's temporary faults, as 503 with their codes.
pub(crate) fn intake_problem(e: IntakeError) -> Problem {
    let code = match &e {
        IntakeError::Full(_) => EnhancedStatus::SYSTEM_FULL,
        _ => EnhancedStatus::SYSTEM_TRANSIENT,
    };
    tracing::warn!(error = %e, "http: a fax could not be queued");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the fax was not queued: {e}; try again later"),
    )
    .with_code(code)
}
