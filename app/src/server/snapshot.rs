//! The evaluation snapshot: the whole configuration, immutable, held by every server process and swapped
//! atomically when it changes. Evaluation reads it and never Postgres, so it keeps answering from the last
//! snapshot when Postgres is down.

mod tokens;

pub use tokens::{LookupError, TokenEntry, TokenLife, TokenLookups, LOOKUPS_PER_SECOND, NEGATIVE_TTL};

use crate::domain::targeting::{
    compile_rules, CompiledCondition, CompiledSegment, Condition, Constraint, FlagShape, Segments, TargetingRule,
};
use crate::domain::{
    evaluate, EnvConfig, EvalContext, EvalError, Evaluation, FlagConfig, FlagKey, FlagLookup, KeyMap, OnValue, Percent,
    Reason, RolloutConfig, Stickiness, ValueType,
};
use arc_swap::ArcSwapOption;
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One flag in one environment, as evaluation reads it.
#[derive(Debug)]
pub struct FlagEntry {
    pub flag: FlagConfig,
    pub env: EnvConfig,
    /// Shared with every later snapshot, so the counts survive a swap (see [`SnapshotHolder::replace`]).
    pub counters: Arc<EvalCounters>,
    /// Evaluated for frontend tokens (browsers and apps); otherwise not found for them.
    pub visible_to_frontends: bool,
}

/// The flags of one environment.
#[derive(Debug, Default)]
pub struct EnvSnapshot {
    pub flags: KeyMap<FlagEntry>,
    /// Flag keys in order, for bulk answers that come out the same every time.
    pub keys: Vec<String>,
    /// The keys of the flags visible to frontends, in the same order.
    pub frontend_keys: Vec<String>,
    /// Evaluations of keys this environment does not have.
    pub not_found: Arc<AtomicU64>,
}

impl EnvSnapshot {
    /// Evaluates one flag and counts the answer for `/metrics`.
    pub fn evaluate<'a>(&'a self, key: &str, ctx: &EvalContext) -> Result<Evaluation<'a>, EvalError> {
        let Some(entry) = self.flags.get(key) else {
            self.not_found.fetch_add(1, Ordering::Relaxed);
            return Err(EvalError::FlagNotFound);
        };
        self.evaluate_entry(entry, ctx)
    }

    /// Evaluates a flag already looked up in [`EnvSnapshot::flags`], and counts the answer: bulk answers
    /// walk the keys and look each flag up once.
    pub fn evaluate_entry<'a>(&'a self, entry: &'a FlagEntry, ctx: &EvalContext) -> Result<Evaluation<'a>, EvalError> {
        let answer = evaluate(Some((&entry.flag, &entry.env)), ctx, self);
        match &answer {
            Ok(a) => entry.counters.record(a.reason),
            Err(_) => {
                self.not_found.fetch_add(1, Ordering::Relaxed);
                // Known but not served (archived): counted apart, for flag hygiene.
                entry.counters.record_miss();
            }
        }
        answer
    }
}

/// Prerequisites look the flags they name up in the same environment.
impl FlagLookup for EnvSnapshot {
    fn find(&self, key: &str) -> Option<(&FlagConfig, &EnvConfig)> {
        self.flags.get(key).map(|entry| (&entry.flag, &entry.env))
    }
}

/// Evaluations of one flag in one environment, by reason, kept in a few shards: each worker thread adds to
/// its own shard (relaxed atomics on a cache line of their own), so two cores answering the same flags do
/// not pass one cache line back and forth on every answer. A scrape sums the shards.
#[derive(Debug, Default)]
pub struct EvalCounters {
    shards: [Shard; SHARDS],
}

const SHARDS: usize = 8;

#[derive(Debug, Default)]
#[repr(align(64))]
struct Shard {
    by_reason: [AtomicU64; Reason::ALL.len()],
    /// Asked for but not served: the flag is archived.
    misses: AtomicU64,
}

/// This thread's shard, handed out round-robin the first time a thread counts.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

impl EvalCounters {
    pub fn record(&self, reason: Reason) {
        self.shards[shard_index()].by_reason[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// An evaluation of a flag this snapshot knows but does not serve (archived).
    pub fn record_miss(&self) {
        self.shards[shard_index()].misses.fetch_add(1, Ordering::Relaxed);
    }

    /// Every evaluation so far, served or not: what the activity worker compares between two ticks.
    pub fn total(&self) -> u64 {
        self.shards
            .iter()
            .map(|shard| {
                shard.by_reason.iter().map(|c| c.load(Ordering::Relaxed)).sum::<u64>()
                    + shard.misses.load(Ordering::Relaxed)
            })
            .sum()
    }

    /// `(reason, count)` for every reason, summed over the shards.
    pub fn counts(&self) -> impl Iterator<Item = (Reason, u64)> + '_ {
        Reason::ALL
            .iter()
            .map(|r| (*r, self.shards.iter().map(|shard| shard.by_reason[*r as usize].load(Ordering::Relaxed)).sum()))
    }
}

/// One flag's counters in one environment, as a scrape reads them.
#[derive(Debug)]
pub struct FlagCounters {
    pub environment: String,
    pub flag: String,
    pub counters: Arc<EvalCounters>,
}

/// What outlives a snapshot: evaluation counters per environment and flag, and each token's life (last
/// use, revocation, rate). The locks are taken once per swap and once per scrape, never per evaluation.
#[derive(Debug, Default)]
struct Registry {
    flags: HashMap<String, HashMap<String, Arc<EvalCounters>>>,
    not_found: HashMap<String, Arc<AtomicU64>>,
    token_life: HashMap<String, Arc<TokenLife>>,
}

/// Everything evaluation needs, as of one configuration version.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// `config_state.version` when the snapshot was read; also the version every answer reports.
    pub version: i64,
    pub environments: HashMap<String, EnvSnapshot>,
    /// By token prefix.
    pub tokens: HashMap<String, TokenEntry>,
    /// Every origin a live frontend token lists, for answering browsers' preflight requests (which carry
    /// no token); `*` among them lets every origin through.
    pub frontend_origins: std::collections::HashSet<String>,
}

impl Snapshot {
    /// Whether some live frontend token lets pages on `origin` call the evaluation API.
    pub fn origin_has_frontend_token(&self, origin: &str) -> bool {
        self.frontend_origins.contains("*") || self.frontend_origins.contains(&origin.to_ascii_lowercase())
    }
}

/// The current snapshot and how fresh it is.
#[derive(Debug)]
pub struct SnapshotHolder {
    current: ArcSwapOption<Snapshot>,
    /// Unix milliseconds of the last time Postgres confirmed the snapshot is current (0: never).
    confirmed_at_ms: AtomicI64,
    /// The version of each snapshot swapped in, for live-update streams.
    changes: tokio::sync::watch::Sender<i64>,
    registry: Mutex<Registry>,
    /// Tokens newer than the snapshot, looked up in PostgreSQL.
    pub token_lookups: TokenLookups,
}

impl Default for SnapshotHolder {
    fn default() -> Self {
        Self {
            current: ArcSwapOption::empty(),
            confirmed_at_ms: AtomicI64::new(0),
            changes: tokio::sync::watch::Sender::new(0),
            registry: Mutex::default(),
            token_lookups: TokenLookups::default(),
        }
    }
}

impl SnapshotHolder {
    /// The current snapshot; `None` until the first load succeeded.
    pub fn get(&self) -> Option<Arc<Snapshot>> {
        self.current.load_full()
    }

    pub fn version(&self) -> Option<i64> {
        self.current.load().as_ref().map(|s| s.version)
    }

    /// Swaps in a new snapshot and tells the live-update streams.
    pub fn replace(&self, mut snapshot: Snapshot) {
        self.attach_counters(&mut snapshot);
        self.token_lookups.settle(&snapshot.tokens);
        let version = snapshot.version;
        self.current.store(Some(Arc::new(snapshot)));
        self.confirm();
        self.changes.send_replace(version);
    }

    /// Gives the new snapshot the counters of the ones before it.
    fn attach_counters(&self, snapshot: &mut Snapshot) {
        let mut registry = self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (env_key, env) in &mut snapshot.environments {
            if !registry.flags.contains_key(env_key) {
                registry.flags.insert(env_key.clone(), HashMap::new());
            }
            let counters = registry.flags.get_mut(env_key).expect("inserted above");
            for (key, entry) in &mut env.flags {
                match counters.get(key) {
                    Some(existing) => entry.counters = Arc::clone(existing),
                    None => {
                        counters.insert(key.clone(), Arc::clone(&entry.counters));
                    }
                }
            }
            let not_found = registry.not_found.entry(env_key.clone()).or_default();
            env.not_found = Arc::clone(not_found);
        }
        for (prefix, token) in &mut snapshot.tokens {
            token.life = Self::life_of(&mut registry, prefix, token);
        }
    }

    /// The life every snapshot shares for this token; marks it revoked if the row says so.
    fn life_of(registry: &mut Registry, prefix: &str, token: &TokenEntry) -> Arc<TokenLife> {
        let life = match registry.token_life.get(prefix) {
            Some(existing) => Arc::clone(existing),
            None => {
                registry.token_life.insert(prefix.to_owned(), Arc::clone(&token.life));
                Arc::clone(&token.life)
            }
        };
        if !token.usable {
            life.revoke();
        }
        life
    }

    /// Whether a browser's preflight from `origin` may go on: some live frontend token lists it.
    pub fn origin_may_preflight(&self, snapshot: &Snapshot, origin: &str) -> bool {
        snapshot.origin_has_frontend_token(origin) || self.token_lookups.late_origin(origin)
    }

    /// A token the snapshot does not know, looked up in PostgreSQL (within the lookup budget, and not
    /// again for a while if it is unknown there too). `Ok(None)`: no such token.
    pub async fn find_token(&self, pool: &PgPool, prefix: &str) -> Result<Option<Arc<TokenEntry>>, LookupError> {
        if let Some(known) = self.token_lookups.late(prefix) {
            return Ok(Some(known));
        }
        if self.token_lookups.recently_unknown(prefix) {
            return Ok(None);
        }
        self.token_lookups.take_budget()?;
        match super::tokens::find(pool, prefix).await? {
            Some(row) => Ok(self.learn_token(&row)),
            None => {
                self.token_lookups.note_unknown(prefix);
                Ok(None)
            }
        }
    }

    /// Refuses a token from now on, in this snapshot and every later one, and ends its open streams.
    pub fn revoke_token(&self, prefix: &str) {
        let life = {
            let mut registry = self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(registry.token_life.entry(prefix.to_owned()).or_insert_with(|| Arc::new(TokenLife::new(None))))
        };
        life.revoke();
    }

    /// Takes in a token read from PostgreSQL ahead of the snapshot: a new one becomes usable, a revoked one
    /// is refused from now on and its streams end. `None` if the row is corrupt.
    pub fn learn_token(&self, row: &super::tokens::StoredToken) -> Option<Arc<TokenEntry>> {
        let Some(mut entry) = TokenEntry::from_stored(row) else {
            tracing::error!(token = %row.prefix, "a stored token has a malformed hash or scope");
            return None;
        };
        {
            let mut registry = self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            entry.life = Self::life_of(&mut registry, &row.prefix, &entry);
        }
        let entry = Arc::new(entry);
        self.token_lookups.remember(row.prefix.clone(), Arc::clone(&entry));
        Some(entry)
    }

    /// Every evaluation count so far: `(environment, flag, counters)`, and the not-found counts per environment.
    pub fn evaluation_counts(&self) -> (Vec<FlagCounters>, Vec<(String, u64)>) {
        let registry = self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut flags: Vec<_> = registry
            .flags
            .iter()
            .flat_map(|(env, flags)| {
                flags.iter().map(move |(k, c)| FlagCounters {
                    environment: env.clone(),
                    flag: k.clone(),
                    counters: Arc::clone(c),
                })
            })
            .collect();
        flags.sort_by(|a, b| (&a.environment, &a.flag).cmp(&(&b.environment, &b.flag)));
        let mut not_found: Vec<_> =
            registry.not_found.iter().map(|(env, n)| (env.clone(), n.load(Ordering::Relaxed))).collect();
        not_found.sort();
        (flags, not_found)
    }

    /// A receiver that wakes on every swap, with the new version.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<i64> {
        self.changes.subscribe()
    }

    /// Records that Postgres was reached and the snapshot is current.
    pub fn confirm(&self) {
        self.confirmed_at_ms.store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    /// Milliseconds since Postgres last confirmed the snapshot, if it ever did.
    pub fn age_ms(&self) -> Option<i64> {
        match self.confirmed_at_ms.load(Ordering::Relaxed) {
            0 => None,
            at => Some(chrono::Utc::now().timestamp_millis() - at),
        }
    }
}

fn bad(what: &str, detail: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(format!("{what}: {detail}").into())
}

/// The configuration version in PostgreSQL: bumped by every change, compared with the snapshot's to know
/// whether it is current, and the health check's probe of the database.
pub async fn stored_version(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!("select version from config_state").fetch_one(pool).await
}

/// Every segment, compiled once for all the rules that use it. Every write checks a segment's
/// constraints, so one that does not compile is corruption: the snapshot is not swapped.
async fn load_segments(conn: &mut sqlx::PgConnection) -> Result<Segments, sqlx::Error> {
    let rows = sqlx::query!("select key, constraints from segments").fetch_all(&mut *conn).await?;
    let mut segments = Segments::with_capacity(rows.len());
    for row in rows {
        let constraints: Vec<Constraint> =
            serde_json::from_value(row.constraints).map_err(|e| bad(&format!("segment {}", row.key), e))?;
        let compiled =
            CompiledSegment::compile(&row.key, &constraints).map_err(|e| bad(&format!("segment {}", row.key), e))?;
        segments.insert(row.key, Arc::new(compiled));
    }
    Ok(segments)
}

/// A rollout's stored audience, compiled against the snapshot's segments.
fn compile_audience(raw: serde_json::Value, segments: &Segments) -> Result<CompiledCondition, String> {
    let audience: Condition = serde_json::from_value(raw).map_err(|e| e.to_string())?;
    audience.compile(segments, "audience").map_err(|e| e.message)
}

/// Reads the whole configuration in one repeatable-read transaction, so the snapshot is consistent and its
/// version is the one it was read at.
pub async fn load(pool: &PgPool) -> Result<Snapshot, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query!("set transaction isolation level repeatable read, read only").execute(&mut *tx).await?;
    let version = sqlx::query_scalar!("select version from config_state").fetch_one(&mut *tx).await?;

    let flag_rows =
        sqlx::query!("select id, key, archived_at is not null as \"archived!\", value_type as \"value_type: ValueType\", variants, visible_to_frontends from flags")
            .fetch_all(&mut *tx)
            .await?;
    let mut flags: HashMap<i64, FlagConfig> = HashMap::with_capacity(flag_rows.len());
    let mut frontend: HashSet<i64> = HashSet::new();
    for row in flag_rows {
        if row.visible_to_frontends {
            frontend.insert(row.id);
        }
        let key = FlagKey::parse(&row.key).map_err(|e| bad("flag key", e))?;
        let value_type = row.value_type;
        let mut config = FlagConfig::boolean(key, version);
        config.archived = row.archived;
        config.value_type = value_type;
        if value_type != ValueType::Boolean {
            let list: Vec<crate::domain::variant::Variant> =
                serde_json::from_value(row.variants).map_err(|e| bad(&format!("variants of {}", row.key), e))?;
            let variants = crate::domain::variant::Variants::parse(list)
                .map_err(|e| bad(&format!("variants of {}", row.key), e))?;
            config.on = OnValue::Variants(variants);
            config.off_value = serde_json::Value::Null;
        }
        flags.insert(row.id, config);
    }

    let segments = load_segments(&mut tx).await?;
    let env_rows = sqlx::query!(
        "select fe.flag_id, fe.environment_id, e.key as env_key, fe.enabled, fe.default_value, fe.rules, fe.prerequisites
         from flag_environments fe join environments e on e.id = fe.environment_id where e.archived_at is null"
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut states: HashMap<(i64, i64), (String, EnvConfig)> = HashMap::with_capacity(env_rows.len());
    for row in env_rows {
        let mut env = EnvConfig::new(row.enabled, row.default_value);
        if let Some(flag) = flags.get(&row.flag_id).filter(|f| !f.archived) {
            let at = || format!("{} in {}", flag.key.as_str(), row.env_key);
            env.prerequisites =
                serde_json::from_value(row.prerequisites).map_err(|e| bad(&format!("prerequisites of {}", at()), e))?;
            let rules: Vec<TargetingRule> =
                serde_json::from_value(row.rules).map_err(|e| bad(&format!("rules of {}", at()), e))?;
            let variants = match &flag.on {
                OnValue::Variants(variants) => Some(variants),
                OnValue::Fixed(_) => None,
            };
            match compile_rules(&rules, FlagShape { value_type: flag.value_type, variants }, &segments) {
                Ok(compiled) => env.rules = compiled,
                // Every write checks the rules, so this means a flag's variants changed under a rule that
                // serves one. The flag keeps answering without its rules (its default, a rollout) rather
                // than the whole snapshot failing; the log says why.
                Err(e) => tracing::error!(flag = flag.key.as_str(), env = row.env_key, "targeting rules skipped: {e}"),
            }
        }
        states.insert((row.flag_id, row.environment_id), (row.env_key, env));
    }

    let overrides = sqlx::query!(
        "select flag_id, environment_id, customer_key as customer, organization_key as organization, value from overrides"
    )
    .fetch_all(&mut *tx)
    .await?;
    for row in overrides {
        if let Some((_, env)) = states.get_mut(&(row.flag_id, row.environment_id)) {
            match (row.customer, row.organization) {
                (Some(customer), _) => {
                    env.customer_overrides.insert(customer, row.value);
                }
                (None, Some(organization)) => {
                    env.organization_overrides.insert(organization, row.value);
                }
                (None, None) => {}
            }
        }
    }

    // Per flag and environment: the live rollout if there is one, else the latest finished one.
    let rollouts = sqlx::query!(
        r#"select distinct on (r.flag_id, r.environment_id)
                  r.id, r.flag_id, r.environment_id, r.status as "status: crate::domain::rollout::RolloutStatus",
                  r.stickiness as "stickiness: Stickiness", coalesce(s.basis_points, 0) as "basis_points!", r.audience
           from rollouts r left join rollout_stages s on s.rollout_id = r.id and s.position = r.current_stage
           order by r.flag_id, r.environment_id, (r.status in ('planned', 'active', 'paused')) desc, r.id desc"#
    )
    .fetch_all(&mut *tx)
    .await?;
    let allow = sqlx::query!(
        "select rollout_id, customer_key as customer, organization_key as organization from rollout_allow_list"
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut allow_by_rollout: HashMap<i64, (HashSet<String>, HashSet<String>)> = HashMap::new();
    for row in allow {
        let entry = allow_by_rollout.entry(row.rollout_id).or_default();
        if let Some(c) = row.customer {
            entry.0.insert(c);
        }
        if let Some(o) = row.organization {
            entry.1.insert(o);
        }
    }
    for row in rollouts {
        if let Some((env_key, env)) = states.get_mut(&(row.flag_id, row.environment_id)) {
            let basis_points = u16::try_from(row.basis_points).map_err(|e| bad("stage percentage", e))?;
            let (allow_customers, allow_organizations) = allow_by_rollout.remove(&row.id).unwrap_or_default();
            let audience = match row.audience.map(|raw| compile_audience(raw, &segments)).transpose() {
                Ok(audience) => audience,
                // Every write checks the audience and a segment an audience names cannot be deleted, so
                // this is corruption. As with rules, the flag keeps answering rather than the whole
                // snapshot failing; but without its rollout (its rules, its default), since serving the
                // rollout to everybody would widen it past what was signed off. The log says why.
                Err(e) => {
                    tracing::error!(rollout = row.id, env = env_key.as_str(), "rollout skipped: its audience: {e}");
                    continue;
                }
            };
            env.rollout = Some(RolloutConfig {
                status: row.status,
                percent: Percent::from_basis_points(basis_points).map_err(|e| bad("stage percentage", e))?,
                stickiness: row.stickiness,
                allow_customers,
                allow_organizations,
                audience,
            });
        }
    }

    let mut environments: HashMap<String, EnvSnapshot> = HashMap::new();
    for ((flag_id, _), (env_key, env)) in states {
        if let Some(flag) = flags.get(&flag_id) {
            let key = flag.key.as_str().to_owned();
            let visible_to_frontends = frontend.contains(&flag_id);
            environments
                .entry(env_key)
                .or_default()
                .flags
                .insert(key, FlagEntry { flag: flag.clone(), env, counters: Arc::default(), visible_to_frontends });
        }
    }
    for env in environments.values_mut() {
        let mut keys: Vec<String> =
            env.flags.iter().filter(|(_, e)| !e.flag.archived).map(|(k, _)| k.clone()).collect();
        keys.sort();
        env.frontend_keys =
            keys.iter().filter(|k| env.flags.get(*k).is_some_and(|e| e.visible_to_frontends)).cloned().collect();
        env.keys = keys;
    }

    let token_rows = sqlx::query_as!(
        super::tokens::StoredToken,
        r#"select t.prefix, t.secret_hash, t.scope, e.key as "environment?", t.user_id,
                  (t.revoked_at is null and (t.expires_at is null or t.expires_at > now())) as "usable!",
                  t.allowed_origins as origins, t.rate_limit_per_second as rate_limit
           from api_tokens t left join environments e on e.id = t.environment_id"#
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut tokens = HashMap::with_capacity(token_rows.len());
    let mut frontend_origins = HashSet::new();
    for row in token_rows {
        let entry = TokenEntry::from_stored(&row).ok_or_else(|| bad("token hash or scope", &row.prefix))?;
        if entry.usable && entry.scope == crate::domain::TokenScope::Frontend {
            frontend_origins.extend(entry.origins.iter().cloned());
        }
        tokens.insert(row.prefix, entry);
    }
    tx.commit().await?;
    Ok(Snapshot { version, environments, tokens, frontend_origins })
}
