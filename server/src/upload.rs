//! What the file-import endpoints share (priority URLs, customers): reading a `multipart/form-data`
//! upload, and answering a browser's plain form with a redirect back to its page (the page shows the batch
//! or the error) and any other client with JSON and the status.

use axum::body::Bytes;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::collections::HashMap;

/// What a path segment may keep unencoded.
pub const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Room for the multipart framing and the small fields around the file.
pub const FORM_OVERHEAD: usize = 64 * 1024;

/// How to answer: a browser form gets redirects to `page`, everything else JSON.
pub struct Answer {
    pub html: bool,
    /// The page the form is on, e.g. `/admin/organizations`.
    pub page: String,
}

impl Answer {
    pub fn new(headers: &HeaderMap, page: String) -> Self {
        let html = headers
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("text/html") && !a.contains("application/json"));
        Self { html, page }
    }

    /// The page with `query` (already encoded), at its import section.
    pub fn redirect(&self, query: &str) -> Redirect {
        Redirect::to(&format!("{}?{query}#import", self.page))
    }

    pub fn error(&self, status: StatusCode, message: String) -> Response {
        if self.html {
            let query = utf8_percent_encode(&message, NON_ALPHANUMERIC);
            self.redirect(&format!("import_error={query}")).into_response()
        } else {
            (status, Json(serde_json::json!({ "error": message }))).into_response()
        }
    }
}

/// The parts of an upload: the `file` part (its name and bytes) and every other field as text.
#[derive(Debug, Default)]
pub struct Upload {
    pub file: Option<(String, Bytes)>,
    pub fields: HashMap<String, String>,
}

impl Upload {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// The file, unless the form was sent without choosing one.
    pub fn chosen_file(self) -> Option<(String, Bytes)> {
        self.file.filter(|(name, bytes)| !(name.is_empty() && bytes.is_empty()))
    }
}

/// Why an upload could not be read.
pub enum UploadError {
    /// Over the body limit.
    TooLarge,
    /// Not multipart, or cut short; the message says which.
    Malformed(String),
}

/// Reads every part of a `multipart/form-data` upload.
pub async fn read(multipart: Result<Multipart, MultipartRejection>) -> Result<Upload, UploadError> {
    let mut multipart = multipart.map_err(|rejection| {
        UploadError::Malformed(format!(
            "send the file as multipart/form-data with a `file` part ({})",
            rejection.body_text()
        ))
    })?;
    let broken = |err: axum::extract::multipart::MultipartError| {
        if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
            UploadError::TooLarge
        } else {
            UploadError::Malformed(format!("the upload is incomplete or malformed: {}", err.body_text()))
        }
    };
    let mut upload = Upload::default();
    while let Some(field) = multipart.next_field().await.map_err(broken)? {
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let bytes = field.bytes().await.map_err(broken)?;
        if name == "file" {
            upload.file = Some((file_name.unwrap_or_default(), bytes));
        } else {
            upload.fields.insert(name, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    Ok(upload)
}

/// Whether the declared body is already over `limit` (plus the form's framing).
pub fn declared_too_large(headers: &HeaderMap, limit: usize) -> bool {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > limit + FORM_OVERHEAD)
}
