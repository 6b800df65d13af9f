//! "Evaluate for…" on a flag's page: what the flag answers for one customer or organization, in every
//! environment, computed by the same engine and from the same snapshot as the evaluation API.
//!
//! A plain GET form (`?customer=…&organization=…&attrs=…`), so it works without JavaScript and the answer
//! can be linked to.

use crate::components::status::ErrorBox;
use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

/// One environment's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvAnswer {
    pub environment: String,
    /// The value as compact JSON (`true`, `"blue"`, `{"a":1}`).
    pub value: String,
    pub variant: Option<String>,
    pub reason: String,
    /// What the reason means here, in words.
    pub explanation: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluateForResult {
    pub snapshot_version: i64,
    pub answers: Vec<EnvAnswer>,
    /// Who was asked about, as people know them: `customer cust-7 (Ada)`, `organization acme (no name)`.
    pub asked_about: Vec<String>,
}

/// Parses `name=value` pairs separated by commas or new lines.
pub fn parse_attributes(text: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
    let mut out = std::collections::BTreeMap::new();
    for (i, pair) in text.split([',', '\n']).map(str::trim).filter(|p| !p.is_empty()).enumerate() {
        let (name, value) =
            pair.split_once('=').ok_or_else(|| format!("attribute {}: {pair:?} is not name=value", i + 1))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("attribute {}: {pair:?} has no name before '='", i + 1));
        }
        out.insert(name.to_owned(), value.trim().to_owned());
    }
    Ok(out)
}

#[server(endpoint = "evaluate_flag_for")]
pub async fn evaluate_flag_for(
    key: String,
    customer: String,
    organization: String,
    attrs: String,
) -> Result<EvaluateForResult, AppError> {
    use crate::domain::{evaluate, DecidedBy, EvalContext, Reason};
    use crate::server::{to_app_error, AppState, ServiceError};
    crate::server::auth::require(crate::domain::Role::Viewer, "see this").await?;
    let state = expect_context::<AppState>();
    let attributes =
        parse_attributes(&attrs).map_err(|message| to_app_error(ServiceError::invalid("attrs", message)))?;
    let non_empty = |s: String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let ctx = EvalContext {
        customer_id: non_empty(customer),
        organization_id: non_empty(organization),
        attributes,
        ..EvalContext::default()
    };
    let snapshot = state.snapshot.get().ok_or_else(|| {
        to_app_error(ServiceError::invalid(
            "customer",
            "the evaluation snapshot is not loaded yet; try again in a few seconds",
        ))
    })?;
    let mut answers = Vec::new();
    for (env_key, env) in &snapshot.environments {
        let Some(entry) = env.flags.get(&key) else { continue };
        // Not counted in /metrics: these are people looking, not applications asking.
        let Ok(answer) = evaluate(Some((&entry.flag, &entry.env)), &ctx, env) else {
            answers.push(EnvAnswer {
                environment: env_key.clone(),
                value: "—".into(),
                variant: None,
                reason: "FLAG_NOT_FOUND".into(),
                explanation: "archived: applications get FLAG_NOT_FOUND".into(),
            });
            continue;
        };
        let explanation = match answer.decided_by {
            DecidedBy::Disabled => "the flag is off in this environment (kill switch)".to_owned(),
            DecidedBy::Prerequisite { flag } => {
                format!("the prerequisite {flag} is not as this flag requires, so it serves its off value")
            }
            DecidedBy::CustomerOverride => {
                format!("an override for customer {}", ctx.customer_id.as_deref().unwrap_or(""))
            }
            DecidedBy::OrganizationOverride => {
                format!("an override for organization {}", ctx.organization_id.as_deref().unwrap_or(""))
            }
            DecidedBy::AllowList => "on the rollout's allow-list".to_owned(),
            DecidedBy::Rule { position, name, segments } => {
                let share = entry
                    .env
                    .rules
                    .get(position - 1)
                    .and_then(|r| r.percent)
                    .map(|p| format!(", in its {p} share"))
                    .unwrap_or_default();
                match segments {
                    [] => format!("rule {position} ({name}) matched{share}"),
                    _ => format!("rule {position} ({name}) matched, with segment {}{share}", segments.join(", ")),
                }
            }
            DecidedBy::Rollout => match &entry.env.rollout {
                Some(rollout) => format!("bucketed by the rollout at {}", rollout.percent),
                None => "bucketed by the rollout".to_owned(),
            },
            DecidedBy::Default if answer.reason == Reason::Static => {
                "the environment's value; nothing targets this flag here".to_owned()
            }
            DecidedBy::Default => {
                "the environment's default: no prerequisite, override, rule or rollout picked this context".to_owned()
            }
        };
        answers.push(EnvAnswer {
            environment: env_key.clone(),
            value: answer.value.to_string(),
            variant: answer.variant.map(str::to_owned),
            reason: answer.reason.as_str().to_owned(),
            explanation,
        });
    }
    let mut asked_about = Vec::new();
    for (kind, key) in [
        (crate::domain::TargetKind::Customer, &ctx.customer_id),
        (crate::domain::TargetKind::Organization, &ctx.organization_id),
    ] {
        let Some(key) = key else { continue };
        let names = crate::server::registry::names(&state.pool, kind, std::slice::from_ref(key))
            .await
            .map_err(crate::server::to_app_error)?;
        let name = names.get(key).map_or_else(|| "no name registered".to_owned(), Clone::clone);
        asked_about.push(format!("{kind} {key} ({name})"));
    }
    Ok(EvaluateForResult { snapshot_version: snapshot.version, answers, asked_about })
}

/// The form and, once something was asked, the answers in the page's environment order.
#[component]
pub fn EvaluateFor(flag: String, environments: Vec<(String, String)>) -> impl IntoView {
    let query = use_query_map();
    let field = move |name: &'static str| query.with(|q| q.get(name).unwrap_or_default());
    let asked = move || ["customer", "organization", "attrs"].iter().any(|n| !field(n).trim().is_empty());
    let key = flag.clone();
    let result = Resource::new(
        move || (key.clone(), field("customer"), field("organization"), field("attrs"), asked()),
        |(key, customer, organization, attrs, asked)| async move {
            if asked {
                evaluate_flag_for(key, customer, organization, attrs).await.map(Some)
            } else {
                Ok(None)
            }
        },
    );
    let action = format!("/admin/feature-flags/{flag}");
    view! {
        <section class="card" aria-labelledby="evaluate-for-h">
            <h2 id="evaluate-for-h">"Evaluate for…"</h2>
            <p class="muted small">"What this flag answers for one context, in every environment, from the same snapshot applications are served."</p>
            <form method="get" action=action class="filters" role="search" aria-label="Evaluate for a context">
                <div class="field">
                    <label for="eval-customer">"Customer id"</label>
                    <input id="eval-customer" name="customer" type="text" placeholder="e.g. cust-1042" value=move || field("customer") />
                </div>
                <div class="field">
                    <label for="eval-organization">"Organization id"</label>
                    <input id="eval-organization" name="organization" type="text" placeholder="e.g. acme" value=move || field("organization") />
                </div>
                <div class="field">
                    <label for="eval-attrs">"Attributes"</label>
                    <input id="eval-attrs" name="attrs" type="text" placeholder="plan=pro, region=eu" value=move || field("attrs") />
                </div>
                <button type="submit" class="btn">"Evaluate"</button>
            </form>
            <Transition fallback=|| ()>
                {move || {
                    let environments = environments.clone();
                    Suspend::new(async move {
                        match result.await {
                            Ok(Some(found)) => view! { <EvaluateForTable found environments /> }.into_any(),
                            Ok(None) => ().into_any(),
                            Err(error) => view! { <ErrorBox error /> }.into_any(),
                        }
                    })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn EvaluateForTable(found: EvaluateForResult, environments: Vec<(String, String)>) -> impl IntoView {
    let mut answers = found.answers;
    answers.sort_by_key(|a| environments.iter().position(|(k, _)| *k == a.environment).unwrap_or(usize::MAX));
    let name_of =
        move |key: &str| environments.iter().find(|(k, _)| k == key).map_or_else(|| key.to_owned(), |(_, n)| n.clone());
    view! {
        <table class="table" data-testid="evaluate-for-result">
            <caption class="muted small">
                {if found.asked_about.is_empty() {
                    format!("Configuration version {}", found.snapshot_version)
                } else {
                    format!("For {}; configuration version {}", found.asked_about.join(", "), found.snapshot_version)
                }}
            </caption>
            <thead><tr>
                <th scope="col">"Environment"</th><th scope="col">"Value"</th><th scope="col">"Variant"</th>
                <th scope="col">"Reason"</th><th scope="col">"Why"</th>
            </tr></thead>
            <tbody>
                {answers.into_iter().map(|a| view! {
                    <tr data-testid=format!("evaluate-for-{}", a.environment)>
                        <th scope="row">{name_of(&a.environment)}</th>
                        <td><code>{a.value}</code></td>
                        <td>{a.variant.unwrap_or_else(|| "—".into())}</td>
                        <td><code>{a.reason}</code></td>
                        <td class="small">{a.explanation}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_name_value_pairs_separated_by_commas_or_lines() {
        let parsed = parse_attributes(" plan = pro, region=eu\nbeta=").unwrap();
        assert_eq!(parsed.get("plan").map(String::as_str), Some("pro"));
        assert_eq!(parsed.get("region").map(String::as_str), Some("eu"));
        assert_eq!(parsed.get("beta").map(String::as_str), Some(""));
        assert!(parse_attributes("  ").unwrap().is_empty());
    }

    #[test]
    fn an_attribute_without_equals_or_name_is_refused_with_its_position() {
        assert_eq!(parse_attributes("plan=pro, oops").unwrap_err(), "attribute 2: \"oops\" is not name=value");
        assert_eq!(parse_attributes("=x").unwrap_err(), "attribute 1: \"=x\" has no name before '='");
    }
}
