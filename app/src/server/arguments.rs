//! Server-function arguments that do not decode (`enabled=maybe`, `version=1e309`, a body that is not
//! UTF-8) are the caller's mistake: a 422 that names the argument, never the decoder's 500.
//!
//! server_fn decodes a call's arguments itself (serde_qs for forms, serde_json for JSON bodies) and keeps
//! only the decoder's message, which seldom says which argument was wrong. So the server's input screen
//! keeps the request body in the request's extensions ([`ArgumentBody`]), and on a decoding error
//! [`client_error`] decodes it again, into the function's own argument type, with serde_path_to_error,
//! which says where it failed. [`LOCATORS`] lists the functions that take arguments; the bad-input suite
//! (`server/tests/it/bad_input.rs`) fails for one that is missing, as its errors would not name the field.

use crate::error::AppError;
use serde::de::DeserializeOwned;
use server_fn::error::ServerFnErrorErr;
use server_fn::ServerFn;

/// The raw body of a request, as it arrived.
#[derive(Debug, Clone)]
pub struct ArgumentBody(pub server_fn::Bytes);

/// The error to answer when server_fn could not decode a call's arguments on the server; `None` for
/// errors that are not about the caller's input.
pub fn client_error(err: &ServerFnErrorErr) -> Option<AppError> {
    let decoder_message = match err {
        ServerFnErrorErr::Args(message) | ServerFnErrorErr::Deserialization(message) => message,
        ServerFnErrorErr::MissingArg(name) => return Some(invalid(name, "missing".to_owned())),
        _ => return None,
    };
    let parts = leptos::prelude::use_context::<http::request::Parts>();
    let located = parts.as_ref().and_then(|parts| {
        let body = parts.extensions.get::<ArgumentBody>()?;
        locate(parts.uri.path(), &body.0)
    });
    let (field, problem) = located.unwrap_or_else(|| {
        let field = missing_field(decoder_message).unwrap_or("arguments").to_owned();
        (field, readable(decoder_message))
    });
    Some(invalid(&field, problem))
}

fn invalid(field: &str, problem: String) -> AppError {
    AppError::Invalid { field: field.to_owned(), message: format!("{field}: {problem}") }
}

/// serde's "missing field `x`".
fn missing_field(message: &str) -> Option<&str> {
    message.split("missing field `").nth(1)?.split('`').next()
}

/// The decoder's message without server_fn's framing.
fn readable(message: &str) -> String {
    if message.contains("length limit exceeded") {
        return "the request body is too large".to_owned();
    }
    if message.contains("utf-8") {
        return "the request body is not UTF-8 text".to_owned();
    }
    message.to_owned()
}

type Locator = fn(&[u8]) -> Option<(String, String)>;

/// Which argument of the function at `path` the body gets wrong, and what is wrong with it.
fn locate(path: &str, body: &[u8]) -> Option<(String, String)> {
    match LOCATORS.iter().find(|(p, _)| *p == path) {
        Some((_, locator)) => locator(body),
        // A function without arguments: only the form's syntax can be wrong.
        None => form::<serde::de::IgnoredAny>(body),
    }
}

/// Decodes a form body as server_fn does (serde_qs, five levels deep, not strict).
fn form<T: DeserializeOwned>(body: &[u8]) -> Option<(String, String)> {
    if std::str::from_utf8(body).is_err() {
        return Some(("arguments".to_owned(), "the request body is not UTF-8 text".to_owned()));
    }
    let decoder = match serde_qs::Deserializer::with_config(&serde_qs::Config::new(5, false), body) {
        Ok(decoder) => decoder,
        Err(serde_qs::Error::Parse(message, position)) => return Some((key_at(body, position), message)),
        Err(other) => return Some(("arguments".to_owned(), other.to_string())),
    };
    serde_path_to_error::deserialize::<_, T>(decoder).err().map(|err| located(err.path(), err.inner()))
}

fn json<T: DeserializeOwned>(body: &[u8]) -> Option<(String, String)> {
    let mut decoder = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize::<_, T>(&mut decoder).err().map(|err| located(err.path(), err.inner()))
}

/// The argument (the path's first segment) and the problem, with the full path when it goes deeper.
fn located(path: &serde_path_to_error::Path, inner: &impl std::fmt::Display) -> (String, String) {
    let full = path.to_string();
    let top = full.split(['.', '[']).next().filter(|s| !s.is_empty() && *s != "?").unwrap_or("arguments");
    let problem = if full.len() > top.len() { format!("{full}: {inner}") } else { inner.to_string() };
    (top.to_owned(), readable(&problem))
}

/// The name of the form field whose `key=value` pair holds byte `position`.
fn key_at(body: &[u8], position: usize) -> String {
    let mut start = 0;
    for pair in body.split(|b| *b == b'&') {
        let end = start + pair.len();
        if position <= end {
            let key = pair.split(|b| *b == b'=').next().unwrap_or_default();
            let key: String =
                form_urlencoded::parse(&[key, b"=".as_slice()].concat()).map(|(k, _)| k.into_owned()).collect();
            return key.split('[').next().filter(|k| !k.is_empty()).unwrap_or("arguments").to_owned();
        }
        start = end + 1;
    }
    "arguments".to_owned()
}

macro_rules! locators {
    ($($codec:ident $ty:path),* $(,)?) => {
        /// Every server function that takes arguments, with how its body is decoded.
        pub const LOCATORS: &[(&str, Locator)] = &[$((<$ty as ServerFn>::PATH, $codec::<$ty>)),*];
    };
}

locators!(
    form crate::components::toggle::ToggleFlag,
    json crate::pages::audit::ListAudit,
    form crate::pages::settings::webhooks::CreateWebhook,
    form crate::pages::settings::webhooks::SetWebhookEnabled,
    form crate::pages::settings::webhooks::DeleteWebhook,
    form crate::pages::settings::webhooks::TestWebhook,
    form crate::pages::tokens::CreateToken,
    form crate::pages::tokens::RevokeToken,
    form crate::pages::priority_urls::batches::RollbackImport,
    form crate::pages::priority_urls::flag_panel::SetAccountFlag,
    json crate::pages::priority_urls::account::GetPriorityAccount,
    form crate::pages::flags::new_flag::CreateFlag,
    form crate::pages::flags::evaluate_for::EvaluateFlagFor,
    json crate::pages::flags::list::ListFlags,
    form crate::pages::flags::detail::GetFlag,
    form crate::pages::rollouts::page::GetRollout,
    form crate::pages::rollouts::actions::CreateRollout,
    form crate::pages::rollouts::actions::EditRollout,
    form crate::pages::rollouts::actions::RolloutAct,
    form crate::pages::rollouts::actions::SignRollout,
    form crate::pages::rollouts::guardrails::RolloutGuardrails,
    form crate::pages::rollouts::guardrails::AddGuardrail,
    form crate::pages::rollouts::guardrails::RemoveGuardrail,
    form crate::pages::rollouts::guardrails::SetAutoAdvance,
    form crate::pages::rollouts::charts::RolloutCharts,
    json crate::pages::rollouts::charts::RolloutSparklines,
    form crate::pages::rollouts::panel::FlagRollouts,
    form crate::pages::schedule::ScheduleChange,
    form crate::pages::schedule::CancelScheduledChange,
    form crate::pages::schedule::ScheduledForFlag,
    form crate::pages::settings::environments::CreateEnvironment,
    form crate::pages::settings::environments::RenameEnvironment,
    form crate::pages::settings::environments::MoveEnvironment,
    form crate::pages::settings::environments::ArchiveEnvironment,
    form crate::pages::phases::CreatePhase,
    form crate::pages::phases::UpdatePhase,
    form crate::pages::phases::MovePhase,
    form crate::pages::phases::DeletePhase,
    form crate::pages::flags::move_phase::MoveFlagToPhase,
    form crate::pages::flags::frontend_visibility::SetFrontendVisibility,
    form crate::pages::flags::overrides::LoadFlagOverrides,
    form crate::pages::flags::override_actions::AddOverride,
    form crate::pages::flags::override_actions::ChangeOverride,
    form crate::pages::flags::override_actions::RemoveOverride,
    form crate::pages::flags::targeting_actions::LoadFlagTargeting,
    form crate::pages::flags::targeting_actions::SaveRule,
    form crate::pages::flags::targeting_actions::MoveRule,
    form crate::pages::flags::targeting_actions::DeleteRule,
    form crate::pages::flags::targeting_actions::AddPrerequisite,
    form crate::pages::flags::targeting_actions::RemovePrerequisite,
    form crate::pages::segments::SaveSegment,
    form crate::pages::segments::DeleteSegment,
    json crate::pages::organizations::LoadRegistry,
    form crate::pages::organizations::CreateOrganization,
    form crate::pages::organizations::RenameOrganization,
    form crate::pages::users::InviteUser,
    form crate::pages::user::GetUser,
    form crate::pages::user::UpdateUserRoles,
    form crate::pages::user::SetUserDisabled,
    form crate::pages::user::ResetUserPassword,
    form crate::pages::account::ChangePassword,
    form crate::pages::setup::SetupLink,
    form crate::pages::setup::CompleteSetup,
    form crate::pages::setup::PasswordLink,
    form crate::pages::setup::SetPassword,
);

/// Whether a server function's argument errors can be located (it is in [`LOCATORS`]).
pub fn knows(path: &str) -> bool {
    LOCATORS.iter().any(|(p, _)| *p == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_where_a_boolean_goes_is_named_by_its_argument() {
        let body = b"flag=checkout&env=production&enabled=maybe&version=1";
        let (field, problem) = locate("/api/toggle_flag", body).unwrap();
        assert_eq!(field, "enabled");
        assert!(problem.contains("true") && problem.contains("false"), "{problem}");
    }

    #[test]
    fn a_number_past_any_integer_is_named_by_its_argument() {
        let (field, _) = locate("/api/toggle_flag", b"flag=a&env=b&enabled=true&version=1e309").unwrap();
        assert_eq!(field, "version");
    }

    #[test]
    fn a_broken_form_is_named_by_the_pair_where_it_breaks() {
        let body = format!("flag=a&env=b&enabled=true&reason[a][b][c][d][e][f][g]={}", "=".repeat(50));
        let (field, _) = locate("/api/toggle_flag", body.as_bytes()).unwrap();
        assert_eq!(field, "reason");
    }

    #[test]
    fn a_json_argument_is_named_with_its_path() {
        let (field, problem) = locate("/api/list_flags", br#"{"query": {"page": -1}}"#).unwrap();
        assert_eq!(field, "query");
        assert!(problem.starts_with("query.page: "), "{problem}");
    }

    #[test]
    fn a_valid_body_locates_nothing() {
        assert_eq!(locate("/api/toggle_flag", b"flag=a&env=b&enabled=true"), None);
    }
}
