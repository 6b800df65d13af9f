//! A small client of a running Rollgate's HTTP APIs, shared by the operator commands (`verify`,
//! `rollback`). They never touch PostgreSQL: every read and write goes through the API, so every change
//! is checked and audited exactly as if it came from the browser, under the token's user.

use app::model::{FlagListPage, FlagRow};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A token given on the command line or in the environment. Its `Debug` never shows it, so neither
/// can a log line or an error message that prints the arguments.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

impl FromStr for Secret {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        if trimmed.is_empty() {
            return Err("the token is empty".to_owned());
        }
        Ok(Self(trimmed.to_owned()))
    }
}

/// What went wrong with one request, saying which request.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error (`{"error", "message", "details"?}`).
    #[error("{method} {path}: {status} {code}: {message}")]
    Api { method: Method, path: String, status: StatusCode, code: String, message: String },
    /// The server could not be reached, or did not answer in time.
    #[error("{method} {url}: {reason}")]
    Transport { method: Method, url: String, reason: String },
    /// The server answered 2xx with something that is not what this command expects.
    #[error("{method} {path}: unexpected answer: {reason}")]
    Decode { method: Method, path: String, reason: String },
}

impl ClientError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The API's error code (`CONFLICT`, `UNAUTHORIZED`...), when the server answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The server's message alone, without the request (for a report that already names it).
    pub fn short(&self) -> String {
        match self {
            Self::Api { status, code, message, .. } => format!("{} {code}: {message}", status.as_u16()),
            Self::Transport { reason, .. } | Self::Decode { reason, .. } => reason.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: String,
    message: String,
}

/// An error answer (`{"error", "message"}`, or whatever text came back) as a [`ClientError::Api`].
fn api_error(method: Method, path: &str, status: StatusCode, text: &str) -> ClientError {
    let (code, message) = match serde_json::from_str::<ErrorBody>(text) {
        Ok(e) => (e.error, e.message),
        Err(_) => (
            status.canonical_reason().unwrap_or("ERROR").to_uppercase().replace(' ', "_"),
            text.chars().take(200).collect(),
        ),
    };
    ClientError::Api { method, path: path.to_owned(), status, code, message }
}

/// Characters escaped in a path segment: everything but letters, digits and `-_.~`.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// One path segment (a flag key, an environment), escaped.
pub fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

/// A client for one Rollgate, with one token (or none, for `/healthz` and `/readyz`).
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: Option<Secret>,
    timeout: Duration,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient").field("base", &self.base).field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl ApiClient {
    /// A client for the Rollgate at `base_url` (`http://host:port`, or with a path prefix behind a proxy).
    /// Every request gives up after `timeout`.
    pub fn new(base_url: &str, token: Option<Secret>, timeout: Duration) -> anyhow::Result<Self> {
        let base = base_url.trim().trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base).map_err(|e| anyhow::anyhow!("--url {base:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            anyhow::bail!("--url {base:?}: give an http:// or https:// address, e.g. http://localhost:3000");
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("rollgate-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("setting up the HTTP client: {e}"))?;
        Ok(Self { http, base, token, timeout })
    }

    /// The same server with another token (e.g. an evaluate token for the latency check).
    pub fn with_token(&self, token: Option<Secret>) -> Self {
        Self { token, ..self.clone() }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => builder.bearer_auth(token.expose()),
            None => builder,
        }
    }

    fn transport(&self, method: &Method, path: &str, err: &reqwest::Error) -> ClientError {
        let reason = if err.is_timeout() {
            format!("no answer within {} s", self.timeout.as_secs_f64())
        } else {
            // reqwest's own text repeats the URL; its causes say what happened ("connection refused").
            let mut causes = Vec::new();
            let mut source = std::error::Error::source(err);
            while let Some(cause) = source {
                causes.push(cause.to_string());
                source = cause.source();
            }
            match causes.last() {
                Some(root) if err.is_connect() => format!("cannot connect: {root}"),
                Some(root) => root.clone(),
                None => err.to_string(),
            }
        };
        ClientError::Transport { method: method.clone(), url: format!("{}{path}", self.base), reason }
    }

    /// Sends one request and returns the status and body as text, whatever the status.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(StatusCode, String), ClientError> {
        let mut request = self.request(method.clone(), path);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.transport(&method, path, &e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| self.transport(&method, path, &e))?;
        Ok((status, text))
    }

    /// Sends one request and decodes a 2xx answer; anything else becomes a [`ClientError::Api`].
    pub async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ClientError> {
        let (status, text) = self.send_raw(method.clone(), path, body).await?;
        if !status.is_success() {
            return Err(api_error(method, path, status, &text));
        }
        serde_json::from_str(&text).map_err(|e| ClientError::Decode {
            method,
            path: path.to_owned(),
            reason: format!("{e} (is {} a Rollgate server of this version?)", self.base),
        })
    }

    /// Sends a text body (e.g. YAML) and returns the status and body as text, whatever the status.
    pub async fn send_text_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<(String, &'static str)>,
    ) -> Result<(StatusCode, String), ClientError> {
        let mut request = self.request(method.clone(), path);
        if let Some((body, content_type)) = body {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type).body(body);
        }
        let response = request.send().await.map_err(|e| self.transport(&method, path, &e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| self.transport(&method, path, &e))?;
        Ok((status, text))
    }

    /// A 2xx answer's body as text; anything else becomes a [`ClientError::Api`].
    pub async fn text(
        &self,
        method: Method,
        path: &str,
        body: Option<(String, &'static str)>,
    ) -> Result<String, ClientError> {
        let (status, text) = self.send_text_raw(method.clone(), path, body).await?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(api_error(method, path, status, &text))
        }
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.send(Method::GET, path, None).await
    }

    /// Every live flag with its state in every environment, reading all pages; with `phase`, only that
    /// phase's flags. The environments and phases come from the first page.
    pub async fn all_flags(&self, phase: Option<&str>) -> Result<FlagListing, ClientError> {
        let per_page = app::model::FlagListQuery::MAX_PER_PAGE;
        let phase_param = phase.map(|p| format!("&phase={}", segment(p))).unwrap_or_default();
        let mut flags: Vec<FlagRow> = Vec::new();
        let mut page = 1u32;
        loop {
            let path = format!("/api/admin/feature-flags?per_page={per_page}&page={page}{phase_param}");
            let listed: FlagListPage = self.get(&path).await?;
            let done = listed.flags.len() < per_page as usize
                || i64::try_from(flags.len() + listed.flags.len()).unwrap_or(i64::MAX) >= listed.total;
            flags.extend(listed.flags);
            if done {
                return Ok(FlagListing { environments: listed.environments, phases: listed.phases, flags });
            }
            page += 1;
        }
    }
}

/// Every flag (of a phase, or of all), across all pages of the flag list.
#[derive(Debug, Clone)]
pub struct FlagListing {
    pub environments: Vec<app::model::EnvironmentView>,
    pub phases: Vec<app::model::PhaseView>,
    pub flags: Vec<FlagRow>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_in_debug_output() {
        let secret: Secret = " rgt_abcdefgh_supersecret ".parse().expect("a token parses");
        assert_eq!(secret.expose(), "rgt_abcdefgh_supersecret");
        assert!(!format!("{secret:?}").contains("supersecret"));
        assert!("  ".parse::<Secret>().is_err());
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(segment("checkout_v2"), "checkout_v2");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn a_url_without_a_scheme_is_refused_with_an_example() {
        let err = ApiClient::new("localhost:3000", None, Duration::from_secs(1)).expect_err("no scheme");
        assert!(err.to_string().contains("http://"), "{err}");
        assert!(ApiClient::new("http://localhost:3000/", None, Duration::from_secs(1)).is_ok());
    }
}
