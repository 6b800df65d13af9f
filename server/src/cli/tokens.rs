//! `rollgate token create | list | revoke`.

use crate::config::{DbArgs, TokenCommand};
use crate::db::Database;
use app::domain::{AllowedOrigin, Email, EnvKey, RateLimit};
use app::server::audit::Actor;
use app::server::tokens::{self, NewToken, TokenScope};

pub async fn run(db_args: &DbArgs, command: TokenCommand) -> anyhow::Result<()> {
    // Validate the arguments before opening the database.
    let new = match &command {
        TokenCommand::Create { name, scope, env, user, origins, rate_limit } => Some(NewToken {
            name: name.clone(),
            scope: scope.parse::<TokenScope>().map_err(|e| anyhow::anyhow!("--scope: {}", e.message))?,
            environment: env
                .as_deref()
                .map(EnvKey::parse)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--env: {}", e.message))?,
            user: user
                .as_deref()
                .map(Email::parse)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--user: {}", e.message))?,
            origins: origins
                .iter()
                .map(|o| AllowedOrigin::parse(o))
                .collect::<Result<_, _>>()
                .map_err(|e| anyhow::anyhow!("--origin: {}", e.message))?,
            rate_limit: rate_limit
                .map(RateLimit::new)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--rate-limit: {}", e.message))?,
        }),
        _ => None,
    };
    let mut db = Database::open(db_args).await?;
    let actor = Actor::system("cli");
    let result = match (command, new) {
        (TokenCommand::Create { .. }, Some(new)) => tokens::create(&db.pool, &actor, &new).await.map(|created| {
            println!("{}", created.secret);
            eprintln!(
                "Created token {} ({}). This is the only time it is shown: store it now.",
                created.prefix,
                new.scope.as_str()
            );
        }),
        (TokenCommand::Revoke { prefix }, _) => {
            tokens::revoke(&db.pool, &actor, &prefix).await.map(|()| println!("revoked {prefix}"))
        }
        (TokenCommand::List, _) | (TokenCommand::Create { .. }, None) => tokens::list(&db.pool).await.map(|rows| {
            println!(
                "{:<14} {:<24} {:<9} {:<12} {:<28} {:<20} {:<8} ORIGINS",
                "PREFIX", "NAME", "SCOPE", "ENVIRONMENT", "USER", "LAST USED", "STATUS"
            );
            for t in rows {
                let origins = match t.rate_limit {
                    Some(rate) => format!(
                        "{} ({rate}/s)",
                        if t.origins.is_empty() { "-".to_owned() } else { t.origins.join(",") }
                    ),
                    None => "-".to_owned(),
                };
                println!(
                    "{:<14} {:<24} {:<9} {:<12} {:<28} {:<20} {:<8} {origins}",
                    t.prefix,
                    t.name,
                    t.scope,
                    t.environment.unwrap_or_else(|| "-".into()),
                    t.user.unwrap_or_else(|| "-".into()),
                    t.last_used_at.map_or_else(|| "never".to_owned(), |at| at.format("%Y-%m-%d %H:%M").to_string()),
                    if t.revoked_at.is_some() { "revoked" } else { "active" }
                );
            }
        }),
    };
    db.close().await;
    result.map_err(anyhow::Error::from)
}
