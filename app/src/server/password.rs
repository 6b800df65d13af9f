//! Password hashing: argon2id with OWASP's parameters (m = 19456 KiB, t = 2, p = 1).

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// The shortest password accepted for a new account.
pub const MIN_PASSWORD_LEN: usize = 12;

fn hasher() -> Result<Argon2<'static>, argon2::Error> {
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(19_456, 2, 1, None)?))
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    let argon = hasher().map_err(|e| e.to_string())?;
    argon.hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

/// Checks a password against a stored PHC string. A malformed hash counts as a mismatch.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    let Ok(argon) = hasher() else { return false };
    argon.verify_password(password.as_bytes(), &parsed).is_ok()
}

/// A hash of a random password, verified against when the account does not exist, so that an unknown
/// email and a wrong password take the same time.
pub fn dummy_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0pWb7k+8LZ2K0nGTt8vOV9Cw4wdNVUF7jsgMDr2MTkE"
}

/// Refuses passwords too short to be safe.
pub fn check_password_policy(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(format!("the password has {n} characters; it needs at least {MIN_PASSWORD_LEN}"));
    }
    Ok(())
}

/// Checks a new password typed twice (`field` and `{field}_again` on the form) and hashes it, off the
/// async threads: argon2 takes tens of milliseconds of CPU.
pub async fn hash_new(
    password: &str,
    again: &str,
    field: &'static str,
    again_field: &'static str,
) -> Result<String, super::ServiceError> {
    use super::ServiceError;
    check_password_policy(password).map_err(|message| ServiceError::Invalid { field, message })?;
    if password != again {
        return Err(ServiceError::Invalid { field: again_field, message: "the two passwords differ".into() });
    }
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ServiceError::Other(format!("hashing a password: {e}")))?
        .map_err(|e| ServiceError::Other(format!("hashing a password: {e}")))
}

/// [`verify_password`] off the async threads.
pub async fn verify_blocking(password: &str, phc: &str) -> bool {
    let (password, phc) = (password.to_owned(), phc.to_owned());
    tokio::task::spawn_blocking(move || verify_password(&password, &phc)).await.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_argon2id_with_owasp_parameters_and_verifies() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse battery!", &hash));
    }

    #[test]
    fn a_malformed_hash_never_verifies() {
        assert!(!verify_password("x", "not a hash"));
        assert!(PasswordHash::new(dummy_hash()).is_ok());
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_password_policy("short").is_err());
        assert!(check_password_policy("long enough pw").is_ok());
    }
}
