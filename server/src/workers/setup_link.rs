//! The set-up link of an install with no user yet: printed at start, and again each time the last one
//! expires, until someone has created the first admin (with it, or with `rollgate user add`).

use app::server::setup::{issue_setup_token, SETUP_LINK_LIFETIME};
use sqlx::PgPool;

/// Runs until the install has a user. `base` is the address the server is reached at, as printed.
pub async fn run(pool: PgPool, base: String) {
    loop {
        match issue_setup_token(&pool).await {
            Ok(Some(token)) => announce(&base, &token),
            Ok(None) => return,
            Err(err) => tracing::error!(error = %err, "could not make a set-up link; retrying"),
        }
        tokio::time::sleep(SETUP_LINK_LIFETIME).await;
    }
}

/// On standard output, which is the server's log when it runs as a service or in a container; the token
/// is never written by `tracing`, so a log shipper configured for the structured log does not copy it.
fn announce(base: &str, token: &str) {
    let minutes = SETUP_LINK_LIFETIME.as_secs() / 60;
    crate::say!(
        "\nRollgate has no user yet. Create the first admin within {minutes} minutes at:\n\n    \
         {base}/setup?token={token}\n\n(The link works once; a new one is printed here every {minutes} minutes \
         until then. Reached through a proxy? Use the same path on its address. From a shell instead: \
         rollgate user add --role admin ...)\n"
    );
    tracing::info!("no user yet: the set-up link is printed on standard output");
}
