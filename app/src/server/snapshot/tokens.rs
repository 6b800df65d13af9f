//! API tokens as the evaluation path checks them, and the two promises it keeps about them:
//!
//! - **Printed means usable.** A token the snapshot does not know yet (made a moment ago, the snapshot
//!   not reloaded) is looked up in PostgreSQL before it is refused: at most [`LOOKUPS_PER_SECOND`] such
//!   lookups per process, and an unknown prefix is not asked about again for [`NEGATIVE_TTL`].
//! - **Revoked means refused.** What outlives a snapshot ([`TokenLife`], shared by prefix) carries a
//!   revoked flag that the snapshot worker sets as soon as the revocation's notification arrives, before
//!   the snapshot is reloaded, and that wakes the token's open event streams so they close.

use crate::domain::TokenScope;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Lookups of unknown tokens in PostgreSQL, per second and process: random tokens cannot load the database.
pub const LOOKUPS_PER_SECOND: u32 = 50;
/// How long a prefix PostgreSQL did not know is refused without asking again.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// Past this many remembered unknown prefixes the memory is cleared rather than grown.
const NEGATIVE_CAP: usize = 10_000;

/// An API token as the evaluation path checks it.
#[derive(Debug, Clone)]
pub struct TokenEntry {
    /// Decoded once here, so a request compares raw digests and never formats hex.
    pub secret_hash: [u8; 32],
    pub scope: TokenScope,
    pub environment: Option<String>,
    pub user_id: Option<i64>,
    /// Unrevoked and unexpired when it was read.
    pub usable: bool,
    /// A frontend token's web origins, lowercase (`*`: any).
    pub origins: Vec<String>,
    /// A frontend token's requests per second per process.
    pub rate_limit: Option<u32>,
    /// Shared with every later snapshot (see [`TokenLife`]).
    pub life: Arc<TokenLife>,
}

impl TokenEntry {
    /// The row as read from PostgreSQL; `None` when its stored hash or scope is corrupt.
    pub fn from_stored(row: &super::super::tokens::StoredToken) -> Option<Self> {
        let rate_limit = row.rate_limit.and_then(|r| u32::try_from(r).ok());
        Some(Self {
            secret_hash: super::super::tokens::parse_hash(&row.secret_hash)?,
            scope: row.scope.parse().ok()?,
            environment: row.environment.clone(),
            user_id: row.user_id,
            usable: row.usable,
            origins: row.origins.iter().map(|o| o.to_ascii_lowercase()).collect(),
            rate_limit,
            life: Arc::new(TokenLife::new(rate_limit)),
        })
    }

    /// Usable when read and not revoked since.
    pub fn is_live(&self) -> bool {
        self.usable && !self.life.is_revoked()
    }

    /// Whether a page on `origin` may use this (frontend) token.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }

    /// Whether this use should be written to `api_tokens.last_used_at`: at most once a minute per token and
    /// process, and only by the one request that wins the swap.
    pub fn claim_last_used_write(&self, now_ms: i64) -> bool {
        let last = &self.life.last_used_ms;
        let previous = last.load(Ordering::Relaxed);
        now_ms - previous >= 60_000
            && last.compare_exchange(previous, now_ms, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }
}

/// What a token carries from one snapshot to the next: its last recorded use, whether it has been revoked,
/// and its rate limiter.
#[derive(Debug)]
pub struct TokenLife {
    /// Unix milliseconds of the last use recorded in Postgres by this process (0: none yet).
    last_used_ms: AtomicI64,
    /// Read on every request; the watch below is for the streams that wait on it.
    revoked: AtomicBool,
    revoked_news: tokio::sync::watch::Sender<bool>,
    limiter: Option<DefaultDirectRateLimiter>,
}

impl TokenLife {
    pub fn new(rate_limit: Option<u32>) -> Self {
        let limiter = rate_limit.and_then(NonZeroU32::new).map(|rate| RateLimiter::direct(Quota::per_second(rate)));
        Self {
            last_used_ms: AtomicI64::new(0),
            revoked: AtomicBool::new(false),
            revoked_news: tokio::sync::watch::Sender::new(false),
            limiter,
        }
    }

    pub fn is_revoked(&self) -> bool {
        self.revoked.load(Ordering::Relaxed)
    }

    /// Refuses the token from now on and ends its open streams. A revocation is never undone.
    pub fn revoke(&self) {
        if !self.revoked.swap(true, Ordering::Relaxed) {
            self.revoked_news.send_replace(true);
        }
    }

    /// Resolves once the token is revoked (at once if it already is).
    pub fn revoked(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut news = self.revoked_news.subscribe();
        async move {
            // An error means the token's life was dropped: nothing will revoke it any more.
            if news.wait_for(|revoked| *revoked).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Takes one request from the token's rate; `Err` with how long until the next is allowed.
    pub fn take_request(&self) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        limiter.check().map_err(|not_until| {
            use governor::clock::Clock;
            not_until.wait_time_from(governor::clock::DefaultClock::default().now())
        })
    }
}

/// Why an unknown token could not be checked in PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("too many unknown tokens are being checked; retry in a second")]
    Busy,
    #[error("the database could not be asked about the token")]
    Database(#[from] sqlx::Error),
}

/// Tokens learnt from PostgreSQL since the snapshot was read, the prefixes it did not know, and the
/// budget of lookups.
#[derive(Debug)]
pub struct TokenLookups {
    late: RwLock<HashMap<String, Arc<TokenEntry>>>,
    unknown: Mutex<HashMap<String, Instant>>,
    budget: DefaultDirectRateLimiter,
}

impl Default for TokenLookups {
    fn default() -> Self {
        let rate = NonZeroU32::new(LOOKUPS_PER_SECOND).unwrap_or(NonZeroU32::MIN);
        Self {
            late: RwLock::default(),
            unknown: Mutex::default(),
            budget: RateLimiter::direct(Quota::per_second(rate)),
        }
    }
}

impl TokenLookups {
    /// A token learnt since the snapshot, if any.
    pub fn late(&self, prefix: &str) -> Option<Arc<TokenEntry>> {
        self.late.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(prefix).cloned()
    }

    pub fn remember(&self, prefix: String, entry: Arc<TokenEntry>) {
        self.unknown.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&prefix);
        self.late.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(prefix, entry);
    }

    /// Whether a live frontend token learnt since the snapshot lists `origin`.
    pub fn late_origin(&self, origin: &str) -> bool {
        let late = self.late.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        late.values().any(|t| t.scope == TokenScope::Frontend && t.is_live() && t.allows_origin(origin))
    }

    /// Forgets the late tokens a new snapshot holds itself.
    pub fn settle(&self, snapshot_tokens: &HashMap<String, TokenEntry>) {
        let mut late = self.late.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        late.retain(|prefix, _| !snapshot_tokens.contains_key(prefix));
    }

    /// Whether PostgreSQL said lately that it does not know this prefix.
    pub fn recently_unknown(&self, prefix: &str) -> bool {
        let unknown = self.unknown.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        unknown.get(prefix).is_some_and(|at| at.elapsed() < NEGATIVE_TTL)
    }

    pub fn note_unknown(&self, prefix: &str) {
        let mut unknown = self.unknown.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if unknown.len() >= NEGATIVE_CAP {
            unknown.retain(|_, at| at.elapsed() < NEGATIVE_TTL);
            if unknown.len() >= NEGATIVE_CAP {
                unknown.clear();
            }
        }
        unknown.insert(prefix.to_owned(), Instant::now());
    }

    /// Takes one lookup from the per-process budget.
    pub fn take_budget(&self) -> Result<(), LookupError> {
        self.budget.check().map_err(|_| LookupError::Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(origins: &[&str]) -> TokenEntry {
        TokenEntry {
            secret_hash: [0; 32],
            scope: TokenScope::Frontend,
            environment: Some("production".into()),
            user_id: None,
            usable: true,
            origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            rate_limit: Some(2),
            life: Arc::new(TokenLife::new(Some(2))),
        }
    }

    #[test]
    fn a_revoked_token_is_not_live_in_any_snapshot_that_shares_its_life() {
        let first = entry(&[]);
        let later = TokenEntry { life: Arc::clone(&first.life), ..entry(&[]) };
        first.life.revoke();
        assert!(!first.is_live());
        assert!(!later.is_live());
    }

    #[tokio::test]
    async fn revoking_wakes_whoever_waits_for_it() {
        let life = Arc::new(TokenLife::new(None));
        let waiting = tokio::spawn(life.revoked());
        life.revoke();
        tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("woken").expect("no panic");
        // And a stream opened after the revocation ends at once.
        tokio::time::timeout(Duration::from_secs(5), life.revoked()).await.expect("already revoked");
    }

    #[test]
    fn a_rate_limited_token_is_refused_past_its_rate_with_the_wait() {
        let life = TokenLife::new(Some(2));
        assert!(life.take_request().is_ok());
        assert!(life.take_request().is_ok());
        let wait = life.take_request().expect_err("the third request within a second");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(TokenLife::new(None).take_request().is_ok());
    }

    #[test]
    fn origins_match_exactly_or_by_a_typed_wildcard() {
        assert!(entry(&["https://app.example"]).allows_origin("https://app.example"));
        assert!(!entry(&["https://app.example"]).allows_origin("https://other.example"));
        assert!(entry(&["*"]).allows_origin("https://other.example"));
        assert!(!entry(&[]).allows_origin("https://app.example"));
    }

    #[test]
    fn an_unknown_prefix_is_remembered_for_a_short_while() {
        let lookups = TokenLookups::default();
        assert!(!lookups.recently_unknown("rgt_AAAAAAAA"));
        lookups.note_unknown("rgt_AAAAAAAA");
        assert!(lookups.recently_unknown("rgt_AAAAAAAA"));
        assert!(!lookups.recently_unknown("rgt_BBBBBBBB"));
    }
}
