//! API tokens: `evaluate` tokens for server applications (one environment), `frontend` tokens for browser
//! pages and apps (one environment, the flags visible to frontends, listed origins, a rate limit) and
//! `admin` tokens for scripts (acting as one user). Only a SHA-256 of the secret is stored; the secret is
//! shown once, at creation.
//!
//! A token reads `rgt_<8 chars>_<32 chars>`. The part before the second underscore is its prefix: unique,
//! not secret, shown in lists and used to find the row, after which the hashes are compared in constant
//! time so that response timing says nothing about how much of a guess was right.

use super::audit::{self, Actor, NewEvent};
use super::ServiceError;
use crate::domain::{AllowedOrigin, Email, EnvKey, RateLimit, Role};
use chrono::{DateTime, Utc};
use rand::distributions::{Alphanumeric, DistString};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use subtle::ConstantTimeEq;

pub use crate::domain::TokenScope;

/// A token to create, validated at the edge.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub scope: TokenScope,
    /// Required for `evaluate` and `frontend`, refused for `admin`.
    pub environment: Option<EnvKey>,
    /// Required for `admin` (the user the token acts as), refused for the others.
    pub user: Option<Email>,
    /// `frontend` only: the web origins whose pages may use it (none: native apps only).
    pub origins: Vec<AllowedOrigin>,
    /// `frontend` only: requests per second per server process (the default when left out).
    pub rate_limit: Option<RateLimit>,
}

/// A token just created: the only time its secret is known.
#[derive(Debug, Clone)]
pub struct CreatedToken {
    pub prefix: String,
    pub secret: String,
}

pub use crate::model::TokenRow;

/// The SHA-256 of the whole token.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// SHA-256 of the whole token, in lowercase hex: the form stored in `api_tokens.secret_hash`.
pub fn hash_secret(token: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    digest(token).iter().flat_map(|b| [HEX[usize::from(b >> 4)] as char, HEX[usize::from(b & 0xf)] as char]).collect()
}

/// Decodes a stored `secret_hash` (64 lowercase hex digits) back into the digest.
pub fn parse_hash(hex: &str) -> Option<[u8; 32]> {
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// The prefix of a well-formed token, `rgt_XXXXXXXX`.
pub fn prefix_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix("rgt_")?;
    let (id, secret) = rest.split_once('_')?;
    let well_formed =
        id.len() == 8 && secret.len() == 32 && id.bytes().chain(secret.bytes()).all(|b| b.is_ascii_alphanumeric());
    well_formed.then(|| &token[..12])
}

/// Compares a presented token with a stored digest in constant time.
pub fn matches(token: &str, stored: &[u8; 32]) -> bool {
    digest(token).ct_eq(stored).into()
}

/// The user an admin token acts as, checked against the database (not the snapshot), so that revoking
/// the token or disabling the user takes effect on the next request. `None` for anything that is not a
/// live admin token of an enabled user. Records the use at most once a minute.
pub async fn authenticate_admin(pool: &PgPool, token: &str) -> Result<Option<super::auth::CurrentUser>, ServiceError> {
    let Some(prefix) = prefix_of(token) else { return Ok(None) };
    let row = sqlx::query!(
        r#"select secret_hash, user_id as "user_id!"
           from api_tokens
           where prefix = $1 and scope = 'admin' and revoked_at is null and (expires_at is null or expires_at > now())
             and user_id is not null"#,
        prefix
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let stored = parse_hash(&row.secret_hash)
        .ok_or_else(|| ServiceError::bug(format!("token {prefix}: its stored hash does not parse")))?;
    if !matches(token, &stored) {
        return Ok(None);
    }
    sqlx::query!(
        "update api_tokens set last_used_at = now()
         where prefix = $1 and (last_used_at is null or last_used_at < now() - interval '1 minute')",
        prefix
    )
    .execute(pool)
    .await?;
    super::auth::load_user(pool, row.user_id).await
}

/// One token as the evaluation path needs it, read from PostgreSQL.
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub prefix: String,
    pub secret_hash: String,
    pub scope: String,
    pub environment: Option<String>,
    pub user_id: Option<i64>,
    /// Unrevoked and unexpired.
    pub usable: bool,
    pub origins: Vec<String>,
    pub rate_limit: Option<i32>,
}

/// One token by its prefix: for a token newer than this process's snapshot, and for the news of a
/// revocation, which must not wait for the snapshot's reload.
pub async fn find(executor: impl sqlx::PgExecutor<'_>, prefix: &str) -> Result<Option<StoredToken>, sqlx::Error> {
    sqlx::query_as!(
        StoredToken,
        r#"select t.prefix, t.secret_hash, t.scope, e.key as "environment?", t.user_id,
                  (t.revoked_at is null and (t.expires_at is null or t.expires_at > now())) as "usable!",
                  t.allowed_origins as origins, t.rate_limit_per_second as rate_limit
           from api_tokens t left join environments e on e.id = t.environment_id
           where t.prefix = $1"#,
        prefix
    )
    .fetch_optional(executor)
    .await
}

/// Records that a token was just used (called at most once a minute per token and process).
pub async fn record_use(pool: &PgPool, prefix: &str) -> Result<(), sqlx::Error> {
    sqlx::query!("update api_tokens set last_used_at = now() where prefix = $1", prefix).execute(pool).await?;
    Ok(())
}

/// What each scope needs and refuses: an environment for the evaluating scopes, a user for admin tokens,
/// origins and a rate only for frontend tokens.
fn check_targets(new: &NewToken) -> Result<(), ServiceError> {
    let invalid = |field, message: &str| Err(ServiceError::Invalid { field, message: message.to_owned() });
    let scope = new.scope;
    if scope.evaluates() && new.environment.is_none() {
        return invalid(
            "environment",
            &format!(
                "a{} {scope} token needs an environment (--env)",
                if scope == TokenScope::Evaluate { "n" } else { "" }
            ),
        );
    }
    if scope.evaluates() && new.user.is_some() {
        return invalid("user", "a token that evaluates flags acts for no user; leave out --user");
    }
    if scope == TokenScope::Admin && new.user.is_none() {
        return invalid("user", "an admin token acts as a user; name them with --user EMAIL");
    }
    if scope == TokenScope::Admin && new.environment.is_some() {
        return invalid("environment", "an admin token is not tied to an environment; leave out --env");
    }
    if scope != TokenScope::Frontend && !new.origins.is_empty() {
        return invalid("origins", "only frontend tokens list origins: server tokens are not for browsers");
    }
    if scope != TokenScope::Frontend && new.rate_limit.is_some() {
        return invalid("rate_limit", "only frontend tokens have a rate limit");
    }
    Ok(())
}

/// Creates a token. Admins only; audited (without the secret).
#[tracing::instrument(name = "tokens::create", skip_all, fields(actor = %actor.label))]
pub async fn create(pool: &PgPool, actor: &Actor, new: &NewToken) -> Result<CreatedToken, ServiceError> {
    actor.require(Role::Admin, "create API tokens")?;
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ServiceError::Invalid {
            field: "name",
            message: "the token name is required (up to 100 characters)".into(),
        });
    }
    check_targets(new)?;
    let rate_limit = match new.scope {
        TokenScope::Frontend => Some(new.rate_limit.unwrap_or(RateLimit::DEFAULT)),
        _ => None,
    };
    let origins: Vec<&str> = new.origins.iter().map(AllowedOrigin::as_str).collect();
    let mut tx = pool.begin().await?;
    let environment_id = match &new.environment {
        Some(env) => Some(
            sqlx::query_scalar!("select id from environments where key = $1 and archived_at is null", env.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| ServiceError::Invalid {
                    field: "environment",
                    message: format!("there is no environment {:?}", env.as_str()),
                })?,
        ),
        None => None,
    };
    let user_id = match &new.user {
        Some(email) => Some(
            sqlx::query_scalar!("select id from users where lower(email) = lower($1) and not disabled", email.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| ServiceError::Invalid {
                    field: "user",
                    message: format!("there is no active user {:?}", email.as_str()),
                })?,
        ),
        None => None,
    };
    let secret = {
        let mut rng = rand::thread_rng();
        format!("rgt_{}_{}", Alphanumeric.sample_string(&mut rng, 8), Alphanumeric.sample_string(&mut rng, 32))
    };
    let prefix = secret[..12].to_owned();
    sqlx::query!(
        "insert into api_tokens
           (name, prefix, secret_hash, scope, environment_id, user_id, created_by, allowed_origins, rate_limit_per_second)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        name,
        prefix,
        hash_secret(&secret),
        new.scope.as_str(),
        environment_id,
        user_id,
        actor.user_id,
        &origins as &[&str],
        rate_limit.map(|r| i32::try_from(r.per_second()).unwrap_or(i32::MAX)),
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "token.created",
            entity_kind: "api_token",
            entity_key: &prefix,
            environment_key: new.environment.as_ref().map(EnvKey::as_str),
            after: Some(serde_json::json!({
                "name": name, "prefix": prefix, "scope": new.scope.as_str(),
                "environment": new.environment.as_ref().map(EnvKey::as_str), "user": new.user.as_ref().map(Email::as_str),
                "origins": origins, "rate_limit": rate_limit.map(RateLimit::per_second),
            })),
            ..NewEvent::default()
        },
    )
    .await?;
    // Evaluation servers hold the tokens in their snapshot: tell them.
    audit::notify_change(&mut tx, "api_token", &prefix).await?;
    tx.commit().await?;
    Ok(CreatedToken { prefix, secret })
}

/// Revokes a token by its prefix. Admins only; audited. Revoking twice is refused.
#[tracing::instrument(name = "tokens::revoke", skip_all, fields(actor = %actor.label, prefix = prefix))]
pub async fn revoke(pool: &PgPool, actor: &Actor, prefix: &str) -> Result<(), ServiceError> {
    actor.require(Role::Admin, "revoke API tokens")?;
    let mut tx = pool.begin().await?;
    let revoked = sqlx::query_scalar!(
        "update api_tokens set revoked_at = now() where prefix = $1 and revoked_at is null returning name",
        prefix
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("active token {prefix:?}")))?;
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "token.revoked",
            entity_kind: "api_token",
            entity_key: prefix,
            before: Some(serde_json::json!({ "name": revoked, "revoked": false })),
            after: Some(serde_json::json!({ "name": revoked, "revoked": true })),
            ..NewEvent::default()
        },
    )
    .await?;
    audit::notify_revocation(&mut tx, "api_token", prefix).await?;
    tx.commit().await?;
    Ok(())
}

/// Every token, newest first.
pub async fn list(pool: &PgPool) -> Result<Vec<TokenRow>, ServiceError> {
    Ok(sqlx::query_as!(
        TokenRow,
        r#"select t.name, t.prefix, t.scope, e.key as "environment?", u.email as "user?",
                  t.allowed_origins as origins, t.rate_limit_per_second as rate_limit,
                  t.created_at as "created_at: DateTime<Utc>", t.last_used_at as "last_used_at: DateTime<Utc>",
                  t.revoked_at as "revoked_at: DateTime<Utc>"
           from api_tokens t
           left join environments e on e.id = t.environment_id
           left join users u on u.id = t.user_id
           order by t.id desc"#
    )
    .fetch_all(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_hash_is_64_lowercase_hex_and_matches_only_its_token() {
        let token = "rgt_AbCdEfGh_0123456789abcdefghijABCDEFGHIJkl";
        let hash = hash_secret(token);
        assert_eq!(hash.len(), 64);
        assert!(hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        let stored = parse_hash(&hash).expect("our own hex parses back");
        assert_eq!(stored, digest(token));
        assert!(matches(token, &stored));
        assert!(!matches("rgt_AbCdEfGh_0123456789abcdefghijABCDEFGHIJkm", &stored));
    }

    #[test]
    fn stored_hashes_parse_only_when_they_are_64_lowercase_hex_digits() {
        assert!(parse_hash(&"ab".repeat(32)).is_some());
        assert!(parse_hash(&"AB".repeat(32)).is_none());
        assert!(parse_hash(&"ab".repeat(31)).is_none());
        assert!(parse_hash(&"zz".repeat(32)).is_none());
    }

    #[test]
    fn the_prefix_is_found_only_in_well_formed_tokens() {
        assert_eq!(prefix_of("rgt_AbCdEfGh_0123456789abcdefghijABCDEFGHIJkl"), Some("rgt_AbCdEfGh"));
        for bad in [
            "",
            "rgt_",
            "rgt_short_0123456789abcdefghijABCDEFGHIJkl",
            "xyz_AbCdEfGh_0123456789abcdefghijABCDEFGHIJkl",
            "rgt_AbCdEfGh_tooshort",
            "rgt_AbCd-fGh_0123456789abcdefghijABCDEFGHIJkl",
        ] {
            assert_eq!(prefix_of(bad), None, "{bad}");
        }
    }
}
