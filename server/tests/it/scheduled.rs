//! Scheduled changes on a real database: a toggle that fires once its time has passed, an advance refused
//! by a gate (a missing sign-off) that ends `failed` and notifies, cancelling, and the refusals at creation.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use app::domain::rollout::{Action, StagePlan};
use app::domain::{EnvKey, FlagKey, Percent, Role, SignoffRole, Stickiness};
use app::model::schedule::{ScheduleFilter, ScheduledAction};
use app::server::audit::Actor;
use app::server::rollouts::{self, NewRollout, PlanSource, TransitionRequest};
use app::server::schedule::{self, NewScheduledChange};
use app::server::webhooks::{self, NewWebhook};
use app::server::ServiceError;
use chrono::{Duration, Utc};
use sqlx::PgPool;

const FLAG: &str = "new-checkout";

fn change(action: ScheduledAction, in_minutes: i64) -> NewScheduledChange {
    NewScheduledChange {
        flag: FlagKey::parse(FLAG).unwrap(),
        environment: EnvKey::parse("production").unwrap(),
        action,
        to_stage: None,
        run_at: Utc::now() + Duration::minutes(in_minutes),
        reason: "launch window".into(),
    }
}

async fn status_and_result(pool: &PgPool, id: i64) -> (String, Option<String>) {
    sqlx::query_as("select status, result from scheduled_changes where id = $1").bind(id).fetch_one(pool).await.unwrap()
}

/// A started rollout of FLAG in production at 10%, whose next stage (100%) needs a product owner's sign-off.
async fn rollout_waiting_for_signoff(pool: &PgPool) -> i64 {
    let mut all = StagePlan::new("all", Percent::HUNDRED);
    all.required_roles = vec![SignoffRole::ProductOwner];
    let new = NewRollout {
        flag: FlagKey::parse(FLAG).unwrap(),
        environment: EnvKey::parse("production").unwrap(),
        plan: PlanSource::Custom(vec![StagePlan::new("ten", Percent::parse("10").unwrap()), all]),
        stickiness: Stickiness::CustomerId,
        allow_customers: Vec::new(),
        allow_organizations: Vec::new(),
        audience: None,
    };
    let id = rollouts::create(pool, &editor(), &new).await.unwrap();
    let start = TransitionRequest {
        action: Action::Start,
        expected_version: None,
        reason: None,
        override_gates: false,
        details: None,
    };
    rollouts::transition(pool, &editor(), id, &start).await.unwrap();
    id
}

#[sqlx::test(migrations = "../migrations")]
async fn a_scheduled_toggle_fires_once_its_time_has_passed_and_is_audited(pool: PgPool) {
    seed_flag(&pool, FLAG).await;
    let new = change(ScheduledAction::ToggleOn, 10);
    let id = schedule::create(&pool, &editor(), &new, Utc::now()).await.unwrap();

    let early = schedule::run_due(&pool, Utc::now()).await.unwrap();
    assert!(early.is_empty(), "nothing is due before run_at: {early:?}");
    assert!(!flag_enabled(&pool, FLAG, "production").await);

    let outcomes = schedule::run_due(&pool, new.run_at + Duration::seconds(1)).await.unwrap();

    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!((outcomes[0].id, outcomes[0].status), (id, "done"));
    assert!(flag_enabled(&pool, FLAG, "production").await);
    assert_eq!(status_and_result(&pool, id).await.0, "done");
    assert_eq!(audit_count(&pool, "schedule.created").await, 1);
    assert_eq!(audit_count(&pool, "schedule.done").await, 1);
    let toggled_by: String = sqlx::query_scalar(
        "select actor_label from audit_events where action = 'flag.toggled' order by id desc limit 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(toggled_by, "system:schedule");
    let again = schedule::run_due(&pool, new.run_at + Duration::minutes(5)).await.unwrap();
    assert!(again.is_empty(), "a change runs once: {again:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_scheduled_advance_refused_by_a_missing_signoff_fails_with_the_reason_and_notifies(pool: PgPool) {
    seed_flag(&pool, FLAG).await;
    let rollout = rollout_waiting_for_signoff(&pool).await;
    let hook = NewWebhook {
        name: "ops".into(),
        url: "http://127.0.0.1:9/hook".into(),
        kind: "generic".into(),
        events: vec!["schedule.failed".into()],
        secret: Some("a-receiver-secret-0123456789".into()),
    };
    webhooks::create(&pool, &Actor::system("test"), &hook).await.unwrap();
    let new = change(ScheduledAction::Advance, 1);
    let id = schedule::create(&pool, &editor(), &new, Utc::now()).await.unwrap();

    let outcomes = schedule::run_due(&pool, new.run_at + Duration::seconds(1)).await.unwrap();

    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes[0].status, "failed");
    let (status, result) = status_and_result(&pool, id).await;
    assert_eq!(status, "failed");
    let result = result.unwrap();
    assert!(result.contains("product_owner"), "the reason names the missing sign-off: {result}");
    let stage: Option<i32> = sqlx::query_scalar("select current_stage from rollouts where id = $1")
        .bind(rollout)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stage, Some(0), "the rollout stays where it was");
    assert_eq!(audit_count(&pool, "schedule.failed").await, 1);
    let (event, payload): (String, serde_json::Value) =
        sqlx::query_as("select event, payload from webhook_deliveries where status = 'pending'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(event, "schedule.failed");
    assert_eq!(payload["data"]["scheduled_change"], id, "{payload}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_cancelled_change_never_runs_and_cannot_be_cancelled_twice(pool: PgPool) {
    seed_flag(&pool, FLAG).await;
    let new = change(ScheduledAction::ToggleOn, 10);
    let id = schedule::create(&pool, &editor(), &new, Utc::now()).await.unwrap();

    schedule::cancel(&pool, &editor(), id).await.unwrap();

    let outcomes = schedule::run_due(&pool, new.run_at + Duration::seconds(1)).await.unwrap();
    assert!(outcomes.is_empty(), "{outcomes:?}");
    assert!(!flag_enabled(&pool, FLAG, "production").await);
    assert_eq!(status_and_result(&pool, id).await.0, "cancelled");
    assert_eq!(audit_count(&pool, "schedule.cancelled").await, 1);
    let twice = schedule::cancel(&pool, &editor(), id).await.unwrap_err();
    assert!(matches!(twice, ServiceError::Refused { code: "NOT_PENDING", .. }), "{twice:?}");
    let listed = schedule::list(&pool, &ScheduleFilter::default()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id, listed[0].status.as_str()), (id, "cancelled"));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_change_in_the_past_or_by_a_viewer_is_refused(pool: PgPool) {
    seed_flag(&pool, FLAG).await;

    let past =
        schedule::create(&pool, &editor(), &change(ScheduledAction::ToggleOn, -1), Utc::now()).await.unwrap_err();
    let viewer = Actor { role: Role::Viewer, ..editor() };
    let forbidden =
        schedule::create(&pool, &viewer, &change(ScheduledAction::ToggleOn, 10), Utc::now()).await.unwrap_err();
    let staged_toggle = NewScheduledChange { to_stage: Some(1), ..change(ScheduledAction::ToggleOff, 10) };
    let bad_stage = schedule::create(&pool, &editor(), &staged_toggle, Utc::now()).await.unwrap_err();

    assert!(matches!(past, ServiceError::Invalid { field: "run_at", .. }), "{past:?}");
    assert!(matches!(forbidden, ServiceError::Forbidden(_)), "{forbidden:?}");
    assert!(matches!(bad_stage, ServiceError::Invalid { field: "to_stage", .. }), "{bad_stage:?}");
    let count: i64 = sqlx::query_scalar("select count(*) from scheduled_changes").fetch_one(&pool).await.unwrap();
    assert_eq!(count, 0);
}

async fn call(router: &axum::Router, method: &str, path: &str, token: &str, body: Option<String>) -> (u16, String) {
    use axum::http::{header, Request};
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(body.unwrap_or_default()))
        .unwrap();
    let response = send(router, request).await;
    (response.status().as_u16(), body_text(response).await)
}

#[sqlx::test(migrations = "../migrations")]
async fn the_admin_api_schedules_lists_and_cancels_under_the_tokens_user(pool: PgPool) {
    seed_flag(&pool, FLAG).await;
    seed_user(&pool, "eddie@example.com", "editor").await;
    let token = admin_token_for(&pool, "eddie@example.com").await;
    let router = router(&pool);
    let run_at = (Utc::now() + Duration::hours(1)).to_rfc3339();
    let body = serde_json::json!({ "flag": FLAG, "environment": "production", "action": "toggle_on",
                                   "run_at": run_at, "reason": "launch" });

    let (created, text) = call(&router, "POST", "/api/admin/schedule", &token, Some(body.to_string())).await;
    assert_eq!(created, 201, "{text}");
    let view: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!((view["status"].as_str(), view["created_by"].as_str()), (Some("pending"), Some("eddie@example.com")));
    let id = view["id"].as_i64().unwrap();
    let (listed, text) = call(&router, "GET", "/api/admin/schedule", &token, None).await;
    assert_eq!(listed, 200, "{text}");
    assert!(text.contains(&format!("\"id\":{id}")), "{text}");
    let past = serde_json::json!({ "flag": FLAG, "environment": "production", "action": "toggle_on",
                                   "run_at": "2020-01-01T00:00" });
    let (refused, text) = call(&router, "POST", "/api/admin/schedule", &token, Some(past.to_string())).await;
    assert_eq!(refused, 422, "{text}");

    let (cancelled, text) = call(&router, "DELETE", &format!("/api/admin/schedule/{id}"), &token, None).await;

    assert_eq!(cancelled, 204, "{text}");
    assert_eq!(status_and_result(&pool, id).await.0, "cancelled");
    let actor: String = sqlx::query_scalar("select actor_label from audit_events where action = 'schedule.cancelled'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(actor, "eddie@example.com");
    let (again, _) = call(&router, "DELETE", &format!("/api/admin/schedule/{id}"), &token, None).await;
    assert_eq!(again, 409);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_schedule_page_lists_changes_and_its_form_works_without_javascript(pool: PgPool) {
    use axum::http::header;
    seed_flag(&pool, FLAG).await;
    seed_user(&pool, "eddie@example.com", "editor").await;
    let router = router(&pool);
    let cookie = login(&router, "eddie@example.com").await;
    let when = (Utc::now() + Duration::hours(2)).format("%Y-%m-%dT%H:%M").to_string();
    let body =
        format!("flag={FLAG}&environment=production&action=toggle_off&to_stage=&run_at={when}&reason=maintenance");
    let mut request = form_post("/api/schedule_change", &body, Some(&cookie));
    request.headers_mut().insert(header::ACCEPT, "text/html,application/xhtml+xml".parse().unwrap());
    request.headers_mut().insert(header::REFERER, "http://rollgate.test/admin/schedule".parse().unwrap());

    let posted = send(&router, request).await;

    assert!(posted.status().is_redirection(), "{}", posted.status());
    let id: i64 =
        sqlx::query_scalar("select id from scheduled_changes where action = 'toggle_off' and reason = 'maintenance'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let page = send(
        &router,
        axum::http::Request::get("/admin/schedule")
            .header(header::COOKIE, &cookie)
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(page.status(), 200);
    let html = body_text(page).await;
    assert!(html.contains(&format!("scheduled-{id}")), "the change is listed");
    assert!(html.contains("Schedule a change"), "an editor sees the form");
    assert!(html.contains(&format!("Cancel scheduled change {id}")), "with a cancel button");
}
