//! `rollgate user add` and `rollgate user list`.

use crate::config::{DbArgs, UserCommand};
use crate::db::Database;
use anyhow::{bail, Context};
use app::domain::{Email, Role, SignoffRole};
use app::server::audit::Actor;
use app::server::password::{check_password_policy, hash_password};
use app::server::users::{self, NewUser};

pub async fn run(db_args: &DbArgs, command: UserCommand) -> anyhow::Result<()> {
    // Validate everything before touching the database or asking for a password.
    let prepared = match &command {
        UserCommand::Add { email, name, role, signoff } => {
            let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email: {}", e.message))?;
            let role: Role =
                role.parse().map_err(|e: app::domain::InvalidValue| anyhow::anyhow!("--role: {}", e.message))?;
            let signoff_roles =
                SignoffRole::parse_list(signoff).map_err(|e| anyhow::anyhow!("--signoff: {}", e.message))?;
            let password = read_password()?;
            check_password_policy(&password).map_err(|e| anyhow::anyhow!("password: {e}"))?;
            let password_hash = hash_password(&password).map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
            Some(NewUser { email, name: name.clone(), role, signoff_roles, password_hash })
        }
        UserCommand::List => None,
    };
    let mut db = Database::open(db_args).await?;
    let result = match prepared {
        Some(user) => users::upsert(&db.pool, &Actor::system("cli"), &user)
            .await
            .map(|_| println!("saved {} ({})", user.email.as_str(), user.role))
            .map_err(anyhow::Error::from),
        None => list(&db).await,
    };
    db.close().await;
    result
}

async fn list(db: &Database) -> anyhow::Result<()> {
    let rows = users::list(&db.pool).await?;
    println!("{:<32} {:<24} {:<8} {:<28} STATUS", "EMAIL", "NAME", "ROLE", "SIGN-OFF ROLES");
    for u in rows {
        let roles: Vec<&str> = u.signoff_roles.iter().map(|r| r.as_str()).collect();
        println!(
            "{:<32} {:<24} {:<8} {:<28} {}",
            u.email,
            u.name,
            u.role.as_str(),
            if roles.is_empty() { "-".to_owned() } else { roles.join(",") },
            u.status.label()
        );
    }
    Ok(())
}

/// The password from ROLLGATE_PASSWORD, or asked twice on the terminal.
fn read_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("ROLLGATE_PASSWORD") {
        return Ok(password);
    }
    let first = rpassword::prompt_password("Password: ").context("reading the password (or set ROLLGATE_PASSWORD)")?;
    let second = rpassword::prompt_password("Password again: ").context("reading the password")?;
    if first != second {
        bail!("the two passwords differ");
    }
    Ok(first)
}
