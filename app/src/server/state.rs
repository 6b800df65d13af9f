//! The one state every handler and server function reads.

use leptos::config::LeptosOptions;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

/// Shared by the axum router and, through context, by every server function.
///
/// Every field is cheap to clone (a pool handle or an `Arc`): axum clones the state for every request and
/// every middleware that reads it.
#[derive(Clone, axum::extract::FromRef)]
pub struct AppState {
    #[from_ref(skip)]
    pub leptos_options: Arc<LeptosOptions>,
    pub pool: PgPool,
    pub security: Arc<SecurityConfig>,
    /// The configuration every evaluation reads; never Postgres per request.
    pub snapshot: Arc<super::snapshot::SnapshotHolder>,
    /// Priority URLs: the per-account cap, the largest import file, the account overviews computed.
    pub priority_urls: Arc<super::priority_urls::PriorityUrls>,
    /// When this process's guardrail worker last made a pass, for the health check.
    pub guardrail_worker: Arc<super::guardrails::worker::Pulse>,
}

/// Session and login settings.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// A session unused for this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after login, however busy.
    pub absolute_timeout: Duration,
    /// Failed logins per account within `throttle_window` before 429.
    pub max_failures_per_account: i32,
    /// Failed logins per client address within `throttle_window` before 429.
    pub max_failures_per_ip: i32,
    pub throttle_window: Duration,
    /// Mark cookies `Secure` (set when Rollgate is served over HTTPS).
    pub secure_cookies: bool,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(60 * 60 * 8),
            absolute_timeout: Duration::from_secs(60 * 60 * 24),
            max_failures_per_account: 10,
            max_failures_per_ip: 50,
            throttle_window: Duration::from_secs(15 * 60),
            secure_cookies: false,
            trust_forwarded_for: false,
        }
    }
}

/// For `leptos_axum`, which reads the options from the state when it renders a page.
impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        LeptosOptions::clone(&state.leptos_options)
    }
}
