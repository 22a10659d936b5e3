//! The admin API, `/admin/v1/...`: JSON over HTTPS, bearer-authenticated (RFC 6750 §2.1, §3),
//! authorized by permission (docs/threat-model.md P, AD-01..AD-05). docs/admin-api.md is the guide;
//! `GET /admin/v1/openapi.json` is generated from [`ROUTES`], so it cannot drift from the router.
//!
//! [`ROUTES`] is the one table: path, method, the permission the route needs and its summary.
//! [`configure`] registers exactly these routes, and the [`caller::Caller`] extractor looks the
//! matched route up in the same table to decide who may call it, so a route cannot exist
//! without a permission. Every handler takes a `Caller`: it proves the bearer token was checked
//! on this very request (signature, `typ`, issuer, expiry, revocation) and that the caller holds
//! the route's permission. Beyond that, nobody may hand out or take away what they do not hold
//! ([`caller::Caller::must_hold_all`]).
//!
//! CSRF does not apply: the API reads no cookie, only an `Authorization` header, which a
//! cross-site form or a cross-origin request without CORS cannot set. It sends no CORS headers.

pub mod audit;
pub mod caller;
pub mod clients;
pub mod error;
pub mod input;
pub mod keys;
pub mod openapi;
pub mod roles;
pub mod users;

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use palisade_flow::admin::Action;

pub use caller::Caller;
pub use error::ApiError;

/// Where the admin API lives.
pub const PREFIX: &str = "/admin/v1";
/// The OpenAPI document: public (it documents, it does not disclose).
pub const OPENAPI_PATH: &str = "/admin/v1/openapi.json";

/// HTTP methods the admin API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
        }
    }

    pub fn method(self) -> Method {
        match self {
            Self::Get => Method::GET,
            Self::Post => Method::POST,
            Self::Put => Method::PUT,
            Self::Delete => Method::DELETE,
        }
    }

    /// Whether calls change something (and so are audited).
    pub fn is_mutation(self) -> bool {
        self != Self::Get
    }
}

pub use palisade_core::model::Permission;

/// One admin route.
#[derive(Debug)]
pub struct AdminRoute {
    pub operation: Operation,
    pub verb: Verb,
    /// The full path pattern, as actix matches it (`{name}` segments).
    pub path: &'static str,
    pub permission: Permission,
    pub summary: &'static str,
    /// The status of a successful answer.
    pub success: u16,
    /// The request body's schema in the OpenAPI components, if it takes one.
    pub body: Option<&'static str>,
    /// The success body's schema in the OpenAPI components, if it has one.
    pub response: Option<&'static str>,
}

/// Every operation of the admin API; [`handler`] maps each to its function exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    ListUsers,
    CreateUser,
    GetUser,
    DisableUser,
    EnableUser,
    UnlockUser,
    ResetPassword,
    SignOutUser,
    DeleteUser,
    ListUserFactors,
    ResetUserFactors,
    AssignRole,
    RevokeRole,
    ListPermissions,
    ListRoles,
    CreateRole,
    GrantPermission,
    RevokePermission,
    SetRoleMfa,
    ListRoleHolders,
    ReviewGrants,
    DecideGrants,
    ListClients,
    CreateClient,
    GetClient,
    UpdateClient,
    RotateClientSecret,
    DeleteClient,
    ListKeys,
    RotateKeys,
    RevokeKey,
    QueryAudit,
}

impl Operation {
    /// The administrative action the operation performs, as the audit trail names it.
    pub fn action(self) -> Action {
        match self {
            O::ListUsers => Action::ListUsers,
            O::CreateUser => Action::CreateUser,
            O::GetUser => Action::ReadUser,
            O::DisableUser => Action::DisableUser,
            O::EnableUser => Action::EnableUser,
            O::UnlockUser => Action::UnlockUser,
            O::ResetPassword => Action::ResetPassword,
            O::SignOutUser => Action::SignOutUser,
            O::DeleteUser => Action::DeleteUser,
            // Reading: refusals of a read are not audited, so this names the kind of call.
            O::ListUserFactors => Action::ReadUser,
            O::ResetUserFactors => Action::ResetUserMfa,
            O::AssignRole => Action::GrantRole,
            O::RevokeRole => Action::RevokeRole,
            O::ListPermissions => Action::ListPermissions,
            O::ListRoles => Action::ListRoles,
            O::CreateRole => Action::CreateRole,
            O::GrantPermission => Action::GrantPermission,
            O::RevokePermission => Action::RevokePermission,
            O::SetRoleMfa => Action::SetRoleMfa,
            O::ListRoleHolders | O::ReviewGrants | O::DecideGrants => Action::ReviewRoles,
            O::ListClients => Action::ListClients,
            O::CreateClient => Action::CreateClient,
            O::GetClient => Action::ReadClient,
            O::UpdateClient => Action::UpdateClient,
            O::RotateClientSecret => Action::RotateClientSecret,
            O::DeleteClient => Action::DeleteClient,
            O::ListKeys => Action::ListKeys,
            O::RotateKeys => Action::RotateKey,
            O::RevokeKey => Action::RevokeKey,
            O::QueryAudit => Action::QueryAudit,
        }
    }
}

// A table row reads best as one call with every column; a struct literal per row would triple
// the table's length.
#[allow(clippy::too_many_arguments)]
const fn route(
    operation: Operation,
    verb: Verb,
    path: &'static str,
    permission: Permission,
    summary: &'static str,
    success: u16,
    body: Option<&'static str>,
    response: Option<&'static str>,
) -> AdminRoute {
    AdminRoute {
        operation,
        verb,
        path,
        permission,
        summary,
        success,
        body,
        response,
    }
}

use Operation as O;
use Permission as P;
use Verb as V;

/// The admin route table.
#[rustfmt::skip]
pub const ROUTES: &[AdminRoute] = &[
    route(O::ListUsers, V::Get, "/admin/v1/users", P::UsersRead, "List users (search, paging)", 200, None, Some("UserList")),
    route(O::CreateUser, V::Post, "/admin/v1/users", P::UsersWrite, "Create a user", 201, Some("NewUser"), Some("User")),
    route(O::GetUser, V::Get, "/admin/v1/users/{user_id}", P::UsersRead, "A user with roles and lockout state", 200, None, Some("User")),
    route(O::DisableUser, V::Post, "/admin/v1/users/{user_id}/disable", P::UsersWrite, "Stop a user from signing in", 200, None, Some("User")),
    route(O::EnableUser, V::Post, "/admin/v1/users/{user_id}/enable", P::UsersWrite, "Let a disabled user sign in again", 200, None, Some("User")),
    route(O::UnlockUser, V::Post, "/admin/v1/users/{user_id}/unlock", P::UsersWrite, "Lift a brute-force lockout", 200, None, Some("User")),
    route(O::ResetPassword, V::Post, "/admin/v1/users/{user_id}/password", P::UsersWrite, "Set a new password (ends every session and grant of the user)", 204, Some("PasswordReset"), None),
    route(O::SignOutUser, V::Post, "/admin/v1/users/{user_id}/signout", P::UsersWrite, "Sign the user out everywhere: end every session, code, refresh token and access token", 204, None, None),
    route(O::DeleteUser, V::Delete, "/admin/v1/users/{user_id}", P::UsersWrite, "Delete a user with their roles, consents and grants", 204, None, None),
    route(O::ListUserFactors, V::Get, "/admin/v1/users/{user_id}/factors", P::UsersRead, "A user's second factors and how many recovery codes are left", 200, None, Some("FactorList")),
    route(O::ResetUserFactors, V::Delete, "/admin/v1/users/{user_id}/factors", P::UsersWrite, "Delete every second factor and recovery code of a user (ends every session and grant of the user)", 204, None, None),
    route(O::AssignRole, V::Put, "/admin/v1/users/{user_id}/roles/{role}", P::UsersWrite, "Give a user a role, optionally until an expiry", 200, Some("RoleGrant"), Some("User")),
    route(O::RevokeRole, V::Delete, "/admin/v1/users/{user_id}/roles/{role}", P::UsersWrite, "Take a role from a user", 200, None, Some("User")),
    route(O::ListPermissions, V::Get, "/admin/v1/permissions", P::RolesRead, "The permission catalogue", 200, None, Some("PermissionList")),
    route(O::ListRoles, V::Get, "/admin/v1/roles", P::RolesRead, "Roles with their permissions", 200, None, Some("RoleList")),
    route(O::CreateRole, V::Post, "/admin/v1/roles", P::RolesWrite, "Create a role", 201, Some("NewRole"), Some("Role")),
    route(O::GrantPermission, V::Put, "/admin/v1/roles/{role}/permissions/{permission}", P::RolesWrite, "Add a permission to a role", 200, None, Some("Role")),
    route(O::RevokePermission, V::Delete, "/admin/v1/roles/{role}/permissions/{permission}", P::RolesWrite, "Remove a permission from a role", 200, None, Some("Role")),
    route(O::SetRoleMfa, V::Put, "/admin/v1/roles/{role}/mfa", P::RolesWrite, "Whether holding the role requires a second factor", 200, Some("RoleMfa"), Some("Role")),
    route(O::ListRoleHolders, V::Get, "/admin/v1/roles/{role}/holders", P::RolesRead, "Who holds a role: granted by whom and when, expiry, last confirmed, last sign-in", 200, None, Some("RoleHolders")),
    route(O::ReviewGrants, V::Get, "/admin/v1/reviews", P::RolesRead, "Grants not used or not confirmed for N days", 200, None, Some("Review")),
    route(O::DecideGrants, V::Post, "/admin/v1/reviews/decisions", P::RolesWrite, "Confirm or revoke grants in bulk", 200, Some("ReviewDecisions"), Some("ReviewOutcome")),
    route(O::ListClients, V::Get, "/admin/v1/clients", P::ClientsRead, "Registered clients", 200, None, Some("ClientList")),
    route(O::CreateClient, V::Post, "/admin/v1/clients", P::ClientsWrite, "Register a client (its secret is shown once)", 201, Some("ClientMetadata"), Some("Client")),
    route(O::GetClient, V::Get, "/admin/v1/clients/{client_id}", P::ClientsRead, "A client's metadata", 200, None, Some("Client")),
    route(O::UpdateClient, V::Put, "/admin/v1/clients/{client_id}", P::ClientsWrite, "Replace a client's metadata", 200, Some("ClientMetadata"), Some("Client")),
    route(O::RotateClientSecret, V::Post, "/admin/v1/clients/{client_id}/secret", P::ClientsWrite, "Issue a new secret; the old one stops working", 200, None, Some("Client")),
    route(O::DeleteClient, V::Delete, "/admin/v1/clients/{client_id}", P::ClientsWrite, "Delete a client with its consents and refresh tokens", 204, None, None),
    route(O::ListKeys, V::Get, "/admin/v1/keys", P::KeysRead, "Signing keys and their schedule", 200, None, Some("KeyList")),
    route(O::RotateKeys, V::Post, "/admin/v1/keys/rotate", P::KeysWrite, "Stage new signing keys", 200, Some("KeyRotation"), Some("KeyList")),
    route(O::RevokeKey, V::Post, "/admin/v1/keys/{kid}/revoke", P::KeysWrite, "Emergency: withdraw a signing key", 200, None, Some("Key")),
    route(O::QueryAudit, V::Get, "/admin/v1/audit", P::AuditRead, "Audit events, newest first", 200, None, Some("AuditEventList")),
];

/// The handler of each operation.
fn handler(operation: Operation) -> actix_web::Route {
    match operation {
        O::ListUsers => web::to(users::list),
        O::CreateUser => web::to(users::create),
        O::GetUser => web::to(users::get),
        O::DisableUser => web::to(users::disable),
        O::EnableUser => web::to(users::enable),
        O::UnlockUser => web::to(users::unlock),
        O::ResetPassword => web::to(users::reset_password),
        O::SignOutUser => web::to(users::sign_out),
        O::DeleteUser => web::to(users::delete),
        O::ListUserFactors => web::to(users::list_factors),
        O::ResetUserFactors => web::to(users::reset_factors),
        O::AssignRole => web::to(users::assign_role),
        O::RevokeRole => web::to(users::revoke_role),
        O::ListPermissions => web::to(roles::list_permissions),
        O::ListRoles => web::to(roles::list),
        O::CreateRole => web::to(roles::create),
        O::GrantPermission => web::to(roles::grant_permission),
        O::RevokePermission => web::to(roles::revoke_permission),
        O::SetRoleMfa => web::to(roles::set_mfa),
        O::ListRoleHolders => web::to(roles::holders),
        O::ReviewGrants => web::to(roles::review),
        O::DecideGrants => web::to(roles::decide),
        O::ListClients => web::to(clients::list),
        O::CreateClient => web::to(clients::create),
        O::GetClient => web::to(clients::get),
        O::UpdateClient => web::to(clients::update),
        O::RotateClientSecret => web::to(clients::rotate_secret),
        O::DeleteClient => web::to(clients::delete),
        O::ListKeys => web::to(keys::list),
        O::RotateKeys => web::to(keys::rotate),
        O::RevokeKey => web::to(keys::revoke),
        O::QueryAudit => web::to(audit::query),
    }
}

/// The route of a request, by method and matched pattern.
pub fn find_route(method: &Method, pattern: &str) -> Option<&'static AdminRoute> {
    ROUTES
        .iter()
        .find(|r| r.path == pattern && r.verb.method() == method)
}

/// Registers the admin API under [`PREFIX`]: one resource per path, answering a method the
/// path does not serve with a JSON 405 and `Allow`; unknown admin paths get a JSON 404.
pub fn configure(cfg: &mut web::ServiceConfig, max_json_bytes: usize) {
    let openapi = ("GET", OPENAPI_PATH, web::get().to(openapi::document));
    let routes = std::iter::once(openapi).chain(ROUTES.iter().map(|r| {
        let route = handler(r.operation).method(r.verb.method());
        (r.verb.as_str(), r.path, route)
    }));
    let mut scope = web::scope(PREFIX).app_data(web::PayloadConfig::new(max_json_bytes));
    for group in super::by_path(routes) {
        let allow = super::method_not_allowed::allow_value(&group.methods);
        let relative = group.path.strip_prefix(PREFIX).unwrap_or(group.path);
        let resource = group
            .routes
            .into_iter()
            .fold(web::resource(relative), |resource, route| {
                resource.route(route)
            })
            .default_service(web::to(move || {
                let allow = allow.clone();
                async move { ApiError::MethodNotAllowed(allow).into_response() }
            }));
        scope = scope.service(resource);
    }
    cfg.service(scope.default_service(web::to(not_found)));
}

async fn not_found() -> HttpResponse {
    error::ApiError::NotFound("no such admin resource").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_under_the_prefix_and_unique() {
        for (i, r) in ROUTES.iter().enumerate() {
            assert!(r.path.starts_with(PREFIX), "{}", r.path);
            assert!(
                !ROUTES[..i]
                    .iter()
                    .any(|o| o.path == r.path && o.verb == r.verb),
                "{} {} twice",
                r.verb.as_str(),
                r.path
            );
            assert!(
                ROUTES[..i].iter().all(|o| o.operation != r.operation),
                "{:?} twice",
                r.operation
            );
        }
    }
}
