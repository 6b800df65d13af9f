//! `/admin/phases`: the phases flags are grouped and gated by. Everyone sees them; editors add, edit,
//! reorder and delete empty ones (a phase with flags says how many). A flag moves to another phase from
//! its own page. Plain forms: the page works without JavaScript.

use crate::components::status::{Empty, ErrorBox, Loading, ViewOnlyNotice};
use crate::error::AppError;
use crate::model::environments::{PhaseRow, PhasesPageData};
use leptos::prelude::*;
use leptos_meta::Title;

/// `keys` with `key` moved one place `up` or `down` (unchanged at either end).
#[cfg(feature = "ssr")]
pub fn moved(keys: &[String], key: &str, direction: &str) -> Result<Vec<String>, crate::server::ServiceError> {
    use crate::server::ServiceError;
    let at = keys.iter().position(|k| k == key).ok_or_else(|| ServiceError::NotFound(format!("{:?}", shown(key))))?;
    let mut order = keys.to_vec();
    match direction {
        "up" if at > 0 => order.swap(at, at - 1),
        "down" if at + 1 < order.len() => order.swap(at, at + 1),
        "up" | "down" => {}
        other => {
            return Err(ServiceError::invalid(
                "direction",
                format!("{:?} is not a direction: up or down", shown(other)),
            ))
        }
    }
    Ok(order)
}

/// A value sent back in a message, cut to its first 64 characters: a 10,000-character key needs no echo.
#[cfg(feature = "ssr")]
fn shown(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_owned(),
    }
}

#[server(endpoint = "list_phases")]
pub async fn list_phases() -> Result<PhasesPageData, AppError> {
    use crate::server::{phases, to_app_error, AppState};
    let me = crate::server::auth::require(crate::domain::Role::Viewer, "see this").await?;
    let state = expect_context::<AppState>();
    let phases = phases::list(&state.pool).await.map_err(to_app_error)?;
    Ok(PhasesPageData { phases, can_edit: me.role.can_edit_flags() })
}

#[cfg(feature = "ssr")]
fn fields(
    name: &str,
    description: &str,
    requires_previous: Option<String>,
) -> Result<crate::server::phases::PhaseFields, AppError> {
    let invalid = |e: crate::domain::InvalidValue| crate::server::to_app_error(e.into());
    Ok(crate::server::phases::PhaseFields {
        name: crate::domain::PhaseName::parse(name).map_err(invalid)?,
        description: crate::domain::Description::parse(description).map_err(invalid)?,
        // A checkbox: sent when ticked, absent otherwise.
        requires_previous: requires_previous.is_some(),
    })
}

#[cfg(feature = "ssr")]
fn parse_key(key: &str) -> Result<crate::domain::PhaseKey, AppError> {
    crate::domain::PhaseKey::parse(key).map_err(|e| crate::server::to_app_error(e.into()))
}

#[server(endpoint = "create_phase")]
pub async fn create_phase(
    key: String,
    name: String,
    description: String,
    requires_previous: Option<String>,
) -> Result<String, AppError> {
    use crate::server::{audit::Actor, phases, to_app_error, AppState};
    let me = crate::server::auth::require(crate::domain::Role::Editor, "manage phases").await?;
    let key = parse_key(&key)?;
    let fields = fields(&name, &description, requires_previous)?;
    let state = expect_context::<AppState>();
    phases::create(&state.pool, &Actor::user(&me), &key, &fields).await.map_err(to_app_error)?;
    Ok(key.to_string())
}

#[server(endpoint = "update_phase")]
pub async fn update_phase(
    key: String,
    name: String,
    description: String,
    requires_previous: Option<String>,
    expected_version: Option<i32>,
) -> Result<(), AppError> {
    use crate::server::{audit::Actor, phases, to_app_error, AppState};
    let me = crate::server::auth::require(crate::domain::Role::Editor, "manage phases").await?;
    let key = parse_key(&key)?;
    let fields = fields(&name, &description, requires_previous)?;
    let state = expect_context::<AppState>();
    phases::update(&state.pool, &Actor::user(&me), &key, &fields, expected_version).await.map_err(to_app_error)?;
    Ok(())
}

#[server(endpoint = "move_phase")]
pub async fn move_phase(key: String, direction: String) -> Result<(), AppError> {
    use crate::server::{audit::Actor, phases, to_app_error, AppState};
    let me = crate::server::auth::require(crate::domain::Role::Editor, "manage phases").await?;
    let state = expect_context::<AppState>();
    let keys: Vec<String> = phases::list(&state.pool).await.map_err(to_app_error)?.into_iter().map(|p| p.key).collect();
    let order = moved(&keys, &key, &direction).map_err(to_app_error)?;
    let order = order.iter().map(|k| parse_key(k)).collect::<Result<Vec<_>, _>>()?;
    phases::reorder(&state.pool, &Actor::user(&me), &order).await.map_err(to_app_error)
}

#[server(endpoint = "delete_phase")]
pub async fn delete_phase(key: String) -> Result<(), AppError> {
    use crate::server::{audit::Actor, phases, to_app_error, AppState};
    let me = crate::server::auth::require(crate::domain::Role::Editor, "manage phases").await?;
    let key = parse_key(&key)?;
    let state = expect_context::<AppState>();
    phases::delete(&state.pool, &Actor::user(&me), &key).await.map_err(to_app_error)
}

#[component]
pub fn PhasesPage() -> AnyView {
    let create = ServerAction::<CreatePhase>::new();
    let update = ServerAction::<UpdatePhase>::new();
    let reorder = ServerAction::<MovePhase>::new();
    let delete = ServerAction::<DeletePhase>::new();
    let page = Resource::new(
        move || (create.version().get(), update.version().get(), reorder.version().get(), delete.version().get()),
        |_| list_phases(),
    );
    view! {
        <Title text="Phases" />
        <nav class="breadcrumb" aria-label="Breadcrumb">
            <a href="/admin/feature-flags">"Feature flags"</a>" / "<span aria-current="page">"Phases"</span>
        </nav>
        <div class="page-head">
            <h1>"Phases"</h1>
            <p class="muted">
                "Flags that ship together, in order. A phase that requires the previous one keeps its flags at 0% "
                "in an environment until every flag of the phase before it is fully rolled out there."
            </p>
        </div>
        {move || update.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
        {move || reorder.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
        {move || delete.value().get().and_then(Result::err).map(|error| view! {
            <div data-testid="delete-error"><ErrorBox error /></div>
        })}
        <Transition fallback=|| view! { <Loading what="phases" /> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(data) => view! { <PhasesBody data create update reorder delete /> }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                }
            })}
        </Transition>
    }
    .into_any()
}

#[component]
fn PhasesBody(
    data: PhasesPageData,
    create: ServerAction<CreatePhase>,
    update: ServerAction<UpdatePhase>,
    reorder: ServerAction<MovePhase>,
    delete: ServerAction<DeletePhase>,
) -> AnyView {
    let PhasesPageData { phases, can_edit } = data;
    let count = phases.len();
    view! {
        {if can_edit { view! { <NewPhaseForm create /> }.into_any() } else { view! { <ViewOnlyNotice /> }.into_any() }}
        {if phases.is_empty() {
            view! { <Empty message="No phases yet. Flags without a phase are listed under \"No phase\"." /> }.into_any()
        } else {
            view! {
                <ol class="phase-list">
                    {phases.into_iter().enumerate().map(|(i, phase)| view! {
                        <PhaseCard phase first=i == 0 last=i + 1 == count can_edit update reorder delete />
                    }).collect_view()}
                </ol>
            }.into_any()
        }}
    }
    .into_any()
}

#[component]
fn NewPhaseForm(create: ServerAction<CreatePhase>) -> AnyView {
    let result = create.value();
    let error = move |field: &'static str| result.get().and_then(Result::err).and_then(|e| e.field_message(field));
    let other_error = move || {
        result
            .get()
            .and_then(Result::err)
            .filter(|e| !["key", "name", "description"].iter().any(|f| e.field_message(f).is_some()))
    };
    view! {
        <details class="card" open=move || matches!(result.get(), Some(Err(_)))>
            <summary class="btn btn-primary">"New phase"</summary>
            {move || other_error().map(|error| view! { <ErrorBox error /> })}
            <ActionForm action=create attr:class="form-grid" attr:aria-label="New phase">
                <div class="field">
                    <label for="phase-key">"Key"</label>
                    <input id="phase-key" name="key" type="text" required maxlength="100" autocomplete="off" spellcheck="false"
                        placeholder="phase-1" aria-invalid=move || error("key").is_some().to_string()
                        aria-describedby="phase-key-hint phase-key-error" />
                    <p class="hint" id="phase-key-hint">"Lowercase letters, digits, _ . and -; used by the flag filter and rollgate rollback --phase."</p>
                    <p id="phase-key-error" class="field-error" role="alert">{move || error("key")}</p>
                </div>
                <div class="field">
                    <label for="phase-name">"Name"</label>
                    <input id="phase-name" name="name" type="text" required maxlength="200" placeholder="Phase 1: Session persistence"
                        aria-invalid=move || error("name").is_some().to_string() aria-describedby="phase-name-error" />
                    <p id="phase-name-error" class="field-error" role="alert">{move || error("name")}</p>
                </div>
                <div class="field">
                    <label for="phase-description">"Description"</label>
                    <textarea id="phase-description" name="description" rows="2" maxlength="2000" aria-describedby="phase-description-error"></textarea>
                    <p id="phase-description-error" class="field-error" role="alert">{move || error("description")}</p>
                </div>
                <label class="checkbox">
                    <input type="checkbox" name="requires_previous" value="on" />
                    "Requires the previous phase to be fully rolled out"
                </label>
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" disabled=move || create.pending().get()>"Create phase"</button>
                </div>
            </ActionForm>
        </details>
    }
    .into_any()
}

#[component]
fn PhaseCard(
    phase: PhaseRow,
    first: bool,
    last: bool,
    can_edit: bool,
    update: ServerAction<UpdatePhase>,
    reorder: ServerAction<MovePhase>,
    delete: ServerAction<DeletePhase>,
) -> AnyView {
    let key = phase.key.clone();
    let flags = match phase.flags {
        0 => "no flags".to_owned(),
        1 => "1 flag".to_owned(),
        n => format!("{n} flags"),
    };
    let filter = format!("/admin/feature-flags?phase={key}");
    let heading_id = format!("phase-card-{key}-h");
    let labelled_by = heading_id.clone();
    view! {
        <li class="card phase-card" data-testid=format!("phase-card-{key}") aria-labelledby=labelled_by>
            <div class="phase-card-head">
                <h2 id=heading_id>{phase.name.clone()}</h2>
                <p class="muted small">
                    <code>{key.clone()}</code>" · "<a href=filter>{flags}</a>
                    {phase.requires_previous.then_some(" · requires the previous phase")}
                </p>
            </div>
            {(!phase.description.is_empty()).then(|| view! { <p>{phase.description.clone()}</p> })}
            {can_edit.then(|| {
                let confirm = format!("return confirm('Delete the phase {key}?')");
                let (k_up, k_down, k_edit, k_del) = (key.clone(), key.clone(), key.clone(), key.clone());
                let ids = (format!("name-{key}"), format!("desc-{key}"));
                let edit_label = format!("Edit {k_edit}");
                view! {
                    <div class="phase-actions">
                        <ActionForm action=reorder attr:class="inline-form">
                            <input type="hidden" name="key" value=k_up.clone() />
                            <input type="hidden" name="direction" value="up" />
                            <button type="submit" class="btn btn-quiet" disabled=first aria-label=format!("Move {k_up} up")>"↑ Up"</button>
                        </ActionForm>
                        <ActionForm action=reorder attr:class="inline-form">
                            <input type="hidden" name="key" value=k_down.clone() />
                            <input type="hidden" name="direction" value="down" />
                            <button type="submit" class="btn btn-quiet" disabled=last aria-label=format!("Move {k_down} down")>"↓ Down"</button>
                        </ActionForm>
                        <ActionForm action=delete attr:class="inline-form" attr:onsubmit=confirm>
                            <input type="hidden" name="key" value=k_del.clone() />
                            <button type="submit" class="btn btn-danger" aria-label=format!("Delete {k_del}")>"Delete"</button>
                        </ActionForm>
                    </div>
                    <details>
                        <summary>"Edit"</summary>
                        <ActionForm action=update attr:class="form-grid" attr:aria-label=edit_label>
                            <input type="hidden" name="key" value=k_edit />
                            <input type="hidden" name="expected_version" value=phase.version.to_string() />
                            <div class="field">
                                <label for=ids.0.clone()>"Name"</label>
                                <input id=ids.0 name="name" type="text" required maxlength="200" value=phase.name.clone() />
                            </div>
                            <div class="field">
                                <label for=ids.1.clone()>"Description"</label>
                                <textarea id=ids.1 name="description" rows="2" maxlength="2000">{phase.description.clone()}</textarea>
                            </div>
                            <label class="checkbox">
                                <input type="checkbox" name="requires_previous" value="on" checked=phase.requires_previous />
                                "Requires the previous phase to be fully rolled out"
                            </label>
                            <div class="form-actions">
                                <button type="submit" class="btn btn-primary">"Save"</button>
                            </div>
                        </ActionForm>
                    </details>
                }
            })}
        </li>
    }
    .into_any()
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use crate::server::ServiceError;

    fn keys() -> Vec<String> {
        vec!["a".into(), "b".into(), "c".into()]
    }

    #[test]
    fn moving_swaps_with_the_neighbour_and_stops_at_either_end() {
        assert_eq!(moved(&keys(), "b", "up").unwrap(), vec!["b", "a", "c"]);
        assert_eq!(moved(&keys(), "b", "down").unwrap(), vec!["a", "c", "b"]);
        assert_eq!(moved(&keys(), "a", "up").unwrap(), keys());
        assert_eq!(moved(&keys(), "c", "down").unwrap(), keys());
    }

    #[test]
    fn moving_an_unknown_key_or_in_an_unknown_direction_is_refused() {
        assert!(matches!(moved(&keys(), "z", "up"), Err(ServiceError::NotFound(_))));
        assert!(AppError::from(moved(&keys(), "a", "sideways").unwrap_err()).field_message("direction").is_some());
    }

    #[test]
    fn a_long_unknown_key_or_direction_is_named_by_its_first_64_characters() {
        let long = "k".repeat(10_000);
        let Err(ServiceError::NotFound(message)) = moved(&keys(), &long, "up") else { panic!("not a 404") };
        assert_eq!(message, format!("{:?}", format!("{}…", "k".repeat(64))));
        let refused = AppError::from(moved(&keys(), "a", &"é".repeat(70)).unwrap_err());
        let message = refused.field_message("direction").unwrap();
        assert!(message.starts_with(&format!("\"{}…\" is not a direction", "é".repeat(64))), "{message}");
        assert_eq!(shown("short"), "short");
    }
}
