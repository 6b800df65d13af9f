//! API token scopes.

use super::text_enum;

text_enum!(
    /// What an API token may do.
    TokenScope, "scope", {
        /// Evaluate flags in one environment.
        Evaluate => "evaluate",
        /// Call the admin API as the user the token was made for.
        Admin => "admin",
    }
);
