//! `/admin/approvals`: what waits for a sign-off in one of the viewer's roles, with the forms to approve
//! or reject it. Anyone signed in may hold sign-off roles, viewers included (a product owner often is one).

use super::actions::SignRollout;
use super::widgets::Outcome;
use super::Viewer;
use crate::components::status::{ErrorBox, Loading};
use crate::error::AppError;
use crate::model::ApprovalItem;
use crate::pages::format_time;
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalsData {
    pub items: Vec<ApprovalItem>,
    pub viewer: Viewer,
}

#[server(endpoint = "list_approvals")]
pub async fn list_approvals() -> Result<ApprovalsData, AppError> {
    use crate::server::{rollouts, to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Viewer, "see this").await?;
    let state = expect_context::<AppState>();
    let items = if user.signoff_roles.is_empty() {
        Vec::new()
    } else {
        rollouts::approvals_for(&state.pool, user.id, &user.signoff_roles).await.map_err(to_app_error)?
    };
    Ok(ApprovalsData { items, viewer: Viewer::of(&user) })
}

#[component]
pub fn ApprovalsPage() -> impl IntoView {
    let sign = ServerAction::<SignRollout>::new();
    let data = Resource::new(move || sign.version().get(), |_| list_approvals());
    view! {
        <Title text="Approvals" />
        <div class="page-head">
            <h1>"Approvals"</h1>
            <p class="muted">
                "Rollout stages waiting for a sign-off in one of your roles. An advance that needs a sign-off is refused until "
                "someone holding each role approves it; whoever asked for the advance cannot sign it."
            </p>
        </div>
        <Outcome value=sign.value() test_id="signoff-outcome" />
        <Transition fallback=|| view! { <Loading what="your approvals" /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(data) => view! { <ApprovalsBody data sign /> }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ApprovalsBody(data: ApprovalsData, sign: ServerAction<SignRollout>) -> impl IntoView {
    let ApprovalsData { items, viewer } = data;
    if viewer.signoff_roles.is_empty() {
        return view! {
            <p class="state state-empty" data-testid="approvals-empty">
                "You hold no sign-off roles, so no rollout waits for you. Sign-off roles (dev lead, ops on-call, "
                "product owner, QA) are given by an admin on the "<a href="/admin/users">"Users"</a>" page."
            </p>
        }
        .into_any();
    }
    let roles = viewer.signoff_roles.join(", ");
    if items.is_empty() {
        return view! {
            <p class="state state-empty" data-testid="approvals-empty">
                {format!("Nothing waits for your sign-off. Your roles: {roles}.")}
            </p>
        }
        .into_any();
    }
    view! {
        <p class="result-count">{format!("{} waiting for your roles ({roles})", items.len())}</p>
        <div class="approval-list">
            {items.into_iter().map(|item| view! { <ApprovalCard item sign /> }).collect_view()}
        </div>
    }
    .into_any()
}

#[component]
fn ApprovalCard(item: ApprovalItem, sign: ServerAction<SignRollout>) -> impl IntoView {
    let key = format!("{}-{}-{}", item.flag, item.environment, item.role);
    let heading_id = format!("approval-{key}-h");
    let comment_id = format!("approval-{key}-comment");
    let own_hint_id = format!("approval-{key}-own");
    let pending = sign.pending();
    let form = crate::components::forms::clear_after_success(sign);
    let own = item.requested_by_you;
    let target = format!("{} ({})", item.target_percent, item.stage_name);
    let what = format!("{target} of {} in {} as {}", item.flag, item.environment, item.role);
    let (approve_confirm, reject_confirm) = (format!("Approve {what}?"), format!("Reject {what}?"));
    let form_label = format!("Sign off {} in {} as {}", item.flag, item.environment, item.role);
    view! {
        <article class="card approval" aria-labelledby=heading_id.clone() data-testid=format!("approval-{key}")>
            <h2 id=heading_id.clone()>
                <span class="mono">{item.flag.clone()}</span>
                {format!(" in {}: {target}", item.environment)}
            </h2>
            <dl class="details approval-details">
                <dt>"Your role"</dt><dd>{item.role.clone()}</dd>
                <dt>"Target stage"</dt><dd>{format!("{}. {} at {}", item.stage + 1, item.stage_name, item.target_percent)}</dd>
                <dt>"Now"</dt><dd>{format!("{}, {}", item.current_percent, item.status.label())}</dd>
                <dt>"Asked by"</dt>
                <dd>
                    {match (&item.requester, &item.requested_at) {
                        (Some(who), Some(at)) => format!("{who}, {}", format_time(at)),
                        (Some(who), None) => who.clone(),
                        _ => "nobody yet: no advance has been refused for it".to_owned(),
                    }}
                    {own.then(|| view! { " " <span class="badge signoff-awaiting">"you asked for this"</span> })}
                </dd>
            </dl>
            <p class="small"><a href=format!("/admin/rollouts/{}", item.rollout_id)>{format!("Open the rollout of {} in {}", item.flag, item.environment)}</a>" to see its stages, checklist and timeline."</p>
            {own.then(|| view! {
                <p class="state state-info small" id=own_hint_id.clone()>
                    "You asked for this advance, so someone else holding the role must sign it."
                </p>
            })}
            <ActionForm action=sign node_ref=form attr:class="approval-form" attr:aria-label=form_label attr:onsubmit=super::buttons::CONFIRM>
                <input type="hidden" name="rollout" value=item.rollout_id.to_string() />
                <input type="hidden" name="stage" value=item.stage.to_string() />
                <input type="hidden" name="role" value=item.role.clone() />
                <input type="hidden" name="expected_version" value=item.version.to_string() />
                <div class="field">
                    <label for=comment_id.clone()>"Comment (required to reject)"</label>
                    <textarea id=comment_id name="comment" rows="2" maxlength="2000" disabled=own></textarea>
                </div>
                <div class="form-actions">
                    <button type="submit" name="decision" value="approved" class="btn btn-primary" data-confirm=approve_confirm
                        disabled=move || own || pending.get() aria-describedby=own.then(|| own_hint_id.clone())>
                        {format!("Approve as {}", item.role)}
                    </button>
                    <button type="submit" name="decision" value="rejected" class="btn btn-danger" data-confirm=reject_confirm
                        disabled=move || own || pending.get() aria-describedby=own.then(|| own_hint_id.clone())>
                        {format!("Reject as {}", item.role)}
                    </button>
                </div>
            </ActionForm>
        </article>
    }
}
