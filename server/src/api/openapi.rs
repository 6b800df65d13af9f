//! The JSON APIs' router and their OpenAPI document, made together from the handlers' `#[utoipa::path]`
//! attributes and the request and response types' `ToSchema`/`IntoParams` derives: a route is registered
//! by the same `routes!` call that documents it, so the two cannot drift. Served at `/api/openapi.json`.
//!
//! Adding an endpoint: annotate the handler with `#[utoipa::path(...)]` (its specific statuses only; the
//! ones every endpoint of a kind shares are added below, in [`CommonResponses`]) and add it to
//! [`router`]. Examples of each kind: a public read (`evaluate::readyz`), an application endpoint
//! (`evaluate::evaluate_all`), an admin read with query parameters (`admin::list_flags`), a create
//! answering 201 (`admin::create_flag`), a delete answering 204 (`schedule::cancel`).
//! `server/tests/it/openapi.rs` fails when a route is added to the router without going through here.

use super::{
    admin, config_io, error::ErrorBody, evaluate, frontend, ingest, ofrep, people, rollouts, schedule, stream,
    structure, targeting, targets,
};
use app::server::AppState;
use axum::extract::DefaultBodyLimit;
use axum::Router;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// The largest JSON body of an evaluation request.
const EVALUATION_BODY_LIMIT: usize = 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rollgate",
        description = "Evaluation (evaluate tokens), OpenFeature OFREP, metrics for the guardrails, and the admin \
                       API (admin tokens acting as their user, or a browser session). Errors are JSON: \
                       `{\"error\": CODE, \"message\": TEXT, \"details\": {...}}` (OFREP: `errorCode`, \
                       `errorDetails`). The admin UI's own server functions, also under `/api/`, are not part \
                       of this API."
    ),
    tags(
        (name = "evaluation", description = "For applications, with an evaluate token"),
        (name = "ofrep", description = "OpenFeature Remote Evaluation Protocol"),
        (name = "guardrails", description = "Metrics applications report for the guardrails"),
        (name = "admin", description = "Flags, audit trail, health: admin tokens or a session"),
        (name = "environments", description = "The team's environments: everyone reads them, admins change them"),
        (name = "phases", description = "The phases flags are grouped and gated by: editors change them"),
        (name = "targets", description = "Overrides for any customer or organization key, and the registry of their names"),
        (name = "targeting", description = "Targeting rules and prerequisites per flag and environment, and segments"),
        (name = "people", description = "Users, roles and set-password links: admins"),
        (name = "rollouts", description = "Staged rollouts: the same calls as the rollout page's buttons"),
        (name = "schedule", description = "Changes set to run at a given time"),
        (name = "config", description = "Configuration as code: export and apply YAML"),
        (name = "operations", description = "Liveness, readiness, metrics and this document; public"),
    ),
    paths(crate::metrics::serve),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes),
)]
struct ApiDoc;

/// The API's routes and their document. Every route under `/api/` and `/ofrep/` except the admin UI's
/// server functions is registered here. `max_import_bytes` is the largest file an import takes.
pub fn router(max_import_bytes: usize) -> Routers {
    let (evaluation, evaluation_document) = evaluation_routes().split_for_parts();
    let served = std::sync::Arc::new(std::sync::OnceLock::new());
    let (router, mut document) = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .routes(routes!(evaluate::healthz))
        .routes(routes!(evaluate::readyz))
        .routes(routes!(ingest::ingest).layer(DefaultBodyLimit::max(ingest::MAX_BODY_BYTES)))
        .routes(routes!(admin::whoami))
        .routes(routes!(admin::list_flags, admin::create_flag))
        .routes(routes!(admin::get_flag))
        .routes(routes!(admin::set_flag_state))
        .routes(routes!(structure::move_flag))
        .routes(routes!(frontend::set_visibility))
        .routes(routes!(admin::stale_flags))
        .routes(routes!(admin::list_audit))
        .routes(routes!(admin::audit_csv))
        .routes(routes!(admin::health))
        .routes(routes!(structure::list_environments, structure::create_environment))
        .routes(routes!(structure::reorder_environments))
        .routes(routes!(structure::rename_environment))
        .routes(routes!(structure::archive_environment))
        .routes(routes!(structure::list_phases, structure::create_phase))
        .routes(routes!(structure::reorder_phases))
        .routes(routes!(structure::update_phase, structure::delete_phase))
        .routes(routes!(targets::list_overrides, targets::create_override))
        .routes(routes!(targets::change_override, targets::remove_override))
        .routes(routes!(targets::list_organizations, targets::create_organization))
        .routes(routes!(targets::rename_organization))
        .routes(routes!(targets::list_customers))
        // Room for the limit to be reported as such (413 with the sizes) rather than cut off.
        .routes(routes!(targets::import_customers).layer(DefaultBodyLimit::max(max_import_bytes.saturating_add(1))))
        .routes(routes!(targeting::get_targeting))
        .routes(routes!(targeting::set_rules))
        .routes(routes!(targeting::set_prerequisites))
        .routes(routes!(targeting::list_segments, targeting::create_segment))
        .routes(routes!(targeting::get_segment, targeting::change_segment, targeting::delete_segment))
        .routes(routes!(people::list, people::add))
        .routes(routes!(people::update_roles))
        .routes(routes!(people::disable))
        .routes(routes!(people::enable))
        .routes(routes!(people::reset_password))
        .routes(routes!(config_io::export))
        .routes(routes!(config_io::apply))
        .routes(routes!(rollouts::create))
        .routes(routes!(rollouts::show, rollouts::edit))
        .routes(routes!(rollouts::start))
        .routes(routes!(rollouts::advance))
        .routes(routes!(rollouts::pause))
        .routes(routes!(rollouts::resume))
        .routes(routes!(rollouts::rollback))
        .routes(routes!(rollouts::complete))
        .routes(routes!(rollouts::signoff))
        .routes(routes!(schedule::list, schedule::create))
        .routes(routes!(schedule::cancel))
        .routes(routes!(serve).layer(axum::Extension(Served(std::sync::Arc::clone(&served)))))
        .split_for_parts();
    document.merge(evaluation_document);
    // After the routes: it completes each operation's responses.
    CommonResponses.modify(&mut document);
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    // Serialized once: the document is the same for the life of the process. Only its own route carries
    // it; every other request would pay for an extension it never reads.
    let _ = served.set(serde_json::to_string(&document).unwrap_or_else(|_| "{}".to_owned()));
    Routers { evaluation, console: router, document }
}

/// The routes applications call with evaluate and frontend tokens, the paths
/// [`super::cors::is_evaluation_path`] names: served by a router of their own (see `server::app`).
fn evaluation_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(evaluate::evaluate_all).layer(DefaultBodyLimit::max(EVALUATION_BODY_LIMIT)))
        .routes(routes!(evaluate::evaluate_one))
        .routes(routes!(stream::stream))
        .routes(routes!(ofrep::evaluate_all).layer(DefaultBodyLimit::max(EVALUATION_BODY_LIMIT)))
        .routes(routes!(ofrep::evaluate_flag).layer(DefaultBodyLimit::max(EVALUATION_BODY_LIMIT)))
        .routes(routes!(ofrep::configuration))
}

/// The API's routes, in two routers, and their one document.
pub struct Routers {
    /// The evaluation routes ([`super::cors::is_evaluation_path`]).
    pub evaluation: Router<AppState>,
    /// Every other API route, for the console's router.
    pub console: Router<AppState>,
    pub document: Document,
}

/// The ways to authenticate: evaluate tokens for applications (as a bearer token, or OFREP's `X-API-Key`),
/// admin tokens for scripts, and a browser session.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("rgt_…")
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            "evaluate_token",
            bearer(
                "An evaluate token (`rollgate token create --scope evaluate --env ENV`), or a frontend token \
                 (`--scope frontend`, for browsers and apps: only flags visible to frontends): fixes the environment",
            ),
        );
        components.add_security_scheme(
            "evaluate_api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "An evaluate token in OFREP's header",
            ))),
        );
        components.add_security_scheme(
            "admin_token",
            bearer("An admin token (`rollgate token create --scope admin --user EMAIL`): acts as that user"),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::SESSION_COOKIE,
                "A signed-in browser session; writes also pass the cross-site check",
            ))),
        );
    }
}

/// The statuses every endpoint of a kind answers with, added where a handler does not list them itself:
/// what the shared extractors (token check, JSON body, query string, path) and the opaque 500 do.
struct CommonResponses;

impl CommonResponses {
    fn error(description: &str) -> RefOr<Response> {
        let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
        RefOr::T(ResponseBuilder::new().description(description).content("application/json", content).build())
    }

    fn add(operation: &mut Operation, status: &str, description: &str) {
        operation.responses.responses.entry(status.to_owned()).or_insert_with(|| Self::error(description));
    }
}

impl Modify for CommonResponses {
    fn modify(&self, document: &mut Document) {
        for (path, item) in document.paths.paths.iter_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                // A requirement serializes as `{"scheme": []}`; the public one as `{}`.
                let schemes: Vec<String> = operation
                    .security
                    .iter()
                    .flatten()
                    .filter_map(|requirement| serde_json::to_value(requirement).ok())
                    .filter_map(|value| value.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()))
                    .flatten()
                    .collect();
                if schemes.is_empty() {
                    continue; // public: answers what its own annotation lists
                }
                if schemes.iter().any(|s| s == "evaluate_token") {
                    Self::add(operation, "401", "No token, or an unknown, revoked or expired one (`UNAUTHORIZED`)");
                    Self::add(operation, "403", "An admin token where an evaluate token is needed (`FORBIDDEN`)");
                    Self::add(operation, "503", "No configuration loaded yet; retry shortly (`NOT_READY`)");
                } else {
                    Self::add(operation, "401", "No admin token or session, or an unusable one (`UNAUTHORIZED`)");
                    Self::add(operation, "403", "Your role does not allow it (`FORBIDDEN`)");
                    Self::add(
                        operation,
                        "503",
                        "The database does not answer; try again after `Retry-After` (`DATABASE_UNAVAILABLE`)",
                    );
                }
                if operation.request_body.is_some() && !path.starts_with("/ofrep/") {
                    Self::add(operation, "400", "The body is not valid JSON (`INVALID_BODY`)");
                    Self::add(operation, "413", "The body is over the size limit (`INVALID_BODY`)");
                    Self::add(operation, "415", "The body is not sent as application/json (`INVALID_BODY`)");
                    Self::add(operation, "422", "The body does not match the schema (`INVALID_BODY`)");
                }
                let has_query = operation.parameters.iter().flatten().any(
                    |p| matches!(p, RefOr::T(p) if matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query)),
                );
                if has_query || path.contains('{') {
                    Self::add(
                        operation,
                        "400",
                        "A bad query string or path parameter (`INVALID_QUERY`, `INVALID_PATH`)",
                    );
                }
                // Every request is screened before its handler: text holding a NUL character is refused
                // wherever it is, in the path, the query or the body.
                if has_query || path.contains('{') || operation.request_body.is_some() {
                    Self::add(
                        operation,
                        "422",
                        "A NUL character in the path, the query or the body (`INVALID`; `details.field` names where)",
                    );
                }
                Self::add(operation, "500", "Something went wrong on the server; it has been logged (`INTERNAL`)");
            }
        }
    }
}

/// The whole document, as `/api/openapi.json` serves it.
pub fn document() -> Document {
    router(app::server::priority_urls::ImportLimits::default().max_file_bytes).document
}

/// This document, as JSON. Public.
#[utoipa::path(
    get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of these APIs", body = serde_json::Value)),
    security(()),
)]
pub async fn serve(axum::Extension(json): axum::Extension<Served>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let json = json.0.get().map_or("{}", String::as_str).to_owned();
    ([(axum::http::header::CONTENT_TYPE, "application/json")], json).into_response()
}

/// The document, serialized once when the router is built (set just after the routes, which the document
/// is made from).
#[derive(Clone)]
pub struct Served(std::sync::Arc<std::sync::OnceLock<String>>);

#[cfg(test)]
mod tests {
    use super::*;

    /// The evaluation router takes exactly the paths the CORS rules and the cross-site check treat as
    /// evaluation: a route on the wrong side would miss CORS headers or meet the console's session layer.
    #[test]
    fn the_evaluation_router_serves_exactly_the_evaluation_paths() {
        let (_, evaluation) = evaluation_routes().split_for_parts();
        let evaluation: Vec<_> = evaluation.paths.paths.keys().cloned().collect();
        assert!(!evaluation.is_empty());
        for path in &evaluation {
            assert!(super::super::cors::is_evaluation_path(path), "{path} is served for applications");
        }
        let whole = document();
        for path in whole.paths.paths.keys() {
            // Concrete paths, as a request would name them.
            let concrete = path.replace("{key}", "k");
            assert_eq!(
                super::super::cors::is_evaluation_path(&concrete),
                evaluation.contains(path),
                "{path}: evaluation path and evaluation router disagree"
            );
        }
    }
}
