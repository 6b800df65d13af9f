//! Every bad input an outside probe sent, to every route of the router (`common::routes`): text past every
//! limit, NUL characters and invalid UTF-8, numbers past what any field holds, the wrong types, nesting,
//! broken encodings and the wrong content types. Each answer must be a 4xx that says what is wrong and
//! where (naming the field it was about), never a 5xx, and a refused request must change nothing.
#![allow(clippy::unwrap_used)]

use crate::common::routes::*;
use crate::common::*;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use sqlx::PgPool;
use std::collections::BTreeSet;

/// A value that no field takes as it is, as JSON text and as a form or query-string value.
struct Bad {
    name: &'static str,
    json: Vec<u8>,
    form: String,
}

fn bad_values() -> Vec<Bad> {
    let bad = |name, json: &str, form: &str| Bad { name, json: json.as_bytes().to_vec(), form: form.to_owned() };
    vec![
        bad("10,000 characters", &format!("\"{}\"", "x".repeat(10_000)), &"x".repeat(10_000)),
        bad("a NUL character", "\"a\\u0000b\"", "a%00b"),
        bad("a number past any float", "1e309", "1e309"),
        bad("a number past any integer", "99999999999999999999", "99999999999999999999"),
        bad("a negative number", "-1", "-1"),
        bad("a word where a boolean goes", "\"maybe\"", "maybe"),
        bad("an object", "{\"a\": [1, {\"b\": null}]}", "%7B%22a%22%3A1%7D"),
        bad("10,000 equals signs", &format!("\"{}\"", "=".repeat(10_000)), &"=".repeat(10_000)),
        Bad { name: "invalid UTF-8", json: b"\"\xff\xfe\"".to_vec(), form: "%FF%FE".to_owned() },
        bad("a broken percent escape", "\"%ZZ\"", "%ZZ"),
        bad("200 levels of nesting", &format!("{}{}", "[".repeat(200), "]".repeat(200)), "x"),
    ]
}

/// What the database holds, in a few counts: a refused request must leave them as they were.
async fn fingerprint(pool: &PgPool) -> String {
    sqlx::query_scalar(
        "select concat_ws('/', (select count(*) from audit_events), (select version from config_state),
                (select count(*) from rollout_events), (select count(*) from webhooks where enabled),
                (select count(*) from api_tokens where revoked_at is null),
                (select count(*) from scheduled_changes where status = 'pending'),
                (select count(*) from url_import_batches where status <> 'failed'), (select count(*) from metric_batches),
                (select count(*) from guardrails), (select count(*) from flags), (select count(*) from signoffs),
                (select count(*) from overrides), (select string_agg(enabled::text, ',' order by flag_id, environment_id)
                                                    from flag_environments))",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// One request to send: a route with one thing spoiled.
struct Probe {
    what: String,
    /// The field the spoiled part belongs to; the answer must name it.
    field: Option<String>,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

fn form_text(pairs: &[(&str, String)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

fn enc(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The key a form or query field goes by in messages: `events[0]` is `events`.
fn base_name(key: &str) -> String {
    key.split(['[', '.']).next().unwrap_or(key).to_owned()
}

/// Pairs with `key`'s value replaced by `raw` (already encoded).
fn with_value(pairs: &[(&'static str, String)], key: &str, raw: &str) -> String {
    pairs
        .iter()
        .map(|(k, v)| if *k == key { format!("{}={raw}", enc(k)) } else { format!("{}={}", enc(k), enc(v)) })
        .collect::<Vec<_>>()
        .join("&")
}

fn json_with(valid: &serde_json::Value, key: &str, raw: &[u8]) -> Vec<u8> {
    const HOLE: &str = "\"__spoiled__\"";
    let mut object = valid.clone();
    object[key] = serde_json::Value::String("__spoiled__".into());
    let text = object.to_string();
    let at = text.find(HOLE).unwrap();
    let mut body = text.as_bytes()[..at].to_vec();
    body.extend_from_slice(raw);
    body.extend_from_slice(&text.as_bytes()[at + HOLE.len()..]);
    body
}

/// Every spoiled request for one route.
fn probes(route: &Route) -> Vec<Probe> {
    let mut out = Vec::new();
    let probe = |what: String, field: Option<&str>, path: String, content_type, body: Vec<u8>| Probe {
        what,
        field: field.map(str::to_owned),
        path,
        content_type,
        body,
    };
    // Path parameters.
    let pattern: Vec<&str> = route.pattern.split('/').collect();
    let concrete: Vec<&str> = route.path.split('?').next().unwrap_or_default().split('/').collect();
    let query_suffix = route.path.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
    let (content_type, valid_body) = valid_body(route);
    for (i, segment) in pattern.iter().enumerate() {
        let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else { continue };
        for raw in ["x".repeat(10_000), "%00".into(), "%FF%FE".into(), "..%2F..".into(), "-1".into(), "1e309".into()] {
            let mut parts = concrete.clone();
            parts[i] = &raw;
            out.push(probe(
                format!("{name} = {}", shorten(&raw)),
                None,
                format!("{}{query_suffix}", parts.join("/")),
                content_type,
                valid_body.clone(),
            ));
        }
    }
    match &route.input {
        Input::Query(pairs) => {
            for (key, _) in pairs {
                for bad in bad_values() {
                    let query = with_value(pairs, key, &bad.form);
                    out.push(probe(
                        format!("{key} = {}", bad.name),
                        Some(key),
                        format!("{}?{query}", route.path),
                        None,
                        Vec::new(),
                    ));
                }
                let nested = format!("{}&{}[a][b][c][d][e][f][g]=1", form_text(pairs), enc(key));
                out.push(probe(
                    format!("{key} nested 7 deep"),
                    None,
                    format!("{}?{nested}", route.path),
                    None,
                    Vec::new(),
                ));
            }
        }
        Input::Form(pairs) => {
            for (key, _) in pairs {
                for bad in bad_values() {
                    out.push(probe(
                        format!("{key} = {}", bad.name),
                        Some(key),
                        route.path.clone(),
                        Some("application/x-www-form-urlencoded"),
                        with_value(pairs, key, &bad.form).into_bytes(),
                    ));
                }
                let nested = format!("{}&{}[a][b][c][d][e][f][g]=1", form_text(pairs), enc(&base_name(key)));
                out.push(probe(
                    format!("{key} nested 7 deep"),
                    None,
                    route.path.clone(),
                    Some("application/x-www-form-urlencoded"),
                    nested.into_bytes(),
                ));
            }
        }
        Input::Json(valid) => {
            for key in valid.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
                for bad in bad_values() {
                    out.push(probe(
                        format!("{key} = {}", bad.name),
                        Some(&key),
                        route.path.clone(),
                        Some("application/json"),
                        json_with(valid, &key, &bad.json),
                    ));
                }
            }
        }
        Input::None | Input::Yaml(_) | Input::Csv(_) | Input::Multipart { .. } => {}
    }
    // The whole body.
    if route.method != Method::GET {
        let whole = |what: &str, content_type, body: &[u8]| {
            probe(format!("body: {what}"), None, route.path.clone(), content_type, body.to_vec())
        };
        out.push(whole("none", None, b""));
        out.push(whole("text/plain", Some("text/plain"), &valid_body));
        out.push(whole("JSON where a form goes, and back", Some(swap(content_type)), &valid_body));
        out.push(whole("a JSON array", Some("application/json"), b"[1, 2, 3]"));
        out.push(whole("truncated JSON", Some("application/json"), b"{\"a\": [1, 2"));
        out.push(whole("invalid UTF-8", content_type, b"\xff\xfe\xfd"));
        out.push(whole(
            "deep nesting",
            Some("application/json"),
            format!("{}{}", "[".repeat(5000), "]".repeat(5000)).as_bytes(),
        ));
        if content_type.is_some() {
            let mut huge = b"{\"a\": \"".to_vec();
            // Past every route's limit: the metrics batch takes the most, 8 MB; others 1 or 2.
            let size = if route.pattern == "/api/v1/metrics" { 9 } else { 3 };
            huge.extend(std::iter::repeat_n(b'x', size * 1024 * 1024));
            huge.extend_from_slice(b"\"}");
            out.push(whole("past the size limit", content_type, &huge));
        }
        if matches!(route.input, Input::Yaml(_)) {
            let long = "y".repeat(10_000);
            let documents = [
                ("YAML that nests 5,000 deep", "[".repeat(5000)),
                ("YAML with a NUL", "rollgate: 1\nflags:\n- key: \"a\\0b\"\n".to_owned()),
                ("a 10,000-character phase name", format!("rollgate: 1\nphases:\n- key: p-long\n  name: {long}\n")),
                (
                    "a 10,000-character flag name and description",
                    format!("rollgate: 1\nflags:\n- key: f-long\n  name: {long}\n  description: {long}\n"),
                ),
                (
                    "a 10,000-character override reason",
                    format!(
                        "rollgate: 1\nflags:\n- key: {FLAG}\n  name: {FLAG}\n  phase: phase-1\n  environments:\n    \
                         production:\n      enabled: false\n      overrides:\n      - organization: {ACCOUNT}\n        \
                         value: true\n        reason: {long}\n"
                    ),
                ),
            ];
            for (what, document) in documents {
                out.push(whole(what, Some("application/yaml"), document.as_bytes()));
            }
        }
        if let Input::Csv(content) = &route.input {
            let long = "c".repeat(10_000);
            let files = [
                ("a CSV with NUL and invalid UTF-8", [content.as_bytes(), b"\xff\x00\xfe"].concat()),
                ("a 10,000-character customer name", format!("key,name\ncust-long,{long}\n").into_bytes()),
                ("a 10,000-character customer key", format!("key,name\n{long},Long\n").into_bytes()),
                ("a header and no rows", b"key,name,organization\n".to_vec()),
            ];
            for (what, file) in files {
                out.push(whole(what, Some("text/csv"), &file));
            }
            let bare = route.path.split('?').next().unwrap_or_default();
            let path = format!("{bare}?file_name={}", "n".repeat(10_000));
            out.push(probe(
                "a 10,000-character file name".into(),
                None,
                path,
                Some("text/csv"),
                content.clone().into_bytes(),
            ));
        }
        if let Input::Multipart { file_name, content } = &route.input {
            let (ct, body) =
                crate::common::urls::multipart(file_name, &[content.as_bytes(), b"\xff\x00\xfe"].concat(), false);
            let ct: &'static str = Box::leak(ct.into_boxed_str());
            out.push(whole("a file with NUL and invalid UTF-8", Some(ct), &body));
            let (ct, body) = crate::common::urls::multipart(&"n".repeat(10_000), content.as_bytes(), false);
            let ct: &'static str = Box::leak(ct.into_boxed_str());
            out.push(whole("a 10,000-character file name", Some(ct), &body));
            out.push(whole("multipart without a boundary", Some("multipart/form-data"), content.as_bytes()));
        }
    } else {
        out.push(probe(
            "an unknown parameter".into(),
            None,
            format!("{}{}x=%FF&page=1e309", route.path, if route.path.contains('?') { "&" } else { "?" }),
            None,
            Vec::new(),
        ));
    }
    out
}

fn swap(content_type: Option<&'static str>) -> &'static str {
    match content_type {
        Some("application/json") => "application/x-www-form-urlencoded",
        _ => "application/json",
    }
}

fn shorten(text: &str) -> String {
    if text.len() > 20 {
        format!("{}... ({} bytes)", &text[..10], text.len())
    } else {
        text.to_owned()
    }
}

fn valid_body(route: &Route) -> (Option<&'static str>, Vec<u8>) {
    match &route.input {
        Input::Json(value) => (Some("application/json"), value.to_string().into_bytes()),
        Input::Form(pairs) => (Some("application/x-www-form-urlencoded"), form_text(pairs).into_bytes()),
        Input::Yaml(text) => (Some("application/yaml"), text.clone().into_bytes()),
        Input::Csv(text) => (Some("text/csv"), text.clone().into_bytes()),
        Input::Multipart { file_name, content } => {
            let (ct, body) = crate::common::urls::multipart(file_name, content.as_bytes(), false);
            (Some(Box::leak(ct.into_boxed_str())), body)
        }
        Input::None | Input::Query(_) => (None, Vec::new()),
    }
}

/// The names of a route's input fields and path parameters.
fn input_fields(route: &Route) -> Vec<String> {
    let mut fields: Vec<String> = route
        .pattern
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_owned)
        .collect();
    match &route.input {
        Input::Query(pairs) | Input::Form(pairs) => fields.extend(pairs.iter().map(|(k, _)| base_name(k))),
        Input::Json(value) => fields.extend(value.as_object().into_iter().flat_map(|o| o.keys().cloned())),
        _ => {}
    }
    fields
}

struct Caller {
    admin_token: String,
    evaluate_token: String,
    cookie: String,
}

fn request(route: &Route, probe: &Probe, caller: &Caller, n: usize) -> Request<Body> {
    let unique = |bytes: &[u8]| -> Vec<u8> {
        String::from_utf8(bytes.to_vec())
            .map_or_else(|e| e.into_bytes(), |text| text.replace("{n}", &n.to_string()).into_bytes())
    };
    let mut builder = Request::builder()
        .method(route.method.clone())
        .uri(probe.path.replace("{n}", &n.to_string()))
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header("sec-fetch-site", "same-origin");
    builder = match route.via {
        Via::Public => builder,
        Via::Evaluate => builder.header(header::AUTHORIZATION, format!("Bearer {}", caller.evaluate_token)),
        Via::AdminApi => builder.header(header::AUTHORIZATION, format!("Bearer {}", caller.admin_token)),
        Via::Browser => builder.header(header::COOKIE, &caller.cookie).header(header::ACCEPT, "application/json"),
    };
    if let Some(content_type) = probe.content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(Body::from(unique(&probe.body))).unwrap()
}

/// Words that only internal errors use: a client never needs them.
const INTERNAL: [&str; 5] = ["sqlx", "error returned from database", "panicked", "server function", "stack backtrace"];

#[sqlx::test(migrations = "../migrations")]
async fn every_bad_input_to_every_route_gets_a_4xx_naming_the_field_and_changes_nothing(pool: PgPool) {
    let fixture = Fixture::seed(&pool).await;
    let state = state(&pool);
    server::workers::snapshot::refresh(&pool, &state.snapshot).await.unwrap();
    let router: Router = server::app(state, server::csrf::TrustedOrigins::default());
    let cookie = login(&router, ADMIN).await;
    let caller =
        Caller { admin_token: fixture.admin_token.clone(), evaluate_token: fixture.evaluate_token.clone(), cookie };

    let mut failures = Vec::new();
    let mut sent = 0;
    let mut before = fingerprint(&pool).await;
    for route in fixture.routes() {
        for probe in probes(&route) {
            let response = send(&router, request(&route, &probe, &caller, sent)).await;
            sent += 1;
            let status = response.status();
            if status.is_success() || status.is_redirection() {
                before = fingerprint(&pool).await;
                continue;
            }
            let body = body_text(response).await;
            let label = format!("{} {} [{}]", route.method, route.pattern, probe.what);
            let shown = body.chars().take(300).collect::<String>();
            if status.is_server_error() {
                failures.push(format!("{label}: {status} {shown}"));
                before = fingerprint(&pool).await;
                continue;
            }
            if let Some(word) = INTERNAL.iter().find(|w| body.to_lowercase().contains(*w)) {
                failures.push(format!("{label}: {status} says {word:?}: {shown}"));
            }
            let validation = matches!(
                status,
                StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY | StatusCode::PAYLOAD_TOO_LARGE
            );
            // A JSON answer must name the field; another field of the request will do, as the spoiled
            // value may be valid and something else wrong (a key that exists already, say).
            let json = body.trim_start().starts_with('{');
            if let (true, true, Some(field)) = (validation, json, &probe.field) {
                let fields = input_fields(&route);
                if !body.contains(&base_name(field)) && !fields.iter().any(|f| body.contains(&format!("\"{f}\""))) {
                    failures.push(format!("{label}: {status} does not name {field:?}: {shown}"));
                }
            }
            if validation && body.trim().is_empty() {
                failures.push(format!("{label}: {status} with an empty body"));
            }
            let after = fingerprint(&pool).await;
            // A refusal for want of sign-offs records the request for them (409), by design.
            if after != before && status != StatusCode::CONFLICT {
                failures.push(format!("{label}: {status} yet the data changed ({before} -> {after})"));
            }
            before = after;
        }
    }
    // The figure scripts/reliability reports (with --nocapture).
    println!("figure: bad input: {sent} requests, {} answered wrong", failures.len());
    assert!(sent > 2000, "{sent} requests");
    assert!(failures.is_empty(), "{} of {sent} requests answered wrong:\n{}", failures.len(), failures.join("\n"));
}

/// The table must list every route: those the OpenAPI document describes, every server function the
/// pages call, and every page.
#[sqlx::test(migrations = "../migrations")]
async fn every_route_of_the_router_is_in_the_table(pool: PgPool) {
    let fixture = Fixture::seed(&pool).await;
    let listed: BTreeSet<(String, String)> =
        fixture.routes().iter().map(|r| (r.method.to_string(), r.pattern.to_owned())).collect();
    let router = router(&pool);
    let response = send(&router, Request::get("/api/openapi.json").body(Body::empty()).unwrap()).await;
    let document: serde_json::Value = serde_json::from_str(&body_text(response).await).unwrap();

    let mut expected = BTreeSet::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            expected.insert((method.to_uppercase(), path.clone()));
        }
    }
    for (path, method) in leptos::server_fn::axum::server_fn_paths() {
        expected.insert((method.to_string(), path.to_owned()));
    }
    for listing in leptos_axum::generate_route_list(app::App) {
        let path = listing.path().split('/').map(|s| match s.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => s.to_owned(),
        });
        expected.insert(("GET".to_owned(), path.collect::<Vec<_>>().join("/")));
    }

    let missing: Vec<_> = expected.difference(&listed).collect();
    assert!(missing.is_empty(), "routes missing from common/routes.rs: {missing:?}");
}

/// A planned rollout of `flag` in production, moved on by `actions` (as an admin past the gates).
async fn rollout_of(pool: &PgPool, flag: &str, actions: &[app::domain::rollout::Action]) -> i64 {
    use app::domain::rollout::Template;
    use app::domain::{EnvKey, FlagKey, Role, Stickiness};
    use app::server::rollouts::{self, NewRollout, PlanSource, TransitionRequest};
    seed_flag(pool, flag).await;
    let new = NewRollout {
        flag: FlagKey::parse(flag).unwrap(),
        environment: EnvKey::parse("production").unwrap(),
        plan: PlanSource::Template(Template::FiveTier),
        stickiness: Stickiness::CustomerId,
        allow_customers: Vec::new(),
        allow_organizations: Vec::new(),
        audience: None,
    };
    let id = rollouts::create(pool, &editor(), &new).await.unwrap();
    let admin = app::server::audit::Actor { role: Role::Admin, ..editor() };
    for action in actions {
        let request = TransitionRequest {
            action: *action,
            expected_version: None,
            reason: Some("set-up".into()),
            override_gates: true,
            details: None,
        };
        rollouts::transition(pool, &admin, id, &request).await.unwrap();
    }
    id
}

#[sqlx::test(migrations = "../migrations")]
async fn a_reason_of_2001_characters_is_refused_naming_it_on_every_write_path_that_would_otherwise_succeed(
    pool: PgPool,
) {
    use app::domain::rollout::Action;
    let fixture = Fixture::seed(&pool).await;
    let planned = rollout_of(&pool, "planned-one", &[]).await;
    let active = rollout_of(&pool, "active-one", &[Action::Start, Action::Advance]).await;
    rollout_of(&pool, "paused-one", &[Action::Start, Action::Pause]).await;
    let router = router(&pool);
    let cookie = login(&router, ADMIN).await;
    let long = "r".repeat(2001);
    let act = |verb: &str, flag: &str| {
        (
            format!("/api/admin/rollout/{verb}"),
            Method::POST,
            json_body(&format!(
                r#"{{"flag": "{flag}", "environment": "production", "override_gates": true, "reason": "{long}"}}"#
            )),
        )
    };
    let api: Vec<(String, Method, Vec<u8>)> = vec![
        (
            format!("/api/admin/feature-flags/{FLAG}/environments/staging"),
            Method::PUT,
            json_body(&format!(r#"{{"enabled": true, "reason": "{long}"}}"#)),
        ),
        act("start", "planned-one"),
        act("advance", "active-one"),
        act("pause", "active-one"),
        act("resume", "paused-one"),
        act("rollback", "active-one"),
        (
            format!("/api/admin/rollouts/{active}"),
            Method::PUT,
            json_body(&format!(
                r#"{{"stages": [{{"name": "a", "percent": 0}}, {{"name": "b", "percent": 1}}, {{"name": "c", "percent": 100}}], "reason": "{long}"}}"#
            )),
        ),
    ];
    let forms: Vec<(&str, String)> = vec![
        ("/api/toggle_flag", format!("flag={FLAG}&env=staging&enabled=true&reason={long}")),
        ("/api/rollout_act", format!("rollout={active}&action=pause&reason={long}")),
        ("/api/rollout_edit", format!("rollout={planned}&stages=a+%7C+10%25%0Ab+%7C+100%25&reason={long}")),
        ("/api/rollback_import", format!("batch={}&reason={long}", fixture.batch)),
    ];

    let mut answers = Vec::new();
    for (path, method, body) in api {
        let request = Request::builder()
            .method(method)
            .uri(&path)
            .header(header::AUTHORIZATION, format!("Bearer {}", fixture.admin_token))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap();
        let before = fingerprint(&pool).await;
        let response = send(&router, request).await;
        answers.push((path, response.status(), body_text(response).await, before == fingerprint(&pool).await));
    }
    for (path, body) in forms {
        let mut request = form_post(path, &body, Some(&cookie));
        request.headers_mut().insert(header::ACCEPT, "application/json".parse().unwrap());
        let before = fingerprint(&pool).await;
        let response = send(&router, request).await;
        answers.push((
            path.to_owned(),
            response.status(),
            body_text(response).await,
            before == fingerprint(&pool).await,
        ));
    }

    assert_eq!(answers.len(), 11);
    for (path, status, body, unchanged) in answers {
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert!(body.contains("reason") && body.contains("2,001 characters"), "{path}: {body}");
        assert!(unchanged, "{path} changed something");
    }
}

fn json_body(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_sign_in_with_an_email_past_254_characters_is_a_422_naming_the_email(pool: PgPool) {
    let router = router(&pool);
    let email = format!("{}@example.com", "a".repeat(290));

    let response = send(&router, form_post("/login", &format!("email={email}&password=whatever+it+is"), None)).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = body_text(response).await;
    assert!(body.contains("email: the email address is 302 characters long; the limit is 254"), "{body}");
    let throttled: i64 = sqlx::query_scalar("select count(*) from login_throttle").fetch_one(&pool).await.unwrap();
    assert_eq!(throttled, 0, "nothing was counted or stored");
}

#[sqlx::test(migrations = "../migrations")]
async fn server_function_arguments_that_do_not_decode_are_a_422_naming_the_argument(pool: PgPool) {
    let fixture = Fixture::seed(&pool).await;
    let router = router(&pool);
    let cookie = login(&router, ADMIN).await;
    let cases = [
        ("/api/toggle_flag", format!("flag={FLAG}&env=staging&enabled=maybe"), "enabled"),
        ("/api/toggle_flag", format!("flag={FLAG}&env=staging&enabled=true&version=1e309"), "version"),
        (
            "/api/evaluate_flag_for",
            format!("key={FLAG}&customer=c&organization=o&attrs={}", "=".repeat(10_000)),
            "attrs",
        ),
        ("/api/get_rollout", format!("id={}x", fixture.rollout), "id"),
    ];
    for (path, body, field) in cases {
        let mut request = form_post(path, &body, Some(&cookie));
        request.headers_mut().insert(header::ACCEPT, "application/json".parse().unwrap());

        let response = send(&router, request).await;

        let status = response.status();
        let text = body_text(response).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path} {field}: {text}");
        let error: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(error["Invalid"]["field"], field, "{text}");
        assert!(!text.contains("server function"), "{text}");
    }
}
