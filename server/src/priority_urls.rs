//! The priority-URL upload and report endpoints (multipart uploads do not fit a server function).
//!
//! `POST /admin/priority-urls/{account}/import` takes `multipart/form-data` with a `file` part and
//! optional `dry_run` and `format` parts, from a signed-in editor. A browser's plain form post
//! (`Accept: text/html`) is answered with a redirect back to the account page, which shows the batch or
//! the error; any other client (the page's script, curl) gets JSON and the status: 200 with the summary,
//! 413 over the size limit, 422 for a bad file, 400 for a malformed upload.
//! `GET /admin/priority-urls/{account}/batches/{batch}/report.csv` downloads a batch's report.

use crate::upload::{self, Answer, UploadError, SEGMENT};
use app::server::audit::Actor;
use app::server::auth::CurrentUser;
use app::server::priority_urls::{self, queries, Format, ImportError, ImportRequest};
use app::server::AppState;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use percent_encoding::utf8_percent_encode;

pub use crate::upload::FORM_OVERHEAD;

pub async fn upload(
    State(state): State<AppState>,
    Path(account): Path<String>,
    user: Option<Extension<CurrentUser>>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let answer = Answer::new(&headers, format!("/admin/priority-urls/{}", utf8_percent_encode(&account, SEGMENT)));
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
    if upload::declared_too_large(&headers, limit) {
        return too_large();
    }
    let form = match upload::read(multipart).await {
        Ok(form) => form,
        Err(UploadError::TooLarge) => return too_large(),
        Err(UploadError::Malformed(message)) => return answer.error(StatusCode::BAD_REQUEST, message),
    };
    let dry_run = matches!(form.field("dry_run"), Some("on" | "true" | "1"));
    let format = match form.field("format") {
        None => None,
        Some(text) => match Format::parse(text) {
            Some(f) => Some(f),
            None => {
                return answer
                    .error(StatusCode::UNPROCESSABLE_ENTITY, format!("unknown format {text:?}: use csv or jsonl"))
            }
        },
    };
    let Some((file_name, bytes)) = form.chosen_file() else {
        return answer.error(StatusCode::UNPROCESSABLE_ENTITY, "choose a file to import".into());
    };
    if bytes.len() > limit {
        return too_large();
    }
    let request = ImportRequest { account: account.clone(), file_name, format, dry_run, bytes };
    match priority_urls::import(&state.pool, &Actor::user(&user), &state.priority_urls.limits, request, &|_| {}).await {
        Ok(summary) => {
            // Compute the account's overview now, so the page the browser is sent to answers from the cache.
            let (pool, shared, account) = (state.pool.clone(), state.priority_urls.clone(), account.clone());
            tokio::spawn(async move {
                if let Err(err) = queries::warm_overview(&pool, &shared, &account).await {
                    tracing::warn!(error = %err, "could not compute the account overview");
                }
            });
            let query = format!("batch={}", summary.batch_id);
            if answer.html {
                answer.redirect(&query).into_response()
            } else {
                let mut body = serde_json::to_value(&summary).unwrap_or_default();
                body["redirect"] = serde_json::json!(format!("{}?{query}#import", answer.page));
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
