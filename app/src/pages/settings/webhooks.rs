//! `/admin/settings/webhooks`: outgoing webhooks (Slack or generic JSON, signed with HMAC-SHA256), their
//! events, a test button and the latest deliveries. Admins only. Works without JavaScript: every control
//! is a form, and a generated secret waits in the session until the page has shown it once.

use crate::components::status::{Empty, ErrorBox, Loading};
use crate::domain::WebhookEvent;
use crate::error::AppError;
use crate::pages::format_time;
use leptos::prelude::*;
use leptos_meta::Title;

pub use crate::model::webhooks::{
    CreatedWebhookView, DeliveryStatus, DeliveryView, WebhookKind, WebhookView, WebhooksPageData,
};

/// Session key of a webhook created by a form posted without JavaScript, until the page shows it.
#[cfg(feature = "ssr")]
const CREATED_FLASH_KEY: &str = "created_webhook";

#[cfg(feature = "ssr")]
async fn require_admin() -> Result<crate::server::audit::Actor, AppError> {
    let user = crate::server::auth::require(crate::domain::Role::Admin, "manage webhooks").await?;
    Ok(crate::server::audit::Actor::user(&user))
}

#[server(endpoint = "list_webhooks")]
pub async fn list_webhooks() -> Result<WebhooksPageData, AppError> {
    use crate::server::{to_app_error, webhooks, AppState};
    require_admin().await?;
    let state = expect_context::<AppState>();
    let just_created: Option<CreatedWebhookView> = crate::server::auth::take_flash(CREATED_FLASH_KEY).await?;
    let webhooks_list = webhooks::list(&state.pool).await.map_err(to_app_error)?;
    let deliveries = webhooks::recent_deliveries(&state.pool, 50).await.map_err(to_app_error)?;
    Ok(WebhooksPageData { webhooks: webhooks_list, deliveries, just_created })
}

/// Creates a webhook. A generated secret goes back in the answer; for a form posted without JavaScript it
/// waits in the session until the page has shown it once.
#[server(endpoint = "create_webhook")]
pub async fn create_webhook(
    name: String,
    url: String,
    kind: String,
    events: Option<Vec<String>>,
    secret: Option<String>,
) -> Result<CreatedWebhookView, AppError> {
    use crate::server::{to_app_error, webhooks, AppState};
    let actor = require_admin().await?;
    let state = expect_context::<AppState>();
    let new = webhooks::NewWebhook { name, url, kind, events: events.unwrap_or_default(), secret };
    let created = webhooks::create(&state.pool, &actor, &new).await.map_err(to_app_error)?;
    if crate::server::is_plain_form_post() && created.secret.is_some() {
        crate::server::auth::put_flash(CREATED_FLASH_KEY, &created).await?;
    }
    Ok(created)
}

#[server(endpoint = "set_webhook_enabled")]
pub async fn set_webhook_enabled(id: i64, enabled: bool) -> Result<(), AppError> {
    use crate::server::{to_app_error, webhooks, AppState};
    let actor = require_admin().await?;
    let state = expect_context::<AppState>();
    webhooks::set_enabled(&state.pool, &actor, id, enabled).await.map_err(to_app_error)
}

#[server(endpoint = "delete_webhook")]
pub async fn delete_webhook(id: i64) -> Result<(), AppError> {
    use crate::server::{to_app_error, webhooks, AppState};
    let actor = require_admin().await?;
    let state = expect_context::<AppState>();
    webhooks::delete(&state.pool, &actor, id).await.map_err(to_app_error)
}

#[server(endpoint = "test_webhook")]
pub async fn test_webhook(id: i64) -> Result<i64, AppError> {
    use crate::server::{to_app_error, webhooks, AppState};
    let actor = require_admin().await?;
    let state = expect_context::<AppState>();
    webhooks::send_test(&state.pool, &actor, id).await.map_err(to_app_error)
}

#[component]
pub fn WebhooksPage() -> impl IntoView {
    let create = ServerAction::<CreateWebhook>::new();
    let toggle = ServerAction::<SetWebhookEnabled>::new();
    let delete = ServerAction::<DeleteWebhook>::new();
    let test = ServerAction::<TestWebhook>::new();
    let page = Resource::new(
        move || (create.version().get(), toggle.version().get(), delete.version().get(), test.version().get()),
        |_| list_webhooks(),
    );
    let action_error = move || {
        toggle
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| delete.value().get().and_then(Result::err))
            .or_else(|| test.value().get().and_then(Result::err))
    };
    view! {
        <Title text="Webhooks" />
        <div class="page-head">
            <h1>"Webhooks"</h1>
            <p class="muted">
                "Rollgate posts what happens (rollouts moving, guardrails firing, sign-offs wanted) to Slack or to any URL. "
                "Each delivery is signed with the webhook's secret in "<code>"X-Rollgate-Signature"</code>
                " and retried with backoff (6 attempts over about 20 minutes) until the receiver answers 2xx."
            </p>
        </div>
        {move || action_error().map(|error| view! { <ErrorBox error /> })}
        {move || test.value().get().and_then(Result::ok).map(|id| view! {
            <p class="state state-info" role="status" data-testid="test-queued">{format!("Test delivery {id} queued.")}</p>
        })}
        <Transition fallback=|| view! { <Loading what="webhooks" /> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(data) => view! { <WebhooksBody data create toggle delete test /> }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn WebhooksBody(
    data: WebhooksPageData,
    create: ServerAction<CreateWebhook>,
    toggle: ServerAction<SetWebhookEnabled>,
    delete: ServerAction<DeleteWebhook>,
    test: ServerAction<TestWebhook>,
) -> impl IntoView {
    let WebhooksPageData { webhooks, deliveries, just_created } = data;
    let created = move || {
        create.value().get().and_then(Result::ok).filter(|c| c.secret.is_some()).or_else(|| just_created.clone())
    };
    view! {
        {move || created().map(|c| view! { <CreatedSecret created=c /> })}
        <section class="card" aria-labelledby="webhooks-h">
            <h2 id="webhooks-h">"Webhooks"</h2>
            {if webhooks.is_empty() {
                view! { <Empty message="No webhooks yet. Add one below." /> }.into_any()
            } else {
                view! { <WebhookTable webhooks toggle delete test /> }.into_any()
            }}
        </section>
        <NewWebhookForm create />
        <section class="card" aria-labelledby="deliveries-h">
            <h2 id="deliveries-h">"Recent deliveries"</h2>
            {if deliveries.is_empty() {
                view! { <Empty message="Nothing sent yet." /> }.into_any()
            } else {
                view! { <DeliveryTable deliveries /> }.into_any()
            }}
        </section>
    }
}

#[component]
fn NewWebhookForm(create: ServerAction<CreateWebhook>) -> impl IntoView {
    const FIELDS: [&str; 5] = ["name", "url", "kind", "events", "secret"];
    let error =
        move |field: &'static str| create.value().get().and_then(Result::err).and_then(|e| e.field_message(field));
    let other_error = move || {
        create.value().get().and_then(Result::err).filter(|e| !FIELDS.iter().any(|f| e.field_message(f).is_some()))
    };
    let invalid = move |field: &'static str| error(field).is_some().to_string();
    view! {
        <section class="card" aria-labelledby="new-webhook-h">
            <h2 id="new-webhook-h">"New webhook"</h2>
            {move || other_error().map(|error| view! { <ErrorBox error /> })}
            <ActionForm action=create attr:class="form-grid" attr:aria-label="New webhook">
                <div class="field">
                    <label for="webhook-name">"Name"</label>
                    <input id="webhook-name" name="name" type="text" required maxlength="100" placeholder="#releases on Slack"
                        aria-invalid=move || invalid("name") aria-describedby="webhook-name-error" />
                    <p id="webhook-name-error" class="field-error" role="alert">{move || error("name")}</p>
                </div>
                <div class="field">
                    <label for="webhook-url">"URL"</label>
                    <input id="webhook-url" name="url" type="url" required maxlength="2048" placeholder="https://hooks.slack.com/services/…"
                        aria-invalid=move || invalid("url") aria-describedby="webhook-url-error" />
                    <p id="webhook-url-error" class="field-error" role="alert">{move || error("url")}</p>
                </div>
                <fieldset class="field">
                    <legend>"Format"</legend>
                    <label class="checkbox"><input type="radio" name="kind" value="slack" checked /> "Slack (incoming webhook)"</label>
                    <label class="checkbox"><input type="radio" name="kind" value="generic" /> "Generic JSON"</label>
                    <p class="field-error" role="alert">{move || error("kind")}</p>
                </fieldset>
                <div class="field">
                    <label for="webhook-secret">"Signing secret (optional)"</label>
                    <input id="webhook-secret" name="secret" type="text" autocomplete="off" minlength="16" maxlength="256"
                        placeholder="leave blank to have one generated"
                        aria-invalid=move || invalid("secret") aria-describedby="webhook-secret-error webhook-secret-help" />
                    <p id="webhook-secret-help" class="muted small">"16 to 256 characters. A generated one is shown once."</p>
                    <p id="webhook-secret-error" class="field-error" role="alert">{move || error("secret")}</p>
                </div>
                <fieldset class="field webhook-events" aria-describedby="webhook-events-error">
                    <legend>"Events"</legend>
                    {WebhookEvent::ALL.iter().map(|&event| view! {
                        <label class="checkbox">
                            <input type="checkbox" name="events[]" value=event.as_str() checked=event.on_by_default() />
                            <code>{event.as_str()}</code>
                            " "
                            <span class="muted small">{event.meaning()}</span>
                        </label>
                    }).collect_view()}
                    <p id="webhook-events-error" class="field-error" role="alert">{move || error("events")}</p>
                </fieldset>
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" disabled=move || create.pending().get()>"Create webhook"</button>
                </div>
            </ActionForm>
        </section>
    }
}

#[component]
fn CreatedSecret(created: CreatedWebhookView) -> impl IntoView {
    view! {
        <section class="card notice" role="status" aria-labelledby="created-webhook-h" data-testid="created-webhook">
            <h2 id="created-webhook-h">{format!("Webhook {} created", created.name)}</h2>
            <p>"Copy its signing secret now: this is the only time it is shown."</p>
            <label class="visually-hidden" for="created-webhook-secret">"The signing secret"</label>
            <input id="created-webhook-secret" class="mono secret" type="text" readonly value=created.secret.unwrap_or_default() size="48" />
            <p class="muted small">"Receivers check "<code>"X-Rollgate-Signature"</code>" with it; see the README, Webhooks."</p>
        </section>
    }
}

fn status_badge(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Delivered => "badge state-on",
        DeliveryStatus::Failed => "badge delivery-failed",
        DeliveryStatus::Pending => "badge state-off",
    }
}

#[component]
fn WebhookTable(
    webhooks: Vec<WebhookView>,
    toggle: ServerAction<SetWebhookEnabled>,
    delete: ServerAction<DeleteWebhook>,
    test: ServerAction<TestWebhook>,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
        <table class="table" data-testid="webhook-table">
            <thead><tr>
                <th scope="col">"Name"</th><th scope="col">"URL"</th><th scope="col">"Format"</th>
                <th scope="col">"Events"</th><th scope="col">"Last delivery"</th><th scope="col">"Enabled"</th>
                <th scope="col"><span class="visually-hidden">"Actions"</span></th>
            </tr></thead>
            <tbody>
                {webhooks.into_iter().map(|w| {
                    let id = w.id;
                    let enabled = w.enabled;
                    let toggle_verb = if enabled { "Disable" } else { "Enable" };
                    let toggle_label = format!("{toggle_verb} {}", w.name);
                    let test_label = format!("Send test to {}", w.name);
                    let delete_label = format!("Delete {}", w.name);
                    let confirm = format!("return confirm('Delete webhook {}? Its delivery records go with it.')", w.name.replace(['\'', '\\'], ""));
                    view! {
                        <tr data-testid=format!("webhook-{}", w.id)>
                            <th scope="row">{w.name.clone()}</th>
                            <td class="url-cell mono small">{w.url.clone()}</td>
                            <td>{if w.kind == WebhookKind::Slack { "Slack" } else { "Generic JSON" }}</td>
                            <td class="small">{w.events.join(", ")}</td>
                            <td class="nowrap">
                                {match (w.last_status, w.last_at) {
                                    (Some(status), at) => view! {
                                        <span class=status_badge(status) title=at.as_ref().map(format_time)>{status.as_str()}</span>
                                    }.into_any(),
                                    _ => view! { <span class="muted">"none yet"</span> }.into_any(),
                                }}
                            </td>
                            <td>
                                <ActionForm action=toggle attr:class="inline-form">
                                    <input type="hidden" name="id" value=id.to_string() />
                                    <input type="hidden" name="enabled" value=(!enabled).to_string() />
                                    <span class=if enabled { "badge state-on" } else { "badge state-off" }>{if enabled { "on" } else { "off" }}</span>
                                    " "
                                    <button type="submit" class="btn btn-small" aria-label=toggle_label.clone()>{toggle_verb}</button>
                                </ActionForm>
                            </td>
                            <td class="nowrap">
                                <ActionForm action=test attr:class="inline-form">
                                    <input type="hidden" name="id" value=id.to_string() />
                                    <button type="submit" class="btn btn-small" disabled=!enabled aria-label=test_label.clone()>"Send test"</button>
                                </ActionForm>
                                " "
                                <ActionForm action=delete attr:class="inline-form" attr:onsubmit=confirm>
                                    <input type="hidden" name="id" value=id.to_string() />
                                    <button type="submit" class="btn btn-small btn-danger" aria-label=delete_label.clone()>"Delete"</button>
                                </ActionForm>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        </div>
    }
}

#[component]
fn DeliveryTable(deliveries: Vec<DeliveryView>) -> impl IntoView {
    view! {
        <div class="table-wrap">
        <table class="table batches-table" data-testid="delivery-table">
            <thead><tr>
                <th scope="col">"Time"</th><th scope="col">"Webhook"</th><th scope="col">"Event"</th>
                <th scope="col">"Status"</th><th scope="col" class="num">"Attempts"</th><th scope="col" class="num">"Response"</th>
                <th scope="col">"Last error"</th>
            </tr></thead>
            <tbody>
                {deliveries.into_iter().map(|d| {
                    let next = d.next_attempt_at.as_ref().filter(|_| d.status == DeliveryStatus::Pending && d.attempt > 0)
                        .map(|at| format!("retry at {}", format_time(at)));
                    view! {
                        <tr data-testid=format!("delivery-{}", d.id)>
                            <td class="nowrap">{format_time(&d.created_at)}</td>
                            <td>{d.webhook.clone()}</td>
                            <td><code>{d.event.clone()}</code></td>
                            <td><span class=status_badge(d.status)>{d.status.as_str()}</span>" "<span class="muted small">{next}</span></td>
                            <td class="num">{d.attempt}</td>
                            <td class="num">{d.response_status.map(|s| s.to_string()).unwrap_or_else(|| "–".to_owned())}</td>
                            <td class="small">{d.last_error.clone()}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        </div>
    }
}
