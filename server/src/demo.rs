//! Demo data taken from our users' rollout documents: environments, phases and flags, organizations and
//! customers, and one user per role. Loading is idempotent: what exists is left alone.

use anyhow::Context;
use app::domain::{EnvKey, EnvName};
use app::server::audit::{self, Actor, NewEvent};
use app::server::password::hash_password;
use rand::distributions::{Alphanumeric, DistString};
use sqlx::PgPool;
use std::path::Path;

struct DemoPhase {
    key: &'static str,
    name: &'static str,
    requires_previous: bool,
    /// (key, name, description, kind, on in every environment)
    flags: &'static [(&'static str, &'static str, &'static str, &'static str, bool)],
}

const PHASES: &[DemoPhase] = &[
    DemoPhase {
        key: "phase-1",
        name: "Phase 1: Session persistence",
        requires_previous: false,
        flags: &[
            ("parentStorage", "Parent storage", "Keep session state in the parent frame's storage.", "release", true),
            (
                "crossDomainMessaging",
                "Cross-domain messaging",
                "postMessage bridge between the widget and the host page.",
                "release",
                true,
            ),
            ("autoRestore", "Auto restore", "Restore the last session when the widget reloads.", "release", true),
        ],
    },
    DemoPhase {
        key: "phase-2",
        name: "Phase 2: Resilience",
        requires_previous: true,
        flags: &[
            ("phase2_enhanced_storage", "Enhanced storage", "IndexedDB storage with quota handling.", "release", false),
            (
                "phase2_connection_monitoring",
                "Connection monitoring",
                "Detect offline/online transitions and report them.",
                "release",
                false,
            ),
            ("phase2_retry_logic", "Retry logic", "Retry failed saves with exponential backoff.", "release", false),
        ],
    },
    DemoPhase {
        key: "phase-3",
        name: "Phase 3: Multi-tab",
        requires_previous: true,
        flags: &[
            ("phase3_tab_sync", "Tab sync", "Synchronise session state across browser tabs.", "release", false),
            (
                "phase3_performance_mode",
                "Performance mode",
                "Batch writes and defer non-critical work.",
                "release",
                false,
            ),
            ("phase3_analytics", "Analytics", "Session analytics events.", "experiment", false),
        ],
    },
    DemoPhase { key: "db-migrations", name: "Database migrations", requires_previous: false, flags: &[] },
    DemoPhase {
        key: "api-features",
        name: "API features",
        requires_previous: true,
        flags: &[
            (
                "ENABLE_CAR_NUMBER",
                "Car number",
                "Accept and return the car registration number in the orders API.",
                "release",
                false,
            ),
            (
                "ENABLE_PART_CATEGORIES",
                "Part categories",
                "Category tree for spare parts in the catalogue API.",
                "release",
                false,
            ),
        ],
    },
    DemoPhase {
        key: "ui-features",
        name: "UI features",
        requires_previous: true,
        flags: &[
            ("ENABLE_MECH_I18N", "Mechanic app translations", "Localised mechanic app (i18n).", "release", false),
            ("ENABLE_UI_REFRESH", "UI refresh", "The refreshed dashboard design.", "release", false),
        ],
    },
    DemoPhase {
        key: "notifications",
        name: "Notifications",
        requires_previous: true,
        flags: &[
            (
                "ENABLE_TG_ADMIN_NOTIFS",
                "Telegram admin notifications",
                "Notify admins on Telegram about new orders.",
                "release",
                false,
            ),
            (
                "ENABLE_TG_MECH_NOTIFS",
                "Telegram mechanic notifications",
                "Notify mechanics on Telegram about assigned jobs.",
                "release",
                false,
            ),
        ],
    },
    DemoPhase {
        key: "media-pipeline",
        name: "Media pipeline",
        requires_previous: false,
        flags: &[(
            "redis_streams_media_cluster_enabled",
            "Redis Streams media cluster",
            "Route media processing through the Redis Streams cluster.",
            "operational",
            false,
        )],
    },
    DemoPhase {
        key: "job-hardening",
        name: "Job hardening",
        requires_previous: false,
        flags: &[
            (
                "FEATURE_FLAG_DLQ_ENABLED",
                "Dead-letter queue",
                "Send failing jobs to a dead-letter queue instead of dropping them.",
                "operational",
                false,
            ),
            (
                "FEATURE_FLAG_JOB_HEARTBEAT",
                "Job heartbeat",
                "Workers report a heartbeat; stuck jobs are re-queued.",
                "operational",
                false,
            ),
        ],
    },
    DemoPhase {
        key: "seo",
        name: "SEO",
        requires_previous: false,
        flags: &[(
            "priority_urls_enabled",
            "Priority URLs",
            "Priority badges from imported URL metadata, per account.",
            "permission",
            false,
        )],
    },
];

const ORGANIZATIONS: &[(&str, &str)] = &[
    ("acme", "Acme Corporation"),
    ("globex", "Globex"),
    ("initech", "Initech"),
    ("umbrella", "Umbrella Health"),
    ("hooli", "Hooli"),
    ("seo-insights", "SEO Insights Ltd"),
];

/// The account that has `priority_urls_enabled` on.
const SEO_ACCOUNT: &str = "seo-insights";
const CUSTOMERS: usize = 300;

const USERS: &[(&str, &str, &str, &[&str])] = &[
    ("admin@rollgate.local", "Ada Admin", "admin", &["dev_lead"]),
    ("editor@rollgate.local", "Eddie Editor", "editor", &["ops_oncall"]),
    ("viewer@rollgate.local", "Vera Viewer", "viewer", &[]),
    ("po@rollgate.local", "Paula Product", "viewer", &["product_owner"]),
];

/// A demo account created by this load, with its password.
pub struct DemoLogin {
    pub email: &'static str,
    pub role: &'static str,
    pub password: String,
}

/// Loads whatever part of the demo data is missing, in one transaction. Returns the accounts it created;
/// their password is ROLLGATE_DEMO_PASSWORD if set, otherwise a random one per account.
pub async fn load(pool: &PgPool) -> anyhow::Result<Vec<DemoLogin>> {
    let shared_password = std::env::var("ROLLGATE_DEMO_PASSWORD").ok().filter(|p| !p.is_empty());
    let mut tx = pool.begin().await?;
    // Through the environments service, so that an install which already has flags gets their states in
    // the new environments too. One that exists already (archived or not) is left as it is.
    let demo = Actor::system("demo");
    for (key, name) in [("development", "Development"), ("staging", "Staging"), ("production", "Production")] {
        let exists = sqlx::query_scalar!("select exists(select 1 from environments where key = $1) as \"e!\"", key)
            .fetch_one(&mut *tx)
            .await?;
        if !exists {
            app::server::environments::create_in(&mut tx, &demo, &EnvKey::parse(key)?, &EnvName::parse(name)?).await?;
        }
    }
    for (position, phase) in PHASES.iter().enumerate() {
        sqlx::query!(
            "insert into phases (key, name, position, requires_previous) values ($1, $2, $3, $4) on conflict (key) do nothing",
            phase.key,
            phase.name,
            position as i32 + 1,
            phase.requires_previous
        )
        .execute(&mut *tx)
        .await?;
        for (key, name, description, kind, on) in phase.flags {
            let inserted = sqlx::query_scalar!(
                "insert into flags (key, name, description, kind, phase_id)
                 select $1, $2, $3, $4, id from phases where key = $5
                 on conflict (key) do nothing returning id",
                key,
                name,
                description,
                kind,
                phase.key
            )
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(flag_id) = inserted {
                // The SEO flag is on but serves false unless an account override says true.
                let (enabled, default_value) = if *key == "priority_urls_enabled" {
                    (true, serde_json::json!(false))
                } else {
                    (*on, serde_json::json!(true))
                };
                sqlx::query!(
                    "insert into flag_environments (flag_id, environment_id, enabled, default_value)
                     select $1, id, $2, $3 from environments",
                    flag_id,
                    enabled,
                    default_value
                )
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    for (key, name) in ORGANIZATIONS {
        sqlx::query!("insert into organizations (key, name) values ($1, $2) on conflict (key) do nothing", key, name)
            .execute(&mut *tx)
            .await?;
    }
    let customer_keys: Vec<String> = (1..=CUSTOMERS).map(|i| format!("cust-{i:04}")).collect();
    let customer_orgs: Vec<String> =
        (0..CUSTOMERS).map(|i| ORGANIZATIONS[i % ORGANIZATIONS.len()].0.to_owned()).collect();
    sqlx::query!(
        "insert into customers (key, name, organization_key)
         select c.key, 'Customer ' || c.key, c.org from unnest($1::text[], $2::text[]) as c(key, org)
         on conflict (key) do nothing",
        &customer_keys[..],
        &customer_orgs[..]
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "insert into overrides (flag_id, environment_id, organization_key, value, reason)
         select f.id, e.id, $1, 'true', 'demo: priority URLs on for this account only'
         from flags f, environments e
         where f.key = 'priority_urls_enabled'
         on conflict do nothing",
        SEO_ACCOUNT
    )
    .execute(&mut *tx)
    .await?;

    let mut logins = Vec::new();
    for (email, name, role, signoff) in USERS {
        let exists = sqlx::query_scalar!("select exists(select 1 from users where lower(email) = lower($1))", email)
            .fetch_one(&mut *tx)
            .await?
            .unwrap_or(false);
        if exists {
            continue;
        }
        let password =
            shared_password.clone().unwrap_or_else(|| Alphanumeric.sample_string(&mut rand::thread_rng(), 16));
        let for_hash = password.clone();
        let hash = tokio::task::spawn_blocking(move || hash_password(&for_hash))
            .await
            .context("hashing a demo password")?
            .map_err(|e| anyhow::anyhow!("hashing a demo password: {e}"))?;
        let user_id = sqlx::query_scalar!(
            "insert into users (email, name, role, password_hash) values ($1, $2, $3, $4) returning id",
            email,
            name,
            role,
            hash
        )
        .fetch_one(&mut *tx)
        .await?;
        let roles: Vec<String> = signoff.iter().map(|s| (*s).to_owned()).collect();
        sqlx::query!(
            "insert into user_signoff_roles (user_id, role) select $1, unnest($2::text[])",
            user_id,
            &roles[..]
        )
        .execute(&mut *tx)
        .await?;
        logins.push(DemoLogin { email, role, password });
    }
    audit::record(
        &mut tx,
        &demo,
        NewEvent {
            action: "demo.loaded",
            entity_kind: "system",
            entity_key: "demo",
            after: Some(serde_json::json!({ "users_created": logins.iter().map(|l| l.email).collect::<Vec<_>>() })),
            ..NewEvent::default()
        },
    )
    .await?;
    audit::notify_change(&mut tx, "demo", "loaded").await?;
    tx.commit().await?;
    Ok(logins)
}

/// Prints the demo logins, and keeps them in a file beside the data folder (readable by its owner only).
pub fn announce(logins: &[DemoLogin], data_dir: &Path) {
    if logins.is_empty() {
        crate::say!("Demo data is loaded; the demo users already existed, their passwords are unchanged.");
        return;
    }
    let mut text = String::from("Demo logins (sign in at /login):\n");
    for login in logins {
        text.push_str(&format!("  {:<24} {:<7} password: {}\n", login.email, login.role, login.password));
    }
    crate::say!("{text}");
    let file = data_dir.parent().unwrap_or(Path::new(".")).join("demo-logins.txt");
    let written = (|| -> std::io::Result<()> {
        use std::io::Write;
        if let Some(folder) = file.parent() {
            std::fs::create_dir_all(folder)?;
        }
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(&file)?;
        f.write_all(text.as_bytes())
    })();
    match written {
        Ok(()) => crate::say!("(also saved to {})", file.display()),
        Err(err) => tracing::warn!(error = %err, path = %file.display(), "could not save the demo logins"),
    }
}
