//! The `rollgate` server: the axum router around the Leptos app, login and logout, CSRF protection, the
//! private PostgreSQL, the demo data and the command line. `main.rs` only parses arguments and dispatches.

pub mod api;
pub mod auth_routes;
pub mod cli;
pub mod config;
pub mod csrf;
pub mod customer_import;
pub mod db;
pub mod db_roles;
pub mod demo;
pub mod edge;
pub mod embedded_pg;
pub mod input;
pub mod metrics;
pub mod priority_urls;
pub mod request_id;
pub mod startup;
pub mod upload;
pub mod workers;

use app::server::AppState;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::sync::Arc;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "rollgate_session";

/// Builds the whole HTTP application. Tests call it and drive it with `tower::ServiceExt::oneshot`.
/// Writes a line to standard output for the people running the server (the set-up link, where it
/// serves). A reader that has gone away (`rollgate serve | head`, a restarted log collector) must not
/// stop the server, which `println!` would do by panicking.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub fn app(state: AppState, trusted_origins: csrf::TrustedOrigins) -> Router {
    let routes = generate_route_list(app::App);
    let idle = time::Duration::seconds(i64::try_from(state.security.idle_timeout.as_secs()).unwrap_or(i64::MAX));
    let sessions = SessionManagerLayer::new(PostgresStore::new(state.pool.clone()))
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_secure(state.security.secure_cookies)
        .with_expiry(Expiry::OnInactivity(idle));

    let context_state = state.clone();
    let shell_options = state.leptos_options.clone();
    let metrics = Arc::new(metrics::Metrics::new(Arc::clone(&state.snapshot)));
    let api = api::openapi::router(state.priority_urls.limits.max_file_bytes);
    let console = Router::new()
        .route("/", get(|| async { Redirect::to("/admin/feature-flags") }))
        .route("/login", post(auth_routes::login))
        .route("/logout", post(auth_routes::logout))
        .merge(api.console)
        .route(
            "/admin/priority-urls/{account}/import",
            post(priority_urls::upload).layer(axum::extract::DefaultBodyLimit::max(
                state.priority_urls.limits.max_file_bytes.saturating_add(priority_urls::FORM_OVERHEAD),
            )),
        )
        .route("/admin/priority-urls/{account}/batches/{batch}/report.csv", get(priority_urls::report))
        .route(
            "/admin/organizations/customers/import",
            post(customer_import::upload).layer(axum::extract::DefaultBodyLimit::max(
                state.priority_urls.limits.max_file_bytes.saturating_add(upload::FORM_OVERHEAD),
            )),
        )
        .route("/admin/organizations/customers/imports/{id}/report.csv", get(customer_import::report))
        .merge(
            Router::new()
                .leptos_routes_with_context(
                    &state,
                    routes,
                    move || provide_context(context_state.clone()),
                    move || app::shell(leptos::config::LeptosOptions::clone(&shell_options)),
                )
                .route_layer(middleware::from_fn_with_state(PAGE_RENDER_LIMIT, render_watchdog)),
        )
        .route_layer(middleware::from_fn_with_state(Arc::clone(&metrics), metrics::track))
        .route("/metrics", get(metrics::serve).with_state(Arc::clone(&metrics)))
        .nest_service("/pkg", static_assets(&state.leptos_options))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(app::shell))
        .layer(middleware::from_fn_with_state(state.clone(), require_login_for_admin))
        .layer(sessions)
        .layer(middleware::from_fn(input::screen))
        // For a path under the evaluation prefixes that no evaluation route matched.
        .layer(middleware::from_fn_with_state(state.clone(), api::cors::evaluation_cors))
        .layer(middleware::from_fn_with_state(trusted_origins, csrf::reject_cross_site))
        .layer(TraceLayer::new_for_http().make_span_with(request_span as fn(&Request) -> tracing::Span))
        .with_state(state.clone());
    // Applications' requests, the hot path, have a router of their own, with one middleware for what they
    // need (`edge`) and none of what only people in a browser use (sessions, the sign-in redirect, the
    // cross-site check, which lets evaluation through anyway). Everything else, including a path under
    // the evaluation prefixes that matches no route, is the console's. The fallback is set after the
    // layer, so the console's requests do not pass it.
    api.evaluation
        .layer(middleware::from_fn_with_state(edge::Edge { state: state.clone(), metrics }, edge::evaluation_edge))
        .with_state(state)
        .fallback_service(console)
        .layer(tower_http::request_id::PropagateRequestIdLayer::x_request_id())
        .layer(tower_http::request_id::SetRequestIdLayer::x_request_id(request_id::RequestIds::default()))
}

/// The span every request is handled in: its id, the route it matched and the path, never the query, as a
/// browser's event stream carries its frontend token there.
pub fn request_span(request: &Request) -> tracing::Span {
    use tracing::field::Empty;
    let span = tracing::debug_span!("request", id = Empty, method = %request.method(), route = Empty, path = %request.uri().path());
    // Looked up only when the span is recorded: at the default level it is off, and evaluation pays nothing.
    if !span.is_disabled() {
        if let Some(id) = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()) {
            span.record("id", id);
        }
        span.record(
            "route",
            request.extensions().get::<axum::extract::MatchedPath>().map_or("unmatched", |r| r.as_str()),
        );
    }
    span
}

/// The browser bundle (`/pkg/rollgate_bg.wasm`, `.js`, `.css`): the build writes a gzip copy beside each
/// file, sent to browsers that accept it (the wasm is about a quarter of its size). The names carry no
/// hash, so browsers revalidate every time (a 304 when unchanged) and never pair a new page with an old
/// bundle.
fn static_assets(options: &leptos::config::LeptosOptions) -> axum::routing::MethodRouter {
    let dir = std::path::Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    axum::routing::get_service(
        tower::ServiceBuilder::new()
            .layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-cache"),
            ))
            .service(tower_http::services::ServeDir::new(dir).precompressed_gzip()),
    )
}

/// Sends anyone not signed in from an admin page to the login page. Server functions check the session
/// themselves; this only keeps pages from rendering for nobody.
/// The user it finds goes into the request's extensions for the page's server functions to reuse.
async fn require_login_for_admin(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if !(path == "/admin" || path.starts_with("/admin/")) {
        return next.run(request).await;
    }
    let Some(session) = request.extensions().get::<tower_sessions::Session>().cloned() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "session layer missing").into_response();
    };
    match app::server::auth::session_user(&session, &state).await {
        Ok(Some(user)) => {
            request.extensions_mut().insert(user);
            next.run(request).await
        }
        Ok(None) => {
            let target = request.uri().path_and_query().map_or(path, |pq| pq.as_str());
            let next_param = percent_encoding::utf8_percent_encode(target, percent_encoding::NON_ALPHANUMERIC);
            Redirect::to(&format!("/login?next={next_param}")).into_response()
        }
        Err(app::server::ServiceError::Unavailable) => unavailable_page(),
        Err(err) => {
            tracing::error!(error = %err, "could not read the session");
            (StatusCode::INTERNAL_SERVER_ERROR, "something went wrong on the server; it has been logged")
                .into_response()
        }
    }
}

/// How long a page may take to render before it is rendered again.
pub const PAGE_RENDER_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Renders a page again when its render has not finished within `limit` ([`PAGE_RENDER_LIMIT`]), and answers 503
/// with `Retry-After` if the second one does not finish either.
///
/// A page's queries take milliseconds, but a render can stall for good: while other work runs on other
/// threads, about one page render in a thousand never finishes, with every database session idle and the
/// runtime otherwise free (seen on several pages, all waiting on a `<Transition>`; the cause is below the
/// page code). Pages are GET and render without side effects, so rendering one again is safe, and the
/// person sees a slow page once in a long while instead of one that never loads.
async fn render_watchdog(State(limit): State<std::time::Duration>, request: Request, next: Next) -> Response {
    if !matches!(*request.method(), axum::http::Method::GET | axum::http::Method::HEAD) {
        return next.run(request).await;
    }
    let (parts, _) = request.into_parts();
    let again = Request::from_parts(parts.clone(), axum::body::Body::empty());
    let first = next.clone().run(Request::from_parts(parts, axum::body::Body::empty()));
    if let Ok(response) = tokio::time::timeout(limit, first).await {
        return response;
    }
    let path = again.uri().path().to_owned();
    tracing::warn!(%path, "a page did not render within {limit:?}; rendering it again");
    if let Ok(response) = tokio::time::timeout(limit, next.run(again)).await {
        return response;
    }
    tracing::error!(%path, "a page did not render twice in a row");
    let retry = app::server::RETRY_AFTER_SECONDS;
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(axum::http::header::RETRY_AFTER, retry.to_string())],
        "the page did not render in time; try again in a moment",
    )
        .into_response()
}

/// The page a browser gets while PostgreSQL does not answer: 503 with `Retry-After`, saying that
/// evaluation is not affected.
pub fn unavailable_page() -> Response {
    let retry = app::server::RETRY_AFTER_SECONDS;
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(axum::http::header::RETRY_AFTER, retry.to_string())],
        axum::response::Html(format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Database unreachable · Rollgate</title>\
             <meta http-equiv=\"refresh\" content=\"{retry}\"><link rel=\"stylesheet\" href=\"/pkg/rollgate.css\"></head>\
             <body><main class=\"narrow\"><h1>The database is unreachable</h1>\
             <p role=\"alert\">The database is unreachable; evaluation goes on serving. Applications keep getting \
             their flags from the configuration this server holds; changes wait until PostgreSQL answers again.</p>\
             <p>This page tries again every {retry} seconds.</p></main></body></html>"
        )),
    )
        .into_response()
}

/// Everything `serve` needs besides the database.
pub fn build_state(pool: sqlx::PgPool, args: &config::ServeArgs) -> (AppState, csrf::TrustedOrigins) {
    let leptos_options = leptos::config::LeptosOptions::builder()
        .output_name("rollgate")
        .site_root(args.site_root.clone())
        .site_pkg_dir("pkg")
        .site_addr(args.addr)
        .build();
    let security = app::server::SecurityConfig {
        idle_timeout: std::time::Duration::from_secs(args.session_idle_minutes * 60),
        absolute_timeout: std::time::Duration::from_secs(args.session_max_hours * 3600),
        max_failures_per_account: args.login_max_failures,
        max_failures_per_ip: args.login_max_failures_per_ip,
        throttle_window: std::time::Duration::from_secs(args.login_window_minutes * 60),
        secure_cookies: args.secure_cookies,
        trust_forwarded_for: args.trust_forwarded_for,
    };
    (
        AppState {
            leptos_options: Arc::new(leptos_options),
            pool,
            security: Arc::new(security),
            snapshot: Arc::default(),
            priority_urls: Arc::new(app::server::priority_urls::PriorityUrls::new(args.imports.limits())),
            guardrail_worker: Arc::default(),
        },
        csrf::TrustedOrigins(Arc::new(args.trusted_origins.clone())),
    )
}

#[cfg(test)]
mod tests {
    use super::render_watchdog;
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    use axum::middleware;
    use axum::routing::get;
    use axum::Router;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    use tower::ServiceExt;

    /// A test page, not one of the server's routes.
    const PAGE: &str = "/admin/page";

    /// A page whose first `stalls` renders never finish.
    fn page(stalls: usize) -> (Router, Arc<AtomicUsize>) {
        let renders = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&renders);
        let router = Router::new()
            .route(
                PAGE,
                get(move || {
                    let n = counted.fetch_add(1, Ordering::SeqCst);
                    async move {
                        if n < stalls {
                            std::future::pending::<()>().await;
                        }
                        "rendered"
                    }
                }),
            )
            .route_layer(middleware::from_fn_with_state(Duration::from_millis(50), render_watchdog));
        (router, renders)
    }

    async fn get_page(router: Router) -> (StatusCode, Option<String>, String) {
        let response = router.oneshot(Request::get(PAGE).body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let retry = response.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
        (status, retry, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_render_that_stalls_is_rendered_again() {
        let (router, renders) = page(1);
        assert_eq!(get_page(router).await, (StatusCode::OK, None, "rendered".to_owned()));
        assert_eq!(renders.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_page_that_stalls_twice_is_a_503_with_retry_after() {
        let (router, renders) = page(2);
        let (status, retry, _) = get_page(router).await;
        assert_eq!((status, retry.is_some()), (StatusCode::SERVICE_UNAVAILABLE, true));
        assert_eq!(renders.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_page_that_renders_in_time_is_rendered_once() {
        let (router, renders) = page(0);
        assert_eq!(get_page(router).await.0, StatusCode::OK);
        assert_eq!(renders.load(Ordering::SeqCst), 1);
    }
}
