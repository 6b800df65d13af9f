//! The priority-URL upload and report endpoints (multipart uploads do not fit a server function).
//!
//! `POST /admin/priority-urls/{account}/import` takes `multipart/form-data` with a `file` part and
//! optional `dry_run` and `format` parts, from a signed-in editor. A browser's plain form post
//! (`Accept: text/html`) is answered with a redirect back to the account page, which shows the batch or
//! the error; any other client (the page's script, curl) gets JSON and the status: 200 with the summary,
//! 413 over the size limit, 422 for a bad file, 400 for a malformed upload.
//! `GET /admin/priority-urls/{account}/batches/{batch}/report.csv` downloads a batch's report.

use app::server::audit::Actor;
use app::server::auth::CurrentUser;
use app::server::priority_urls::{self, queries, Format, ImportError, ImportRequest};
use app::server::AppState;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What a path segment may keep unencoded (account keys are letters, digits, `_ . : -`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Room for the multipart framing and the small fields around the file.
pub const FORM_OVERHEAD: usize = 64 * 1024;

/// How to answer: a browser form gets redirects, everything else JSON.
struct Answer {
    html: bool,
    account: String,
}

impl Answer {
    fn page(&self) -> String {
        format!("/admin/priority-urls/{}", utf8_percent_encode(&self.account, SEGMENT))
    }

    fn error(&self, status: StatusCode, message: String) -> Response {
        if self.html {
            let query = utf8_percent_encode(&message, NON_ALPHANUMERIC);
            Redirect::to(&format!("{}?import_error={query}#import", self.page())).into_response()
        } else {
            (status, Json(serde_json::json!({ "error": message }))).into_response()
        }
    }
}

pub async fn upload(
    State(state): State<AppState>,
    Path(account): Path<String>,
    user: Option<Extension<CurrentUser>>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let html = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/html") && !a.contains("application/json"));
    let answer = Answer { html, account };
    let Some(Extension(user)) = user else {
        return answer.error(StatusCode::UNAUTHORIZED, "your session has ended; sign in again".into());
    };
    let limit = state.priority_urls.limits.max_file_bytes;
    let too_large = || {
        answer.error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the file is over the size limit of {} MiB ({limit} bytes)", limit / (1024 * 1024)),
        )
    };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit + FORM_OVERHEAD) {
        return too_large();
    }
    let mut multipart = match multipart {
        Ok(m) => m,
        Err(rejection) => {
            return answer.error(
                StatusCode::BAD_REQUEST,
                format!("send the file as multipart/form-data with a `file` part ({})", rejection.body_text()),
            )
        }
    };
    let (mut file, mut dry_run, mut format) = (None, false, None);
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => return too_large(),
            Err(err) => {
                return answer.error(
                    StatusCode::BAD_REQUEST,
                    format!("the upload is incomplete or malformed: {}", err.body_text()),
                )
            }
        };
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let bytes = match field.bytes().await {
            Ok(bytes) => bytes,
            Err(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => return too_large(),
            Err(err) => {
                return answer.error(
                    StatusCode::BAD_REQUEST,
                    format!("the upload is incomplete or malformed: {}", err.body_text()),
                )
            }
        };
        match name.as_str() {
            "file" => file = Some((file_name.unwrap_or_default(), bytes)),
            "dry_run" => dry_run = matches!(&bytes[..], b"on" | b"true" | b"1"),
            "format" => {
                let text = String::from_utf8_lossy(&bytes).trim().to_owned();
                if !text.is_empty() {
                    match Format::parse(&text) {
                        Some(f) => format = Some(f),
                        None => {
                            return answer.error(
                                StatusCode::UNPROCESSABLE_ENTITY,
                                format!("unknown format {text:?}: use csv or jsonl"),
                            )
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let Some((file_name, bytes)) = file.filter(|(name, bytes)| !(name.is_empty() && bytes.is_empty())) else {
        return answer.error(StatusCode::UNPROCESSABLE_ENTITY, "choose a file to import".into());
    };
    if bytes.len() > limit {
        return too_large();
    }
    let request = ImportRequest { account: answer.account.clone(), file_name, format, dry_run, bytes };
    match priority_urls::import(&state.pool, &Actor::user(&user), &state.priority_urls.limits, request, &|_| {}).await {
        Ok(summary) => {
            // Compute the account's overview now, so the page the browser is sent to answers from the cache.
            let (pool, shared, account) = (state.pool.clone(), state.priority_urls.clone(), answer.account.clone());
            tokio::spawn(async move {
                if let Err(err) = queries::warm_overview(&pool, &shared, &account).await {
                    tracing::warn!(error = %err, "could not compute the account overview");
                }
            });
            let next = format!("{}?batch={}#import", answer.page(), summary.batch_id);
            if answer.html {
                Redirect::to(&next).into_response()
            } else {
                let mut body = serde_json::to_value(&summary).unwrap_or_default();
                body["redirect"] = serde_json::json!(next);
                Json(body).into_response()
            }
        }
        Err(err) => {
            let status = err.status();
            if let ImportError::Service(service) = &err {
                tracing::debug!(error = %service, "import refused");
            }
            answer.error(status, err.into_client_message())
        }
    }
}

pub async fn report(
    State(state): State<AppState>,
    Path((account, batch)): Path<(String, i64)>,
    user: Option<Extension<CurrentUser>>,
) -> Response {
    if user.is_none() {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    }
    match queries::report_csv(&state.pool, &account, batch).await {
        Ok(csv) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{account}-batch-{batch}-report.csv\"")),
            ],
            csv,
        )
            .into_response(),
        Err(err) => {
            err.log_if_internal();
            (err.status(), err.client_message()).into_response()
        }
    }
}
