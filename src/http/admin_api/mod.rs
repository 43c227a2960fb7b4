//! The admin REST API (`/v1/admin/…`): what the admin pages do, as typed
//! JSON for Terraform, CI and off-boarding workflows.
//!
//! Every call is authenticated by an access token holding the `admin`
//! scope: a person's (approved through the device flow by an admin,
//! `gatehouse login --scope admin`) or a confidential client's own
//! (`client_credentials`). `BearerService::admin` checks at every call that
//! its holder may still administer, and the use cases audit each change
//! with that actor; reads are audited as `admin_api.read`. Errors are the
//! REST surface's `{"error", "error_description"}`. The OpenAPI 3.1
//! document (`/v1/openapi.json`) is generated from these types
//! (`openapi.rs`).

pub mod accounts;
pub mod approval_policy;
pub mod audit;
pub mod authorizations;
pub mod clients;
pub mod openapi;
pub mod passkeys;
pub mod scopes;

use super::AppState;
use super::bearer::{RequestTarget, authenticate};
use super::middleware::client_ip::ClientAddr;
use super::responses::{ApiError, json_error};
use axum::Router;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gatehouse_core::actor::Admin;
use gatehouse_core::scope;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The admin API's routes (machine routes: no session, no cookies).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/openapi.json", get(openapi::document))
        .route("/v1/admin/clients", get(clients::list).post(clients::register))
        .route("/v1/admin/clients/{client_id}", get(clients::get_one).put(clients::update))
        .route("/v1/admin/clients/{client_id}/secret", post(clients::rotate_secret))
        .route("/v1/admin/clients/{client_id}/disable", post(clients::disable))
        .route("/v1/admin/clients/{client_id}/enable", post(clients::enable))
        .route("/v1/admin/accounts", get(accounts::list).post(accounts::create))
        .route("/v1/admin/accounts/{account_id}", get(accounts::get_one).patch(accounts::change))
        .route("/v1/admin/accounts/{account_id}/passkeys", get(passkeys::list).delete(passkeys::remove_all))
        .route("/v1/admin/authorizations", get(authorizations::list))
        .route("/v1/admin/authorizations/revoke", post(authorizations::revoke_all))
        .route("/v1/admin/authorizations/{token_id}", get(authorizations::get_one).delete(authorizations::revoke))
        .route("/v1/admin/audit", get(audit::search))
        .route("/v1/admin/scopes", get(scopes::list).post(scopes::create))
        .route("/v1/admin/scopes/{name}", axum::routing::put(scopes::update).delete(scopes::delete))
}

/// The admin API answering in this process as the operator at the command
/// line (`gatehouse client …` without `--server`): the same handlers, checks
/// and audit as over HTTP, with no token. The marker is a request
/// extension, which only code in this process can set: nothing a remote
/// caller sends becomes one.
pub fn in_process(services: std::sync::Arc<gatehouse_core::services::Services>) -> Router {
    let state = AppState {
        services,
        leptos_options: std::sync::Arc::new(leptos::config::LeptosOptions::builder().output_name("gatehouse").build()),
        // The admin routes never build a link to the server.
        edge: std::sync::Arc::new(super::EdgeConfig { public_url: String::new() }),
    };
    routes().layer(axum::Extension(CommandLine)).with_state(state)
}

/// Marks a request made in process by the operator at the command line.
#[derive(Debug, Clone, Copy)]
struct CommandLine;

/// An admin API call: who is calling, checked.
pub struct AdminCall {
    pub admin: Admin,
    /// `GET /v1/admin/…`, for the audit of reads.
    call: String,
}

impl FromRequestParts<AppState> for AdminCall {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let call = format!("{} {}", parts.method, parts.uri.path());
        if parts.extensions.get::<CommandLine>().is_some() {
            return Ok(Self { admin: Admin::command_line(), call });
        }
        let Ok(ClientAddr(ip)) = ClientAddr::from_request_parts(parts, state).await;
        let Ok(target) = RequestTarget::from_request_parts(parts, state).await;
        let token = authenticate(state, &parts.headers, &target, ip.as_deref(), Some(scope::ADMIN)).await?;
        let admin = state.services.bearer.admin(&token, ip.as_deref()).await?;
        Ok(Self { admin, call })
    }
}

impl AdminCall {
    /// Audits a read (changes are audited by their use case).
    async fn read(&self, state: &AppState) {
        state.services.audit.record_read(&self.admin, &self.call).await;
    }
}

/// The REST surface's error body (`{"error", "error_description"}`).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code: `invalid_request`, `invalid_scope`, `not_found`,
    /// `already_exists`, `last_admin`, `in_use`, `built_in`,
    /// `invalid_token`, `insufficient_scope`, `rate_limited`,
    /// `temporarily_unavailable`.
    pub error: String,
    pub error_description: String,
}

/// A refusal of an admin call: status, code and words.
pub struct Refused {
    status: StatusCode,
    code: &'static str,
    description: String,
}

impl Refused {
    fn new(status: StatusCode, code: &'static str, description: impl ToString) -> Self {
        Self { status, code, description: description.to_string() }
    }

    fn invalid(description: impl ToString) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("no such {what}"))
    }
}

/// What an admin handler returns on failure: a refusal, or any REST error.
pub enum Failure {
    Refused(Refused),
    Api(ApiError),
}

impl<E: Into<ApiError>> From<E> for Failure {
    fn from(err: E) -> Self {
        Failure::Api(err.into())
    }
}

impl From<Refused> for Failure {
    fn from(refused: Refused) -> Self {
        Failure::Refused(refused)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::Refused(r) => json_error(r.status, r.code, &r.description),
            Failure::Api(err) => err.into_response(),
        }
    }
}

type Answer = Result<Response, Failure>;

/// A JSON body whose rejection is the REST surface's `invalid_request`.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Failure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(Refused::invalid(json_problem(&rejection)).into()),
        }
    }
}

fn json_problem(rejection: &JsonRejection) -> String {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => "the body must be JSON (Content-Type: application/json)".into(),
        other => other.body_text(),
    }
}

/// Query parameters whose rejection is the REST surface's `invalid_request`.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(Refused::invalid(query_problem(&rejection)).into()),
        }
    }
}

fn query_problem(rejection: &QueryRejection) -> String {
    rejection.body_text()
}

/// A `200` JSON answer, `no-store` like every REST answer.
fn ok(body: impl Serialize) -> Answer {
    Ok(super::responses::json_no_store(body))
}

/// A `201` JSON answer.
fn created(body: impl Serialize) -> Answer {
    let mut response = super::responses::json_no_store(body);
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

/// `204`.
fn no_content() -> Answer {
    Ok(super::responses::no_store(StatusCode::NO_CONTENT.into_response()))
}

/// An instant on the wire (RFC 3339, UTC, whole seconds).
fn instant(at: chrono::DateTime<chrono::Utc>) -> String {
    super::wire::rfc3339(at)
}
