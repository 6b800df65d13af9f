//! The customer import form of `/admin/organizations` and its report download.
//!
//! `POST /admin/organizations/customers/import` takes `multipart/form-data` with a `file` part (CSV:
//! `key,name,organization`) from a signed-in editor; a browser's plain form post is answered with a
//! redirect back to the page, which shows the import or the error; any other client gets JSON. Scripts
//! can also send the CSV itself to `POST /api/admin/customers/import`.
//! `GET /admin/organizations/customers/imports/{id}/report.csv` downloads an import's report.

use crate::upload::{self, Answer, UploadError};
use app::server::audit::Actor;
use app::server::auth::CurrentUser;
use app::server::registry;
use app::server::AppState;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

pub async fn upload(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let answer = Answer::new(&headers, "/admin/organizations".to_owned());
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
    let Some((file_name, bytes)) = form.chosen_file() else {
        return answer.error(StatusCode::UNPROCESSABLE_ENTITY, "choose a file to import".into());
    };
    match registry::import::import(&state.pool, &Actor::user(&user), &file_name, &bytes, limit).await {
        Ok(report) if answer.html => answer.redirect(&format!("import={}", report.batch.id)).into_response(),
        Ok(report) => Json(report).into_response(),
        Err(err) => {
            let status = err.status();
            answer.error(status, err.into_client_message())
        }
    }
}

pub async fn report(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    user: Option<Extension<CurrentUser>>,
) -> Response {
    if user.is_none() {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    }
    match registry::import::report_csv(&state.pool, id).await {
        Ok(csv) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"customers-import-{id}-report.csv\"")),
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
