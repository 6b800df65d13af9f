//! Every route of the router, with how it is called and a valid example of its input: the table that the
//! bad-input suite walks. `every_route_of_the_router_is_in_the_table` (in `bad_input.rs`) keeps it whole
//! against the OpenAPI document, the registered server functions and the page routes, so a new route
//! cannot go unchecked.

use super::urls::{import_text, seed_account};
use super::*;
use app::domain::Role;
use app::server::priority_urls::ImportLimits;
use axum::http::Method;
use serde_json::{json, Value};

/// How a route is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// No credentials.
    Public,
    /// An evaluate token (applications).
    Evaluate,
    /// An admin token (scripts); the test sends the admin's.
    AdminApi,
    /// A browser: the admin's session cookie, same-origin headers.
    Browser,
}

/// The arguments and how they travel.
#[derive(Debug, Clone)]
pub enum Input {
    None,
    Query(Vec<(&'static str, String)>),
    Json(Value),
    /// `application/x-www-form-urlencoded`, as server functions and the login form take them.
    Form(Vec<(&'static str, String)>),
    /// A YAML document as the body (`rollgate apply`).
    Yaml(String),
    /// A CSV file as the body (`POST /api/admin/customers/import`).
    Csv(String),
    /// `multipart/form-data` with a `file` part (the priority-URL and customer uploads).
    Multipart {
        file_name: &'static str,
        content: String,
    },
}

#[derive(Debug, Clone)]
pub struct Route {
    /// The least role that may call it (for `Via::Public` and `Via::Evaluate`: viewer, unused).
    pub role: Role,
    pub method: Method,
    /// As the router, the OpenAPI document and the server-function registry name it.
    pub pattern: &'static str,
    /// With the fixture's keys and ids in place of the parameters.
    pub path: String,
    pub via: Via,
    pub input: Input,
}

/// Routes any signed-in role may call although they are not GETs: server functions that read, sign-offs
/// (for anyone holding a sign-off role), signing in and out.
const READS: &[&str] = &[
    "/api/whoami",
    "/api/list_users",
    "/api/list_audit",
    "/api/list_webhooks",
    "/api/list_tokens",
    "/api/get_priority_account",
    "/api/list_priority_accounts",
    "/api/evaluate_flag_for",
    "/api/list_flags",
    "/api/get_flag",
    "/api/get_rollout",
    "/api/list_approvals",
    "/api/rollout_guardrails",
    "/api/rollout_charts",
    "/api/rollout_sparklines",
    "/api/flag_rollouts",
    "/api/list_schedule",
    "/api/scheduled_for_flag",
    "/api/rollout_sign",
    "/api/admin/rollout/signoff",
    "/login",
    "/api/list_environments",
    "/api/list_phases",
    "/api/flag_overrides",
    "/api/flag_targeting",
    "/api/list_segments",
    "/api/registry_page",
    // One's own password, with the current one: every signed-in role.
    "/api/change_password",
];

/// Routes for admins only: users, tokens, webhooks, the configuration as a whole.
const ADMIN_ONLY: &[&str] = &[
    "/admin/users",
    "/admin/tokens",
    "/admin/settings/webhooks",
    // In the fixture only the admin holds a sign-off role.
    "/api/rollout_sign",
    "/api/admin/rollout/signoff",
    "/api/list_users",
    "/api/list_webhooks",
    "/api/create_webhook",
    "/api/set_webhook_enabled",
    "/api/delete_webhook",
    "/api/test_webhook",
    "/api/list_tokens",
    "/api/create_token",
    "/api/revoke_token",
    "/api/admin/export",
    "/api/admin/apply",
    // Environments: everyone reads them, admins change them.
    "POST /api/admin/environments",
    "PUT /api/admin/environments/{key}",
    "POST /api/admin/environments/reorder",
    "POST /api/admin/environments/{key}/archive",
    "/api/create_environment",
    "/api/rename_environment",
    "/api/move_environment",
    "/api/archive_environment",
    // People.
    "/admin/users/{id}",
    "/api/admin/users",
    "/api/admin/users/{id}",
    "/api/admin/users/{id}/disable",
    "/api/admin/users/{id}/enable",
    "/api/admin/users/{id}/reset-password",
    "/api/invite_user",
    "/api/get_user",
    "/api/update_user_roles",
    "/api/set_user_disabled",
    "/api/reset_user_password",
];

/// What the routes act on: a little of everything, made through the product where it can be.
pub struct Fixture {
    pub rollout: i64,
    pub guardrail: i64,
    pub webhook: i64,
    pub scheduled: i64,
    pub batch: i64,
    pub token_prefix: String,
    pub admin_token: String,
    pub evaluate_token: String,
    /// An editor whose role, status and password the admin changes.
    pub person: i64,
    /// The token of an unused set-password link of an invited user.
    pub password_link: String,
    /// A customer import.
    pub customer_batch: i64,
}

pub const ADMIN: &str = "admin@rollgate.test";
pub const FLAG: &str = "checkout";
pub const ACCOUNT: &str = "acme";

/// A route with its least role: reads for every signed-in role, changes for editors, `ADMIN_ONLY` (by
/// pattern, or by method and pattern) for admins.
pub fn route(method: Method, pattern: &'static str, path: String, via: Via, input: Input) -> Route {
    let admin_only = ADMIN_ONLY.contains(&pattern) || ADMIN_ONLY.contains(&format!("{method} {pattern}").as_str());
    Route {
        role: if admin_only {
            Role::Admin
        } else if method == Method::GET || READS.contains(&pattern) {
            Role::Viewer
        } else {
            Role::Editor
        },
        method,
        pattern,
        path,
        via,
        input,
    }
}

/// A GET of a path without parameters.
pub fn get(pattern: &'static str, via: Via, input: Input) -> Route {
    route(Method::GET, pattern, pattern.to_owned(), via, input)
}

/// A server function, as the pages call it: a POST to `/api/<endpoint>` with the session cookie.
pub fn server_fn(endpoint: &'static str, input: Input) -> Route {
    server_fn_via(endpoint, Via::Browser, input)
}

pub fn server_fn_via(endpoint: &'static str, via: Via, input: Input) -> Route {
    let pattern: &'static str = Box::leak(format!("/api/{endpoint}").into_boxed_str());
    route(Method::POST, pattern, pattern.to_owned(), via, input)
}

impl Fixture {
    pub async fn seed(pool: &PgPool) -> Fixture {
        use app::domain::rollout::Template;
        use app::domain::{EnvKey, FlagKey, Stickiness};
        use app::server::rollouts::{self, NewRollout, PlanSource};
        seed_flag(pool, FLAG).await;
        seed_flag(pool, "search").await;
        let admin = seed_user(pool, ADMIN, "admin").await;
        sqlx::query("insert into user_signoff_roles (user_id, role) values ($1, 'product_owner')")
            .bind(admin)
            .execute(pool)
            .await
            .unwrap();
        seed_account(pool, ACCOUNT).await;
        sqlx::query("insert into customers (key, organization_key) values ('cust-1', $1)")
            .bind(ACCOUNT)
            .execute(pool)
            .await
            .unwrap();
        let new = NewRollout {
            flag: FlagKey::parse(FLAG).unwrap(),
            environment: EnvKey::parse("production").unwrap(),
            plan: PlanSource::Template(Template::FiveTier),
            stickiness: Stickiness::CustomerId,
            allow_customers: Vec::new(),
            allow_organizations: Vec::new(),
            audience: None,
        };
        let rollout = rollouts::create(pool, &editor(), &new).await.unwrap();
        let guardrail = sqlx::query_scalar("select min(id) from guardrails where rollout_id = $1")
            .bind(rollout)
            .fetch_one(pool)
            .await
            .unwrap();
        let webhook = sqlx::query_scalar(
            "insert into webhooks (name, url, secret, events) values ('ops', 'http://127.0.0.1:9/hook',
             'sixteen-char-secret', array['rollout.started']) returning id",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        let scheduled = app::server::schedule::create(
            pool,
            &editor(),
            &app::server::schedule::NewScheduledChange {
                flag: FlagKey::parse(FLAG).unwrap(),
                environment: EnvKey::parse("staging").unwrap(),
                action: app::model::schedule::ScheduledAction::ToggleOn,
                to_stage: None,
                run_at: chrono::Utc::now() + chrono::TimeDelta::days(30),
                reason: String::new(),
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
        let file = "url,update_priority,page_type\nhttps://shop.example/,high,home\nnot a url,low,other\n";
        let batch =
            import_text(pool, ACCOUNT, "urls.csv", file, false, &ImportLimits::default()).await.unwrap().batch_id;
        let admin_token = admin_token_for(pool, ADMIN).await;
        let evaluate_token = evaluate_token_for(pool, "production").await;
        let spare = evaluate_token_for(pool, "staging").await;
        let token_prefix = app::server::tokens::prefix_of(&spare).unwrap().to_owned();
        let more = super::route_groups::seed(pool).await;
        Fixture {
            rollout,
            guardrail,
            webhook,
            scheduled,
            batch,
            token_prefix,
            admin_token,
            evaluate_token,
            person: more.person,
            password_link: more.password_link,
            customer_batch: more.customer_batch,
        }
    }

    /// Every route, with a valid example of its input; `{n}` stands for a number unique to each request, so
    /// that a create can succeed more than once. Order matters for what uses something up: within each
    /// group of `route_groups`, archives, deletes, disables and one-time links come after the routes that
    /// still need their data, and `/logout`, which ends the session, comes last.
    pub fn routes(&self) -> Vec<Route> {
        use Input::*;
        use Via::*;
        let s = |v: &str| v.to_owned();
        let r = self.rollout.to_string();
        let act = |verb: &'static str| {
            let pattern: &'static str = Box::leak(format!("/api/admin/rollout/{verb}").into_boxed_str());
            route(
                Method::POST,
                pattern,
                pattern.to_owned(),
                AdminApi,
                Json(json!({ "flag": FLAG, "environment": "production", "expected_version": 1,
                             "reason": "why", "override_gates": false })),
            )
        };
        let flag_query = || {
            vec![
                ("q", s("check")),
                ("phase", s("phase-1")),
                ("env", s("production")),
                ("state", s("on")),
                ("stale", s("false")),
                ("page", s("1")),
                ("per_page", s("10")),
            ]
        };
        let audit_query = || {
            vec![
                ("actor", s("admin")),
                ("flag", s(FLAG)),
                ("action", s("flag.toggled")),
                ("before", s("1000")),
                ("since", s("2026-01-01T00:00:00Z")),
            ]
        };
        let mut routes = vec![
            // Evaluation and OpenFeature, with an evaluate token.
            route(
                Method::POST,
                "/api/v1/evaluate",
                s("/api/v1/evaluate"),
                Evaluate,
                Json(json!({ "context": { "customer_id": "cust-1", "organization_id": ACCOUNT,
                                          "attributes": { "plan": "pro" } } })),
            ),
            route(
                Method::GET,
                "/api/v1/flags/{key}",
                format!("/api/v1/flags/{FLAG}"),
                Evaluate,
                Query(vec![("customer_id", s("cust-1")), ("organization_id", s(ACCOUNT)), ("attr.plan", s("pro"))]),
            ),
            get("/api/v1/stream", Evaluate, Input::None),
            route(
                Method::POST,
                "/api/v1/metrics",
                s("/api/v1/metrics"),
                Evaluate,
                Json(json!({ "batch_id": "b-1", "samples": [{ "flag": FLAG, "cohort": "treatment",
                    "requests": 10, "errors": 1 }], "gauges": [{ "name": "queue_lag", "value": 1.5 }] })),
            ),
            route(
                Method::POST,
                "/ofrep/v1/evaluate/flags",
                s("/ofrep/v1/evaluate/flags"),
                Evaluate,
                Json(json!({ "context": { "targetingKey": "cust-1", "organization_id": ACCOUNT } })),
            ),
            route(
                Method::POST,
                "/ofrep/v1/evaluate/flags/{key}",
                format!("/ofrep/v1/evaluate/flags/{FLAG}"),
                Evaluate,
                Json(json!({ "context": { "targetingKey": "cust-1" } })),
            ),
            // The provider reads it before it has a context: no token needed.
            get("/ofrep/v1/configuration", Public, Input::None),
            // The admin API, with the admin's token.
            get("/api/admin/whoami", AdminApi, Input::None),
            get("/api/admin/feature-flags", AdminApi, Query(flag_query())),
            route(
                Method::POST,
                "/api/admin/feature-flags",
                s("/api/admin/feature-flags"),
                AdminApi,
                Json(json!({ "key": "made-by-api-{n}", "name": "Made by API", "description": "",
                             "phase": "phase-1", "kind": "release" })),
            ),
            route(Method::GET, "/api/admin/feature-flags/{key}", format!("/api/admin/feature-flags/{FLAG}"), AdminApi, Input::None),
            route(
                Method::PUT,
                "/api/admin/feature-flags/{key}/environments/{env}",
                format!("/api/admin/feature-flags/{FLAG}/environments/staging"),
                AdminApi,
                Json(json!({ "enabled": true, "expected_version": 1, "reason": "why" })),
            ),
            get("/api/admin/stale-flags", AdminApi, Input::None),
            get("/api/admin/audit", AdminApi, Query(audit_query())),
            get("/api/admin/audit.csv", AdminApi, Query(audit_query())),
            get("/api/admin/health", AdminApi, Input::None),
            get("/api/admin/export", AdminApi, Query(vec![("env", s("production")), ("as", s("staging"))])),
            route(
                Method::POST,
                "/api/admin/apply",
                s("/api/admin/apply?dry_run=true"),
                AdminApi,
                Yaml(s("rollgate: 1\nphases:\n- key: phase-1\n  name: Phase 1\nflags:\n- key: checkout\n  name: checkout\n  phase: phase-1\n")),
            ),
            get("/api/admin/schedule", AdminApi, Query(vec![("flag", s(FLAG)), ("recent_days", s("7"))])),
            route(
                Method::POST,
                "/api/admin/schedule",
                s("/api/admin/schedule"),
                AdminApi,
                Json(json!({ "flag": FLAG, "environment": "staging", "action": "toggle_off",
                             "run_at": "2031-01-01T00:00:00Z", "reason": "why" })),
            ),
            route(
                Method::DELETE,
                "/api/admin/schedule/{id}",
                format!("/api/admin/schedule/{}", self.scheduled),
                AdminApi,
                Input::None,
            ),
            route(
                Method::POST,
                "/api/admin/rollouts",
                s("/api/admin/rollouts"),
                AdminApi,
                Json(json!({ "flag": "search", "environment": "production", "template": "canary",
                             "stickiness": "customer_id", "allow_customers": ["cust-1"],
                             "allow_organizations": [ACCOUNT],
                             "audience": { "segments": ["beta"],
                                           "constraints": [{ "field": "plan", "operator": "IN", "values": ["pro"] }] } })),
            ),
            route(Method::GET, "/api/admin/rollouts/{id}", format!("/api/admin/rollouts/{r}"), AdminApi, Input::None),
            route(
                Method::PUT,
                "/api/admin/rollouts/{id}",
                format!("/api/admin/rollouts/{r}"),
                AdminApi,
                Json(json!({ "stages": [{ "name": "ten", "percent": 10 }, { "name": "all", "percent": "100%" }],
                             "stickiness": "customer_id", "expected_version": 1, "reason": "why",
                             "audience": { "segments": ["beta"] } })),
            ),
            act("start"),
            act("advance"),
            act("pause"),
            act("resume"),
            act("rollback"),
            act("complete"),
            route(
                Method::POST,
                "/api/admin/rollout/signoff",
                s("/api/admin/rollout/signoff"),
                AdminApi,
                Json(json!({ "rollout": self.rollout, "stage": 2, "decision": "approved", "comment": "ok",
                             "role": "product_owner", "expected_version": 1 })),
            ),
            get("/api/openapi.json", Public, Input::None),
            // Outside the APIs.
            get("/", Public, Input::None),
            get("/healthz", Public, Input::None),
            get("/readyz", Public, Input::None),
            get("/metrics", Public, Input::None),
            get("/login", Public, Query(vec![("next", s("/admin/audit")), ("error", s("1"))])),
            route(
                Method::POST,
                "/login",
                s("/login"),
                Public,
                Form(vec![("email", s("nobody@rollgate.test")), ("password", s("wrong password")), ("next", s("/admin/audit"))]),
            ),
            route(
                Method::POST,
                "/admin/priority-urls/{account}/import",
                format!("/admin/priority-urls/{ACCOUNT}/import"),
                Browser,
                Multipart { file_name: "more.csv", content: s("url,update_priority,page_type\nhttps://shop.example/a,low,other\n") },
            ),
            route(
                Method::GET,
                "/admin/priority-urls/{account}/batches/{batch}/report.csv",
                format!("/admin/priority-urls/{ACCOUNT}/batches/{}/report.csv", self.batch),
                Browser,
                Input::None,
            ),
            // Pages.
            get("/admin/feature-flags", Browser, Query(flag_query())),
            route(Method::GET, "/admin/feature-flags/{key}", format!("/admin/feature-flags/{FLAG}"), Browser, Input::None),
            get("/admin/priority-urls", Browser, Input::None),
            route(
                Method::GET,
                "/admin/priority-urls/{account}",
                format!("/admin/priority-urls/{ACCOUNT}"),
                Browser,
                Query(vec![
                    ("tier", s("high")),
                    ("page_type", s("home")),
                    ("q", s("shop")),
                    ("after", s("https://shop.example/")),
                    ("batch", self.batch.to_string()),
                ]),
            ),
            get("/admin/audit", Browser, Query(audit_query())),
            get("/admin/users", Browser, Input::None),
            get("/admin/tokens", Browser, Input::None),
            get("/admin/settings/webhooks", Browser, Input::None),
            route(Method::GET, "/admin/rollouts/{id}", format!("/admin/rollouts/{r}"), Browser, Query(vec![("range", s("6h"))])),
            get("/admin/approvals", Browser, Input::None),
            get("/admin/schedule", Browser, Input::None),
            // Server functions, as the pages call them.
            server_fn(
                "toggle_flag",
                Form(vec![
                    ("flag", s(FLAG)),
                    ("env", s("staging")),
                    ("enabled", s("true")),
                    ("version", s("1")),
                    ("reason", s("why")),
                ]),
            ),
            server_fn("whoami", Input::None),
            server_fn("list_users", Input::None),
            server_fn("list_audit", Json(json!({ "query": { "actor": "admin", "flag": FLAG, "action": null, "before": null } }))),
            server_fn("list_webhooks", Input::None),
            server_fn(
                "create_webhook",
                Form(vec![
                    ("name", s("deploys")),
                    ("url", s("http://127.0.0.1:9/deploys")),
                    ("kind", s("generic")),
                    ("events[0]", s("rollout.started")),
                    ("secret", s("a-secret-of-sixteen-plus")),
                ]),
            ),
            server_fn("set_webhook_enabled", Form(vec![("id", self.webhook.to_string()), ("enabled", s("false"))])),
            server_fn("test_webhook", Form(vec![("id", self.webhook.to_string())])),
            server_fn("delete_webhook", Form(vec![("id", self.webhook.to_string())])),
            server_fn("list_tokens", Input::None),
            server_fn(
                "create_token",
                Form(vec![("name", s("ci")), ("scope", s("evaluate")), ("environment", s("production"))]),
            ),
            server_fn("revoke_token", Form(vec![("prefix", self.token_prefix.clone())])),
            server_fn("rollback_import", Form(vec![("batch", self.batch.to_string()), ("reason", s("why"))])),
            server_fn(
                "set_account_flag",
                Form(vec![("account", s(ACCOUNT)), ("env", s("production")), ("value", s("on")), ("reason", s("why"))]),
            ),
            server_fn("get_priority_account", Json(json!({ "account": ACCOUNT, "query": { "q": "shop" } }))),
            server_fn("list_priority_accounts", Input::None),
            server_fn(
                "create_flag",
                Form(vec![
                    ("key", s("made-by-form-{n}")),
                    ("name", s("Made by form")),
                    ("description", s("")),
                    ("phase", s("phase-1")),
                    ("kind", s("release")),
                ]),
            ),
            server_fn(
                "evaluate_flag_for",
                Form(vec![("key", s(FLAG)), ("customer", s("cust-1")), ("organization", s(ACCOUNT)), ("attrs", s("plan=pro"))]),
            ),
            server_fn("list_flags", Json(json!({ "query": { "q": "check", "page": 1 } }))),
            server_fn("get_flag", Form(vec![("key", s(FLAG))])),
            server_fn("get_rollout", Form(vec![("id", r.clone())])),
            server_fn("list_approvals", Input::None),
            server_fn(
                "rollout_create",
                Form(vec![
                    ("flag", s("search")),
                    ("environment", s("staging")),
                    ("template", s("canary")),
                    ("stickiness", s("customer_id")),
                    ("allow_customers", s("cust-1")),
                    ("field[]", s("plan")),
                    ("negate[]", s("")),
                    ("operator[]", s("IN")),
                    ("values[]", s("pro, team")),
                    ("case[]", s("")),
                    ("segment[]", s("beta")),
                ]),
            ),
            server_fn(
                "rollout_edit",
                Form(vec![
                    ("rollout", r.clone()),
                    ("expected_version", s("1")),
                    ("stages", s("ten | 10% | product_owner | 30m\nall | 100%")),
                    ("reason", s("why")),
                    ("audience_rows", s("1")),
                    ("field[]", s("region")),
                    ("negate[]", s("not")),
                    ("operator[]", s("IN")),
                    ("values[]", s("eu")),
                    ("case[]", s("ignore")),
                    ("segment[]", s("beta")),
                ]),
            ),
            server_fn(
                "rollout_act",
                Form(vec![
                    ("rollout", r.clone()),
                    ("action", s("start")),
                    ("expected_version", s("1")),
                    ("reason", s("why")),
                ]),
            ),
            server_fn(
                "rollout_sign",
                Form(vec![
                    ("rollout", r.clone()),
                    ("stage", s("2")),
                    ("role", s("product_owner")),
                    ("decision", s("approved")),
                    ("comment", s("ok")),
                    ("expected_version", s("1")),
                ]),
            ),
            server_fn("rollout_guardrails", Form(vec![("rollout", r.clone())])),
            server_fn(
                "guardrail_add",
                Form(vec![
                    ("rollout", r.clone()),
                    ("kind", s("error_rate")),
                    ("threshold", s("2")),
                    ("window_minutes", s("5")),
                    ("min_samples", s("100")),
                    ("action", s("rollback")),
                    ("stage", s("1")),
                    ("prometheus_url", s("http://127.0.0.1:9/prometheus")),
                    ("promql", s("sum(rate(errors[5m]))")),
                ]),
            ),
            server_fn("guardrail_remove", Form(vec![("rollout", r.clone()), ("guardrail", self.guardrail.to_string())])),
            server_fn("guardrail_auto_advance", Form(vec![("rollout", r.clone()), ("on", s("true"))])),
            server_fn("rollout_charts", Form(vec![("id", r.clone()), ("range", s("1h"))])),
            server_fn("rollout_sparklines", Json(json!({ "ids": [self.rollout] }))),
            server_fn("flag_rollouts", Form(vec![("flag", s(FLAG))])),
            server_fn("list_schedule", Input::None),
            server_fn(
                "schedule_change",
                Form(vec![
                    ("flag", s(FLAG)),
                    ("environment", s("staging")),
                    ("action", s("toggle_on")),
                    ("run_at", s("2031-01-01T10:00")),
                    ("reason", s("why")),
                ]),
            ),
            server_fn("cancel_scheduled_change", Form(vec![("id", self.scheduled.to_string())])),
            server_fn("scheduled_for_flag", Form(vec![("flag", s(FLAG))])),
        ];
        routes.extend(self.structure_routes());
        routes.extend(self.people_routes());
        routes.extend(self.target_routes());
        routes.extend(self.targeting_routes());
        routes.extend(self.link_routes());
        routes.push(route(Method::POST, "/logout", s("/logout"), Public, Input::None));
        routes
    }
}
