//! `/admin/segments`: named, reusable lists of conditions ("beta testers", "EU customers", "internal
//! staff"). Each shows the rules and rollout audiences that use it; editing one changes all of them at
//! once, and one in use cannot be deleted. Plain forms posting to server functions, so the page works without JavaScript.
// One argument per form field: a plain HTML form posts them by name.
#![allow(clippy::too_many_arguments)]

use crate::components::status::{ErrorBox, Loading, ViewOnlyNotice};
use crate::error::AppError;
use crate::model::targeting::SegmentView;
use crate::pages::targeting_form::{describe, ConditionRows, ContextFieldList};
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

/// What the page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentsPageData {
    pub segments: Vec<SegmentView>,
    pub can_edit: bool,
}

#[server(endpoint = "list_segments")]
pub async fn list_segments() -> Result<SegmentsPageData, AppError> {
    use crate::server::{targeting::segments, to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Viewer, "see segments").await?;
    let state = expect_context::<AppState>();
    let segments = segments::list(&state.pool).await.map_err(to_app_error)?;
    Ok(SegmentsPageData { segments, can_edit: user.role.can_edit_flags() })
}

/// Creates a segment (no `original`) or changes the one whose key is `original`.
#[server(endpoint = "segment_save")]
pub async fn save_segment(
    original: Option<String>,
    key: String,
    name: String,
    description: Option<String>,
    field: Option<Vec<String>>,
    negate: Option<Vec<String>>,
    operator: Option<Vec<String>>,
    values: Option<Vec<String>>,
    case: Option<Vec<String>>,
    expected_version: Option<i32>,
    reason: Option<String>,
) -> Result<String, AppError> {
    use crate::model::targeting::SegmentInput;
    use crate::server::{audit::Actor, targeting::segments, to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Editor, "change segments").await?;
    let state = expect_context::<AppState>();
    let constraints = crate::pages::targeting_form::constraints_from_rows(
        &field.unwrap_or_default(),
        &negate.unwrap_or_default(),
        &operator.unwrap_or_default(),
        &values.unwrap_or_default(),
        &case.unwrap_or_default(),
    )
    .map_err(|e| to_app_error(e.into()))?;
    let input = SegmentInput { key, name, description: description.unwrap_or_default(), constraints };
    let actor = Actor::user(&user);
    let view = match original.as_deref().map(str::trim).filter(|o| !o.is_empty()) {
        Some(original) => {
            segments::update(&state.pool, &actor, original, &input, expected_version, reason.as_deref()).await
        }
        None => segments::create(&state.pool, &actor, &input).await,
    }
    .map_err(to_app_error)?;
    let users = match view.used_by.len() {
        0 => String::new(),
        1 => " What uses it follows from the next evaluation.".to_owned(),
        n => format!(" The {n} rules and rollouts that use it follow from the next evaluation."),
    };
    Ok(format!("Saved the segment {}.{users}", view.key))
}

#[server(endpoint = "segment_delete")]
pub async fn delete_segment(key: String, expected_version: Option<i32>) -> Result<String, AppError> {
    use crate::server::{audit::Actor, targeting::segments, to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Editor, "delete segments").await?;
    let state = expect_context::<AppState>();
    segments::delete(&state.pool, &Actor::user(&user), &key, expected_version, None).await.map_err(to_app_error)?;
    Ok(format!("Deleted the segment {key}."))
}

#[component]
pub fn SegmentsPage() -> impl IntoView {
    let save = ServerAction::<SaveSegment>::new();
    let delete = ServerAction::<DeleteSegment>::new();
    let data = Resource::new(move || (save.version().get(), delete.version().get()), |_| list_segments());
    let outcome = move || [save.value().get(), delete.value().get()].into_iter().flatten().last();
    view! {
        <Title text="Segments" />
        <h1>"Segments"</h1>
        <p class="muted">
            "A segment names a set of customers by conditions on what your application sends: "
            "\"beta testers\", \"EU customers\", \"internal staff\". Targeting rules and rollout audiences of "
            "any flag use it; editing it changes all of them at once."
        </p>
        <div aria-live="polite">
            {move || outcome().map(|result| match result {
                Ok(message) => view! { <p class="state state-info" role="status" data-testid="segment-outcome">{message}</p> }.into_any(),
                Err(error) => view! { <div data-testid="segment-outcome-error"><ErrorBox error /></div> }.into_any(),
            })}
        </div>
        <ContextFieldList />
        <Transition fallback=|| view! { <Loading what="the segments" /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(data) => view! { <SegmentsBody data save delete /> }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn SegmentsBody(
    data: SegmentsPageData,
    save: ServerAction<SaveSegment>,
    delete: ServerAction<DeleteSegment>,
) -> impl IntoView {
    let SegmentsPageData { segments, can_edit } = data;
    let list = if segments.is_empty() {
        view! { <p class="state state-empty">"No segments yet."</p> }.into_any()
    } else {
        segments
            .into_iter()
            .map(|segment| view! { <SegmentCard segment can_edit save delete /> })
            .collect_view()
            .into_any()
    };
    view! {
        {(!can_edit).then(|| view! { <ViewOnlyNotice /> })}
        {list}
        {can_edit.then(|| view! {
            <section class="card" aria-labelledby="new-segment-h">
                <h2 id="new-segment-h">"New segment"</h2>
                <SegmentForm segment=None save />
            </section>
        })}
    }
}

#[component]
fn SegmentCard(
    segment: SegmentView,
    can_edit: bool,
    save: ServerAction<SaveSegment>,
    delete: ServerAction<DeleteSegment>,
) -> impl IntoView {
    let heading = format!("segment-{}-h", segment.key);
    let conditions = if segment.constraints.is_empty() {
        view! { <p class="muted small">"No conditions: everyone is in it."</p> }.into_any()
    } else {
        view! { <ul class="conditions">{segment.constraints.iter().map(|c| view! { <li>{describe(c)}</li> }).collect_view()}</ul> }
            .into_any()
    };
    let used_by = if segment.used_by.is_empty() {
        view! { <p class="muted small" data-testid="segment-unused">"Used by no rule or rollout."</p> }.into_any()
    } else {
        let items = segment
            .used_by
            .iter()
            .map(|u| match u.rollout {
                Some(id) => view! {
                    <li><a href=format!("/admin/rollouts/{id}")>{format!("rollout of {} in {}", u.flag, u.environment)}</a>
                        " (its audience)"</li>
                }
                .into_any(),
                None => view! {
                    <li><a href=format!("/admin/feature-flags/{}", u.flag)>{u.flag.clone()}</a>
                        {format!(" in {}, rule {}", u.environment, u.rule)}</li>
                }
                .into_any(),
            })
            .collect_view();
        view! { <div data-testid="segment-used-by"><p class="small">"Used by:"</p><ul>{items}</ul></div> }.into_any()
    };
    let editing = can_edit.then(|| {
        let key = segment.key.clone();
        let in_use = !segment.used_by.is_empty();
        let confirm = format!("return confirm('Delete the segment {key}?')");
        view! {
            <details class="rule-editor">
                <summary>{format!("Edit {}", segment.key)}</summary>
                <SegmentForm segment=Some(segment.clone()) save />
            </details>
            <ActionForm action=delete attr:class="inline-form" attr:onsubmit=confirm>
                <input type="hidden" name="key" value=key.clone() />
                <input type="hidden" name="expected_version" value=segment.version.to_string() />
                <button type="submit" class="btn btn-small btn-danger" aria-label=format!("Delete the segment {key}")
                    title=in_use.then_some("Take it out of the rules and rollouts that use it first")>"Delete"</button>
            </ActionForm>
        }
    });
    let labelled = heading.clone();
    view! {
        <section class="card" aria-labelledby=labelled data-testid=format!("segment-{}", segment.key)>
            <h2 id=heading>{segment.name.clone()}" "<code class="muted small">{segment.key.clone()}</code></h2>
            {(!segment.description.is_empty()).then(|| view! { <p>{segment.description.clone()}</p> })}
            {conditions}
            {used_by}
            {editing}
        </section>
    }
}

#[component]
fn SegmentForm(segment: Option<SegmentView>, save: ServerAction<SaveSegment>) -> impl IntoView {
    let id = segment.as_ref().map_or_else(|| "segment-new".to_owned(), |s| format!("segment-{}", s.key));
    let (key, name, description, constraints, version) = match &segment {
        Some(s) => (s.key.clone(), s.name.clone(), s.description.clone(), s.constraints.clone(), Some(s.version)),
        None => (String::new(), String::new(), String::new(), Vec::new(), None),
    };
    let error =
        move |field: &'static str| save.value().get().and_then(Result::err).and_then(|e| e.field_message(field));
    let editing = segment.is_some();
    let label = if editing { format!("Edit the segment {key}") } else { "New segment".to_owned() };
    let form = crate::components::forms::clear_after_success(save);
    view! {
        <ActionForm action=save node_ref=form attr:class="form-grid" attr:aria-label=label>
            {editing.then(|| view! { <input type="hidden" name="original" value=key.clone() /> })}
            {version.map(|v| view! { <input type="hidden" name="expected_version" value=v.to_string() /> })}
            <div class="field">
                <label for=format!("{id}-key")>"Key"</label>
                <input id=format!("{id}-key") name="key" type="text" required value=key.clone() readonly=editing
                    placeholder="beta-testers" pattern="[A-Za-z0-9_.\\-]{1,100}" />
                {(!editing).then(|| view! { <p class="field-error" role="alert">{move || error("key")}</p> })}
            </div>
            <div class="field">
                <label for=format!("{id}-name")>"Name"</label>
                <input id=format!("{id}-name") name="name" type="text" required maxlength="200" value=name placeholder="Beta testers" />
            </div>
            <div class="field field-wide">
                <label for=format!("{id}-description")>"Description"</label>
                <input id=format!("{id}-description") name="description" type="text" maxlength="2000" value=description />
            </div>
            <fieldset class="field field-wide">
                <legend>"Conditions (every one holds)"</legend>
                <ConditionRows id=id.clone() constraints />
            </fieldset>
            {editing.then(|| view! {
                <div class="field field-wide">
                    <label for=format!("{id}-reason")>"Reason"</label>
                    <input id=format!("{id}-reason") name="reason" type="text" maxlength="2000" placeholder="why, for the audit trail" />
                </div>
            })}
            <div class="form-actions">
                <button type="submit" class="btn btn-primary" disabled=move || save.pending().get()>
                    {if editing { "Save segment" } else { "Create segment" }}
                </button>
            </div>
        </ActionForm>
    }
}
