//! The admin API's OpenAPI 3.1 document, generated from the handlers'
//! annotations and the wire types, served at `/v1/openapi.json`.

use super::{accounts, audit, authorizations, clients, passkeys, scopes};
use axum::response::Response;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse admin API",
        description = "Everything the admin pages do, for automation. Every call needs an access token with the \
                       `admin` scope: a person's, from `gatehouse login --scope admin` approved by an admin, or a \
                       confidential client's own, from the `client_credentials` grant at the token endpoint. \
                       DPoP-bound tokens are presented with the `DPoP` scheme and a proof (RFC 9449)."
    ),
    paths(
        clients::list, clients::get_one, clients::register, clients::update, clients::rotate_secret,
        clients::disable, clients::enable,
        accounts::list, accounts::get_one, accounts::create, accounts::change, passkeys::list, passkeys::remove_all,
        authorizations::list, authorizations::get_one, authorizations::revoke, authorizations::revoke_all,
        audit::search,
        scopes::list, scopes::create, scopes::update, scopes::delete,
    ),
    components(schemas(super::ErrorBody)),
    modifiers(&AdminToken),
    tags(
        (name = "clients", description = "OAuth clients"),
        (name = "accounts", description = "Local accounts"),
        (name = "authorizations", description = "Everyone's grants (authorized devices and clients' own tokens)"),
        (name = "audit", description = "The audit log"),
        (name = "scopes", description = "The scope registry"),
    )
)]
pub struct AdminApi;

/// The `admin_token` security scheme every path names.
struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An access token holding the `admin` scope"))
                    .build(),
            ),
        );
    }
}

/// `GET /v1/openapi.json`.
pub async fn document() -> Response {
    crate::http::responses::json_no_store(AdminApi::openapi())
}
