//! `GET /admin/v1/openapi.json`: an OpenAPI 3.1 document of the admin API, generated from
//! [`super::ROUTES`] — path, method, permission, summary and status come from the very table
//! the router is built from, so the document cannot list a route that does not exist or miss
//! one that does. The schemas are written out below by hand.
//!
//! Why not `utoipa`: it would annotate every handler and body type with derive macros (a
//! proc-macro crate and its compile time for a document of two dozen routes), and still let an
//! annotation disagree with the route it sits on. A table we already need is cheaper and
//! cannot drift.

use super::error::ok_json;
use super::{OPENAPI_PATH, PREFIX, Permission, ROUTES};
use actix_web::HttpResponse;
use serde_json::{Map, Value, json};
use std::sync::OnceLock;

/// The document, built once.
pub fn build() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(document_value)
}

pub async fn document() -> HttpResponse {
    ok_json(200, build())
}

fn document_value() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let mut parameters: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        parameters.extend(query_parameters(r.path, r.verb.as_str()));
        let mut responses = Map::new();
        let success = match r.response {
            Some(schema) => json!({
                "description": "success",
                "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
            }),
            None => json!({ "description": "success, no body" }),
        };
        responses.insert(r.success.to_string(), success);
        for (status, description) in [
            (
                "400",
                "malformed request (`invalid_request`, `invalid_client_metadata`, `invalid_redirect_uri`)",
            ),
            (
                "401",
                "no token, or an invalid, expired or revoked one (`WWW-Authenticate: Bearer`)",
            ),
            ("403", "`insufficient_scope`: a permission is missing"),
            ("404", "no such resource"),
            (
                "409",
                "already exists (a username: or looks like an existing one, UTS #39)",
            ),
            ("503", "storage unavailable; retry"),
        ] {
            responses.insert(status.into(), json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }));
        }
        let mut operation = json!({
            "operationId": format!("{:?}", r.operation),
            "summary": r.summary,
            "description": format!("Needs the `{}` permission. Audit action `{}`.", r.permission, r.operation.action().as_str()),
            "security": [{ "bearer": [] }],
            "x-palisade-permission": r.permission.as_str(),
            "parameters": parameters,
            "responses": responses,
        });
        if let Some(schema) = r.body {
            operation["requestBody"] = json!({
                "required": schema != "KeyRotation" && schema != "RoleGrant",
                "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
            });
        }
        let entry = paths.entry(r.path.to_owned()).or_insert_with(|| json!({}));
        entry[r.verb.as_str().to_ascii_lowercase()] = operation;
    }
    paths.insert(
        OPENAPI_PATH.to_owned(),
        json!({ "get": { "operationId": "OpenApi", "summary": "This document (no token needed)", "security": [], "responses": { "200": { "description": "the OpenAPI document" } } } }),
    );
    let permissions: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Palisade admin API",
            "version": "1",
            "description": "Manage users and their second factors, roles, clients, signing keys and read the audit trail. Send `Authorization: Bearer <access token>` issued by this Palisade: a user's token carrying the `admin` scope (permissions from the user's roles) or a client_credentials token with `admin:<permission>` scopes. See docs/admin-api.md."
        },
        "servers": [{ "url": "/" }],
        "x-palisade-prefix": PREFIX,
        "x-palisade-permissions": permissions,
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT (RFC 9068)" } },
            "schemas": schemas(),
        },
    })
}

fn query_parameters(path: &str, verb: &str) -> Vec<Value> {
    let q = |name: &str, schema: Value, description: &str| json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description });
    match (verb, path) {
        ("GET", "/admin/v1/users") => vec![
            q(
                "search",
                json!({ "type": "string", "maxLength": 256 }),
                "substring of username, email or display name",
            ),
            q(
                "limit",
                json!({ "type": "integer", "minimum": 1, "maximum": 100, "default": 50 }),
                "page size",
            ),
            q(
                "offset",
                json!({ "type": "integer", "minimum": 0, "default": 0 }),
                "users to skip",
            ),
        ],
        ("GET", "/admin/v1/roles/{role}/holders") => vec![q(
            "page",
            json!({ "type": "integer", "minimum": 0, "default": 0 }),
            "zero-based page of 50 holders",
        )],
        ("GET", "/admin/v1/reviews") => vec![
            q(
                "stale_after_days",
                json!({ "type": "integer", "minimum": 1, "maximum": 3650, "default": 90 }),
                "a grant is stale when its holder has not signed in, or it has not been granted or confirmed, for this many days",
            ),
            q(
                "page",
                json!({ "type": "integer", "minimum": 0, "default": 0 }),
                "zero-based page of 50 grants",
            ),
        ],
        ("GET", "/admin/v1/audit") => vec![
            q(
                "actor",
                json!({ "type": "string" }),
                "exact match, e.g. user:<id> or client:<id>",
            ),
            q(
                "target",
                json!({ "type": "string" }),
                "exact match, e.g. user:<id>",
            ),
            q(
                "action",
                json!({ "type": "string" }),
                "exact match, e.g. admin.user.create",
            ),
            q(
                "since",
                json!({ "type": "string", "format": "date-time" }),
                "inclusive, RFC 3339",
            ),
            q(
                "until",
                json!({ "type": "string", "format": "date-time" }),
                "exclusive, RFC 3339",
            ),
            q(
                "limit",
                json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }),
                "most events returned",
            ),
        ],
        _ => Vec::new(),
    }
}

fn schemas() -> Value {
    let string = json!({ "type": "string" });
    let nullable_string = json!({ "type": ["string", "null"] });
    let time = json!({ "type": "string", "format": "date-time" });
    let nullable_time = json!({ "type": ["string", "null"], "format": "date-time" });
    let strings = json!({ "type": "array", "items": { "type": "string" } });
    let list_of = |name: &str, schema: &str| json!({ "type": "object", "required": [name], "properties": { name: { "type": "array", "items": { "$ref": format!("#/components/schemas/{schema}") } } } });
    json!({
        "Error": { "type": "object", "required": ["error"], "properties": { "error": string, "error_description": string } },
        "User": { "type": "object", "properties": {
            "id": string, "username": string, "email": nullable_string, "email_verified": { "type": "boolean" },
            "display_name": nullable_string, "disabled": { "type": "boolean" }, "created_at": time, "updated_at": time,
            "roles": strings, "locked_until": nullable_time } },
        "UserList": { "type": "object", "properties": {
            "users": { "type": "array", "items": { "$ref": "#/components/schemas/User" } },
            "limit": { "type": "integer" }, "offset": { "type": "integer" }, "next_offset": { "type": ["integer", "null"] } } },
        "NewUser": { "type": "object", "additionalProperties": false, "required": ["username", "password"], "properties": {
            "username": { "type": "string", "maxLength": 64, "description": "RFC 8265 UsernameCaseMapped (ALICE and fullwidth letters are alice); a new one must be of one script" }, "password": { "type": "string", "minLength": 8, "maxLength": 1024, "writeOnly": true },
            "email": string, "display_name": string } },
        "PasswordReset": { "type": "object", "additionalProperties": false, "required": ["password"], "properties": {
            "password": { "type": "string", "minLength": 8, "maxLength": 1024, "writeOnly": true } } },
        "PermissionList": { "type": "object", "properties": { "permissions": strings } },
        "Role": { "type": "object", "properties": { "name": string, "description": nullable_string, "permissions": strings,
            "require_mfa": { "type": "boolean", "description": "holders must sign in with a second factor" } } },
        "RoleMfa": { "type": "object", "additionalProperties": false, "required": ["required"], "properties": {
            "required": { "type": "boolean" } } },
        "Factor": { "type": "object", "properties": {
            "id": string, "kind": { "enum": ["totp", "passkey"] }, "name": string, "created_at": time, "last_used_at": nullable_time } },
        "FactorList": { "type": "object", "required": ["factors", "recovery_codes_left"], "properties": {
            "factors": { "type": "array", "items": { "$ref": "#/components/schemas/Factor" } },
            "recovery_codes_left": { "type": "integer", "minimum": 0 } } },
        "RoleList": list_of("roles", "Role"),
        "RoleGrant": { "type": "object", "additionalProperties": false, "properties": {
            "expires_at": { "type": ["string", "null"], "description": "RFC 3339, or a date YYYY-MM-DD meaning through that day (UTC); must be ahead. Absent: no expiry" } } },
        "Grant": { "type": "object", "properties": {
            "user_id": string, "username": string, "role": string,
            "granted_by": { "type": ["string", "null"], "description": "user:<id>, client:<id> or cli; null: granted before records began" },
            "granted_at": nullable_time, "expires_at": nullable_time, "confirmed_at": nullable_time,
            "last_sign_in_at": { "type": ["string", "null"], "format": "date-time", "description": "null: not since records began" } } },
        "RoleHolders": { "type": "object", "properties": {
            "role": { "$ref": "#/components/schemas/Role" },
            "holders": { "type": "array", "items": { "$ref": "#/components/schemas/Grant" } },
            "next_page": { "type": ["integer", "null"] } } },
        "Review": { "type": "object", "properties": {
            "stale_after_days": { "type": "integer" },
            "grants": { "type": "array", "items": { "$ref": "#/components/schemas/Grant" } },
            "next_page": { "type": ["integer", "null"] } } },
        "GrantRef": { "type": "object", "additionalProperties": false, "required": ["user_id", "role"], "properties": {
            "user_id": string, "role": string } },
        "ReviewDecisions": { "type": "object", "additionalProperties": false, "properties": {
            "confirm": { "type": "array", "items": { "$ref": "#/components/schemas/GrantRef" } },
            "revoke": { "type": "array", "items": { "$ref": "#/components/schemas/GrantRef" } } } },
        "ReviewOutcome": { "type": "object", "properties": {
            "confirmed": { "type": "array", "items": { "$ref": "#/components/schemas/GrantRef" } },
            "revoked": { "type": "array", "items": { "$ref": "#/components/schemas/GrantRef" } },
            "not_held": { "type": "array", "items": { "$ref": "#/components/schemas/GrantRef" }, "description": "named but not held (lapsed, revoked meanwhile, or unknown): nothing done" } } },
        "NewRole": { "type": "object", "additionalProperties": false, "required": ["name"], "properties": {
            "name": { "type": "string", "pattern": "^[a-z0-9_:-]{1,64}$" }, "description": string, "permissions": strings } },
        "ClientMetadata": { "type": "object", "additionalProperties": false, "required": ["client_name"], "properties": {
            "client_name": string,
            "token_endpoint_auth_method": { "enum": ["client_secret_basic", "client_secret_post", "none"], "default": "client_secret_basic" },
            "grant_types": { "type": "array", "items": { "enum": ["authorization_code", "refresh_token", "client_credentials"] }, "default": ["authorization_code"] },
            "response_types": { "type": "array", "items": { "enum": ["code"] } },
            "redirect_uris": strings, "post_logout_redirect_uris": strings,
            "scope": { "type": "string", "description": "space-separated; admin:<permission> scopes grant admin API permissions to client_credentials tokens" },
            "application_type": { "enum": ["web", "native"], "default": "web" },
            "id_token_signed_response_alg": { "enum": ["RS256", "ES256", "EdDSA"] },
            "require_mfa": { "type": "boolean", "default": false, "description": "users signing in to the client must use a second factor" },
            "require_pushed_authorization_requests": { "type": "boolean", "default": false, "description": "RFC 9126: the client must push its authorization requests to /par" },
            "resources": { "type": "array", "items": { "type": "string", "format": "uri" }, "description": "RFC 8707: the resources the client may ask tokens for; each must also be in the server's [[resources]]" },
            "access_token_ttl_secs": { "type": "integer", "minimum": 1 }, "refresh_token_ttl_secs": { "type": "integer", "minimum": 1 } } },
        "Client": { "type": "object", "properties": {
            "client_id": string, "client_secret": { "type": "string", "description": "only when just created or rotated" },
            "client_name": string, "client_type": { "enum": ["public", "confidential"] }, "application_type": string,
            "token_endpoint_auth_method": string, "grant_types": strings, "response_types": strings,
            "redirect_uris": strings, "post_logout_redirect_uris": strings, "scope": string,
            "id_token_signed_response_alg": nullable_string, "require_mfa": { "type": "boolean" },
            "require_pushed_authorization_requests": { "type": "boolean" }, "resources": strings,
            "registered_dynamically": { "type": "boolean" }, "created_at": time } },
        "ClientList": list_of("clients", "Client"),
        "Key": { "type": "object", "properties": {
            "kid": string, "alg": string, "state": { "enum": ["next", "current", "retired", "revoked"] },
            "created_at": time, "activates_at": time, "activated_at": nullable_time, "retired_at": nullable_time,
            "remove_after": nullable_time, "master_key_id": string } },
        "KeyList": list_of("keys", "Key"),
        "KeyRotation": { "type": "object", "additionalProperties": false, "properties": { "alg": { "enum": ["RS256", "ES256", "EdDSA"] } } },
        "AuditEvent": { "type": "object", "properties": {
            "occurred_at": time, "actor": string, "action": string, "target": nullable_string,
            "outcome": { "enum": ["success", "failure"] }, "client_ip": nullable_string, "details": {} } },
        "AuditEventList": list_of("events", "AuditEvent"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_with_its_permission_and_every_schema_exists() {
        let doc = build();
        for r in ROUTES {
            let op = &doc["paths"][r.path][r.verb.as_str().to_ascii_lowercase()];
            assert_eq!(
                op["x-palisade-permission"],
                r.permission.as_str(),
                "{} {}",
                r.verb.as_str(),
                r.path
            );
            for schema in [r.body, r.response].into_iter().flatten() {
                assert!(
                    doc["components"]["schemas"].get(schema).is_some(),
                    "{schema}"
                );
            }
        }
        assert_eq!(doc["openapi"], "3.1.0");
    }
}
