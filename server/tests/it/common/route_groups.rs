//! The routes of the table for what flags are organised by (environments, phases), people, targets
//! (overrides and the registry) and the one-time links, with the fixture's data they act on. Within each
//! group the routes that use something up (archive, delete, disable, a one-time link) come after those
//! that still need it.

use super::routes::{get, route, server_fn, server_fn_via, Fixture, Input, Route, Via, ACCOUNT, FLAG};
use super::*;
use app::domain::Role;
use axum::http::Method;
use serde_json::json;

/// What the routes of these groups act on, made through the services.
pub struct More {
    pub person: i64,
    pub password_link: String,
    pub customer_batch: i64,
}

/// Environments `sandbox` and `preview` (one archived through the admin API, one through the page),
/// phases `phase-2` (flags move to it) and the empty `spare-a` and `spare-b` (deleted the same two ways),
/// an editor with a password, an invited user with an unused link, customer overrides of `checkout` in
/// staging and a customer import.
pub async fn seed(pool: &PgPool) -> More {
    use app::domain::{Description, Email, EnvKey, EnvName, FlagKey, PersonName, PhaseKey, PhaseName, Target};
    use app::server::{environments, overrides, phases, registry, users};
    let admin = app::server::audit::Actor { role: Role::Admin, ..editor() };
    for (key, name) in [("sandbox", "Sandbox"), ("preview", "Preview")] {
        environments::create(pool, &admin, &EnvKey::parse(key).unwrap(), &EnvName::parse(name).unwrap()).await.unwrap();
    }
    for key in ["phase-2", "spare-a", "spare-b"] {
        let fields = phases::PhaseFields {
            name: PhaseName::parse(key).unwrap(),
            description: Description::parse("").unwrap(),
            requires_previous: false,
        };
        phases::create(pool, &editor(), &PhaseKey::parse(key).unwrap(), &fields).await.unwrap();
    }
    let person = users::upsert(
        pool,
        &admin,
        &users::NewUser {
            email: Email::parse("sam@rollgate.test").unwrap(),
            name: "Sam".into(),
            role: Role::Editor,
            signoff_roles: Vec::new(),
            password_hash: app::server::password::hash_password(PASSWORD).unwrap(),
        },
    )
    .await
    .unwrap();
    let invited = users::Invitation {
        email: Email::parse("invited@rollgate.test").unwrap(),
        name: PersonName::parse("Invited").unwrap(),
        role: Role::Viewer,
        signoff_roles: Vec::new(),
    };
    let password_link = users::invite(pool, &admin, &invited).await.unwrap().token;
    let flag = FlagKey::parse(FLAG).unwrap();
    let staging = EnvKey::parse("staging").unwrap();
    for customer in ["cust-1", "cust-2", "cust-3"] {
        let target = Target::customer(customer).unwrap();
        overrides::create(pool, &editor(), &flag, &staging, &target, json!(true), "beta").await.unwrap();
    }
    let file = format!("key,name,organization\ncust-1,Customer One,{ACCOUNT}\n,no key,{ACCOUNT}\n");
    let customer_batch =
        registry::import::import(pool, &editor(), "customers.csv", file.as_bytes(), 1 << 20).await.unwrap().batch.id;
    for key in ["beta", "spare-segment", "spare-segment-2"] {
        let input = app::model::targeting::SegmentInput {
            key: key.into(),
            name: key.into(),
            description: String::new(),
            constraints: vec![app::domain::targeting::Constraint::new(
                app::domain::targeting::ContextField::parse("plan").unwrap(),
                app::domain::targeting::Operator::In,
                vec!["beta".into()],
            )],
        };
        app::server::targeting::segments::create(pool, &editor(), &input).await.unwrap();
    }
    More { person, password_link, customer_batch }
}

impl Fixture {
    /// Environments (admins change them) and phases (editors), and moving a flag between phases.
    pub fn structure_routes(&self) -> Vec<Route> {
        use Input::*;
        use Via::*;
        let s = |v: &str| v.to_owned();
        vec![
            get("/admin/settings/environments", Browser, Input::None),
            get("/api/admin/environments", AdminApi, Input::None),
            server_fn("list_environments", Input::None),
            // Before any environment is added or archived, so that the list is every one in use.
            route(
                Method::POST,
                "/api/admin/environments/reorder",
                s("/api/admin/environments/reorder"),
                AdminApi,
                Json(json!({ "keys": ["development", "staging", "production", "sandbox", "preview"] })),
            ),
            server_fn("move_environment", Form(vec![("key", s("sandbox")), ("direction", s("down"))])),
            route(
                Method::PUT,
                "/api/admin/environments/{key}",
                s("/api/admin/environments/sandbox"),
                AdminApi,
                Json(json!({ "name": "Sandbox" })),
            ),
            server_fn("rename_environment", Form(vec![("key", s("preview")), ("name", s("Preview"))])),
            route(
                Method::POST,
                "/api/admin/environments",
                s("/api/admin/environments"),
                AdminApi,
                Json(json!({ "key": "env-{n}", "name": "Made by API" })),
            ),
            server_fn("create_environment", Form(vec![("key", s("env-{n}")), ("name", s("Made by form"))])),
            route(
                Method::POST,
                "/api/admin/environments/{key}/archive",
                s("/api/admin/environments/sandbox/archive"),
                AdminApi,
                Json(json!({ "reason": "why" })),
            ),
            server_fn("archive_environment", Form(vec![("key", s("preview")), ("reason", s("why"))])),
            get("/admin/phases", Browser, Input::None),
            get("/api/admin/phases", AdminApi, Input::None),
            server_fn("list_phases", Input::None),
            // Before any phase is added or deleted, for the same reason.
            route(
                Method::POST,
                "/api/admin/phases/reorder",
                s("/api/admin/phases/reorder"),
                AdminApi,
                Json(json!({ "keys": ["phase-1", "phase-2", "spare-a", "spare-b"] })),
            ),
            server_fn("move_phase", Form(vec![("key", s("phase-2")), ("direction", s("up"))])),
            route(
                Method::PUT,
                "/api/admin/phases/{key}",
                s("/api/admin/phases/phase-2"),
                AdminApi,
                Json(json!({ "name": "Phase 2", "description": "later", "requires_previous": false })),
            ),
            server_fn(
                "update_phase",
                Form(vec![
                    ("key", s("phase-2")),
                    ("name", s("Phase 2")),
                    ("description", s("later")),
                    ("requires_previous", s("on")),
                ]),
            ),
            route(
                Method::POST,
                "/api/admin/phases",
                s("/api/admin/phases"),
                AdminApi,
                Json(
                    json!({ "key": "phase-{n}", "name": "Made by API", "description": "", "requires_previous": true }),
                ),
            ),
            server_fn(
                "create_phase",
                Form(vec![("key", s("phase-{n}")), ("name", s("Made by form")), ("description", s(""))]),
            ),
            route(
                Method::PUT,
                "/api/admin/feature-flags/{key}/phase",
                s("/api/admin/feature-flags/search/phase"),
                AdminApi,
                Json(json!({ "phase": "phase-2" })),
            ),
            server_fn("move_flag_to_phase", Form(vec![("flag", s("search")), ("phase", s("phase-1"))])),
            route(
                Method::PUT,
                "/api/admin/feature-flags/{key}/frontend",
                s("/api/admin/feature-flags/search/frontend"),
                AdminApi,
                Json(json!({ "visible": true })),
            ),
            server_fn("set_frontend_visibility", Form(vec![("flag", s("search")), ("visible", s("false"))])),
            route(Method::DELETE, "/api/admin/phases/{key}", s("/api/admin/phases/spare-a"), AdminApi, Input::None),
            server_fn("delete_phase", Form(vec![("key", s("spare-b"))])),
        ]
    }

    /// People, for admins: the editor `person` is changed, reset, disabled and enabled again.
    pub fn people_routes(&self) -> Vec<Route> {
        use Input::*;
        use Via::*;
        let s = |v: &str| v.to_owned();
        let id = self.person.to_string();
        let person = |suffix: &str| format!("/api/admin/users/{id}{suffix}");
        vec![
            get("/api/admin/users", AdminApi, Input::None),
            route(
                Method::POST,
                "/api/admin/users",
                s("/api/admin/users"),
                AdminApi,
                Json(json!({ "email": "invited-{n}@rollgate.test", "name": "Invited by API", "role": "viewer",
                             "signoff_roles": ["product_owner"] })),
            ),
            server_fn(
                "invite_user",
                Form(vec![
                    ("email", s("invited-{n}@rollgate.test")),
                    ("name", s("Invited by form")),
                    ("role", s("editor")),
                    ("signoff[0]", s("product_owner")),
                ]),
            ),
            route(Method::GET, "/admin/users/{id}", format!("/admin/users/{id}"), Browser, Input::None),
            server_fn("get_user", Form(vec![("id", id.clone())])),
            route(
                Method::PUT,
                "/api/admin/users/{id}",
                person(""),
                AdminApi,
                Json(json!({ "role": "editor", "signoff_roles": ["product_owner"] })),
            ),
            server_fn(
                "update_user_roles",
                Form(vec![("id", id.clone()), ("role", s("editor")), ("signoff[0]", s("product_owner"))]),
            ),
            // Before the disables: a disabled user's password is not reset.
            route(
                Method::POST,
                "/api/admin/users/{id}/reset-password",
                person("/reset-password"),
                AdminApi,
                Input::None,
            ),
            server_fn("reset_user_password", Form(vec![("id", id.clone())])),
            // Disabled and enabled twice, so that each identity the matrix tries finds the user enabled.
            server_fn(
                "set_user_disabled",
                Form(vec![("id", id.clone()), ("disable", s("true")), ("reason", s("left the team"))]),
            ),
            route(Method::POST, "/api/admin/users/{id}/enable", person("/enable"), AdminApi, Input::None),
            route(
                Method::POST,
                "/api/admin/users/{id}/disable",
                person("/disable"),
                AdminApi,
                Json(json!({ "reason": "left the team" })),
            ),
            server_fn("set_user_disabled", Form(vec![("id", id), ("disable", s("false"))])),
        ]
    }

    /// A flag's rules and prerequisites in staging, through the admin API and the flag page, and the segments
    /// `beta` (changed), `spare-segment` and `spare-segment-2` (deleted, last in their kind).
    pub fn targeting_routes(&self) -> Vec<Route> {
        use Input::*;
        use Via::*;
        let s = |v: &str| v.to_owned();
        let targeting = format!("/api/admin/feature-flags/{FLAG}/environments/staging/targeting");
        let rule = json!({
            "name": "enterprise",
            "constraints": [{ "field": "plan", "operator": "IN", "values": ["enterprise"] }],
            "segments": ["beta"],
            "serve": { "kind": "on" },
        });
        vec![
            route(
                Method::GET,
                "/api/admin/feature-flags/{key}/environments/{env}/targeting",
                targeting.clone(),
                AdminApi,
                Input::None,
            ),
            route(
                Method::PUT,
                "/api/admin/feature-flags/{key}/environments/{env}/targeting/rules",
                format!("{targeting}/rules"),
                AdminApi,
                Json(json!({ "rules": [rule], "reason": "enterprise first" })),
            ),
            route(
                Method::PUT,
                "/api/admin/feature-flags/{key}/environments/{env}/targeting/prerequisites",
                format!("{targeting}/prerequisites"),
                AdminApi,
                Json(json!({ "prerequisites": [], "reason": "none needed" })),
            ),
            get("/api/admin/segments", AdminApi, Input::None),
            route(
                Method::POST,
                "/api/admin/segments",
                "/api/admin/segments".to_owned(),
                AdminApi,
                Json(json!({ "key": "segment-{n}", "name": "Segment {n}",
                             "constraints": [{ "field": "region", "operator": "IN", "values": ["eu-west"] }] })),
            ),
            route(
                Method::GET,
                "/api/admin/segments/{key}",
                "/api/admin/segments/beta".to_owned(),
                AdminApi,
                Input::None,
            ),
            route(
                Method::PUT,
                "/api/admin/segments/{key}",
                "/api/admin/segments/beta".to_owned(),
                AdminApi,
                Json(json!({ "name": "Beta testers",
                             "constraints": [{ "field": "plan", "operator": "IN", "values": ["beta", "trial"] }] })),
            ),
            route(
                Method::DELETE,
                "/api/admin/segments/{key}",
                "/api/admin/segments/spare-segment".to_owned(),
                AdminApi,
                Query(vec![("reason", "unused".to_owned())]),
            ),
            get("/admin/segments", Browser, Input::None),
            server_fn("list_segments", Input::None),
            server_fn("flag_targeting", Form(vec![("flag", s(FLAG))])),
            server_fn(
                "targeting_rule_save",
                Form(vec![
                    ("flag", s(FLAG)),
                    ("environment", s("staging")),
                    ("name", s("rule {n}")),
                    ("field[]", s("plan")),
                    ("negate[]", s("")),
                    ("operator[]", s("IN")),
                    ("values[]", s("pro, team")),
                    ("case[]", s("")),
                    ("segment[]", s("beta")),
                    ("serve", s("on")),
                    ("percent", s("50")),
                ]),
            ),
            server_fn(
                "targeting_rule_move",
                Form(vec![
                    ("flag", s(FLAG)),
                    ("environment", s("staging")),
                    ("position", s("1")),
                    ("direction", s("down")),
                ]),
            ),
            server_fn(
                "targeting_prerequisite_add",
                Form(vec![
                    ("flag", s(FLAG)),
                    ("environment", s("staging")),
                    ("requires", s("search")),
                    ("state", s("on")),
                ]),
            ),
            server_fn(
                "targeting_prerequisite_remove",
                Form(vec![("flag", s(FLAG)), ("environment", s("staging")), ("requires", s("search"))]),
            ),
            server_fn(
                "targeting_rule_delete",
                Form(vec![("flag", s(FLAG)), ("environment", s("staging")), ("position", s("1"))]),
            ),
            server_fn(
                "segment_save",
                Form(vec![
                    ("key", s("page-segment-{n}")),
                    ("name", s("Page segment {n}")),
                    ("field[]", s("region")),
                    ("negate[]", s("")),
                    ("operator[]", s("IN")),
                    ("values[]", s("eu-west")),
                    ("case[]", s("")),
                ]),
            ),
            server_fn("segment_delete", Form(vec![("key", s("spare-segment-2"))])),
        ]
    }

    /// Overrides of `checkout` in staging, by customer key, and the registry of organizations and customers.
    pub fn target_routes(&self) -> Vec<Route> {
        use Input::*;
        use Via::*;
        let s = |v: &str| v.to_owned();
        let overrides = format!("/api/admin/feature-flags/{FLAG}/environments/staging/overrides");
        let customers = "key,name,organization\ncust-1,Customer One,acme\ncust-9,Customer Nine,\n";
        vec![
            route(
                Method::GET,
                "/api/admin/feature-flags/{key}/environments/{env}/overrides",
                overrides.clone(),
                AdminApi,
                Input::None,
            ),
            route(
                Method::POST,
                "/api/admin/feature-flags/{key}/environments/{env}/overrides",
                overrides.clone(),
                AdminApi,
                Json(json!({ "customer": "cust-{n}", "value": true, "reason": "beta" })),
            ),
            route(
                Method::PUT,
                "/api/admin/feature-flags/{key}/environments/{env}/overrides/{kind}/{target}",
                format!("{overrides}/customers/cust-1"),
                AdminApi,
                Json(json!({ "value": false, "reason": "not yet" })),
            ),
            route(
                Method::DELETE,
                "/api/admin/feature-flags/{key}/environments/{env}/overrides/{kind}/{target}",
                format!("{overrides}/customers/cust-2"),
                AdminApi,
                Query(vec![("reason", s("done"))]),
            ),
            server_fn("flag_overrides", Form(vec![("flag", s(FLAG))])),
            server_fn(
                "override_add",
                Form(vec![
                    ("flag", s(FLAG)),
                    ("environment", s("staging")),
                    ("kind", s("customer")),
                    ("target", s("cust-{n}")),
                    ("value", s("true")),
                    ("reason", s("beta")),
                ]),
            ),
            server_fn(
                "override_change",
                Form(vec![
                    ("flag", s(FLAG)),
                    ("environment", s("staging")),
                    ("kind", s("customer")),
                    ("target", s("cust-1")),
                    ("value", s("true")),
                    ("reason", s("beta again")),
                ]),
            ),
            server_fn(
                "override_remove",
                Form(vec![
                    ("flag", s(FLAG)),
                    ("environment", s("staging")),
                    ("kind", s("customer")),
                    ("target", s("cust-3")),
                ]),
            ),
            get("/api/admin/organizations", AdminApi, Query(vec![("q", s("ac"))])),
            route(
                Method::POST,
                "/api/admin/organizations",
                s("/api/admin/organizations"),
                AdminApi,
                Json(json!({ "key": "org-{n}", "name": "Made by API" })),
            ),
            route(
                Method::PUT,
                "/api/admin/organizations/{key}",
                format!("/api/admin/organizations/{ACCOUNT}"),
                AdminApi,
                Json(json!({ "name": "Acme Inc" })),
            ),
            get("/api/admin/customers", AdminApi, Query(vec![("q", s("cust"))])),
            route(
                Method::POST,
                "/api/admin/customers/import",
                s("/api/admin/customers/import?file_name=customers.csv"),
                AdminApi,
                Csv(s(customers)),
            ),
            get(
                "/admin/organizations",
                Browser,
                Query(vec![("q", s("ac")), ("import", self.customer_batch.to_string())]),
            ),
            server_fn("registry_page", Json(json!({ "query": { "q": "ac", "import": self.customer_batch } }))),
            server_fn("organization_create", Form(vec![("key", s("org-{n}")), ("name", s("Made by form"))])),
            server_fn("organization_rename", Form(vec![("key", s(ACCOUNT)), ("name", s("Acme"))])),
            // The page's upload and report: browser routes outside the OpenAPI document.
            route(
                Method::POST,
                "/admin/organizations/customers/import",
                s("/admin/organizations/customers/import"),
                Browser,
                Multipart { file_name: "customers.csv", content: s(customers) },
            ),
            route(
                Method::GET,
                "/admin/organizations/customers/imports/{id}/report.csv",
                format!("/admin/organizations/customers/imports/{}/report.csv", self.customer_batch),
                Browser,
                Input::None,
            ),
        ]
    }

    /// One's own account, and the pages reached through a one-time link instead of a sign-in.
    ///
    /// The set-up link only works on an install without users, which this fixture is not: `/setup` and
    /// its server functions are called with a token the install never issued, so their valid input is
    /// answered 404 (no refusal: nobody is signed in there). Their fields are checked before the token,
    /// so every bad input is still seen. The set-password link is the invited user's, used up by the
    /// first caller of `set_password`; later callers get the same 404.
    pub fn link_routes(&self) -> Vec<Route> {
        use Input::*;
        use Via::*;
        let s = |v: &str| v.to_owned();
        let link = || self.password_link.clone();
        let password = || s(PASSWORD);
        vec![
            get("/admin/account", Browser, Input::None),
            // The same password again, so that the matrix can still sign everyone in afterwards.
            server_fn(
                "change_password",
                Form(vec![
                    ("current_password", password()),
                    ("new_password", password()),
                    ("new_password_again", password()),
                ]),
            ),
            server_fn_via("awaiting_first_user", Public, Input::None),
            get("/setup", Public, Query(vec![("token", s("never-issued"))])),
            server_fn_via("setup_link", Public, Form(vec![("token", s("never-issued"))])),
            server_fn_via(
                "complete_setup",
                Public,
                Form(vec![
                    ("token", s("never-issued")),
                    ("email", s("first@rollgate.test")),
                    ("name", s("First")),
                    ("password", password()),
                    ("password_again", password()),
                ]),
            ),
            get("/set-password", Public, Query(vec![("token", link())])),
            server_fn_via("password_link", Public, Form(vec![("token", link())])),
            server_fn_via(
                "set_password",
                Public,
                Form(vec![("token", link()), ("password", password()), ("password_again", password())]),
            ),
        ]
    }
}
