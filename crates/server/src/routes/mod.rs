//! The route table. Each endpoint lives in its own module.

use actix_web::{Route, web};

pub mod account_security;
pub mod admin;
pub mod assets;
pub mod authorize;
pub mod consent;
pub mod console;
pub mod device;
pub mod device_authorization;
pub mod discovery;
pub mod enrolment;
pub mod health;
pub mod home;
pub mod introspect;
pub mod jwks;
pub mod login;
pub mod logout;
pub mod method_not_allowed;
pub mod metrics;
pub mod not_found;
pub mod par;
pub mod passkey_login;
pub mod recovery_codes;
pub mod register;
pub mod revoke;
pub mod second_factor;
pub mod token;
pub mod userinfo;

pub(crate) use crate::respond::html;

/// The route table: every endpoint outside the admin API, registered by [`configure`] from
/// this one list, so tests that must visit every route (tests/api/transport_and_headers.rs) walk
/// exactly what is served. The admin API's routes come from its own table, [`admin::ROUTES`].
pub fn table() -> Vec<(&'static str, &'static str, Route)> {
    vec![
        ("GET", "/", web::get().to(home::show)),
        ("GET", "/healthz", web::get().to(health::live)),
        ("GET", "/readyz", web::get().to(health::ready)),
        (
            "GET",
            "/readyz/dependencies",
            web::get().to(health::dependencies),
        ),
        ("GET", "/metrics", web::get().to(metrics::render)),
        ("GET", "/favicon.ico", web::get().to(assets::no_favicon)),
        (
            "GET",
            "/.well-known/openid-configuration",
            web::get().to(discovery::document),
        ),
        (
            "GET",
            "/.well-known/oauth-authorization-server",
            web::get().to(discovery::document),
        ),
        ("GET", "/jwks", web::get().to(jwks::document)),
        ("GET", "/authorize", web::get().to(authorize::get)),
        ("POST", "/authorize", web::post().to(authorize::post)),
        ("GET", "/login", web::get().to(login::show)),
        ("POST", "/login", web::post().to(login::submit)),
        (
            "POST",
            "/login/passkey",
            web::post().to(passkey_login::submit),
        ),
        ("GET", "/login/factor", web::get().to(second_factor::show)),
        (
            "POST",
            "/login/factor",
            web::post().to(second_factor::submit),
        ),
        ("GET", "/login/enrol", web::get().to(enrolment::show)),
        ("POST", "/login/enrol", web::post().to(enrolment::submit)),
        (
            "POST",
            "/login/recovery-codes",
            web::post().to(recovery_codes::finish),
        ),
        ("GET", "/consent", web::get().to(consent::show)),
        ("POST", "/consent", web::post().to(consent::submit)),
        ("POST", "/token", web::post().to(token::exchange)),
        ("POST", "/par", web::post().to(par::push)),
        (
            "POST",
            "/device_authorization",
            web::post().to(device_authorization::start),
        ),
        ("GET", "/device", web::get().to(device::show)),
        ("POST", "/device", web::post().to(device::submit)),
        (
            "POST",
            "/introspect",
            web::post().to(introspect::introspect),
        ),
        ("POST", "/revoke", web::post().to(revoke::revoke)),
        ("POST", "/register", web::post().to(register::create)),
        (
            "GET",
            "/register/{client_id}",
            web::get().to(register::read),
        ),
        (
            "PUT",
            "/register/{client_id}",
            web::put().to(register::update),
        ),
        (
            "DELETE",
            "/register/{client_id}",
            web::delete().to(register::delete),
        ),
        ("GET", "/userinfo", web::get().to(userinfo::claims)),
        ("POST", "/userinfo", web::post().to(userinfo::claims)),
        ("GET", "/logout", web::get().to(logout::get)),
        ("POST", "/logout", web::post().to(logout::post)),
        ("POST", "/logout/confirm", web::post().to(logout::confirm)),
        (
            "GET",
            "/account/security",
            web::get().to(account_security::show),
        ),
        (
            "POST",
            "/account/security",
            web::post().to(account_security::submit),
        ),
        (
            "GET",
            "/account",
            web::get().to(console::account::show_profile),
        ),
        (
            "GET",
            "/account/sign-in",
            web::get().to(console::sign_in::start),
        ),
        (
            "POST",
            "/account",
            web::post().to(console::account::save_profile),
        ),
        (
            "GET",
            "/account/applications",
            web::get().to(console::account::show_applications),
        ),
        (
            "POST",
            "/account/applications",
            web::post().to(console::account::act_on_application),
        ),
        ("GET", "/admin", web::get().to(console::admin::home::show)),
        (
            "GET",
            "/admin/users",
            web::get().to(console::admin::users::list),
        ),
        (
            "POST",
            "/admin/users",
            web::post().to(console::admin::users::create),
        ),
        (
            "GET",
            "/admin/users/{user_id}",
            web::get().to(console::admin::users::show),
        ),
        (
            "POST",
            "/admin/users/{user_id}",
            web::post().to(console::admin::users::act),
        ),
        (
            "GET",
            "/admin/clients",
            web::get().to(console::admin::clients::list),
        ),
        (
            "POST",
            "/admin/clients",
            web::post().to(console::admin::clients::act_on_list),
        ),
        (
            "GET",
            "/admin/clients/{client_id}",
            web::get().to(console::admin::clients::show),
        ),
        (
            "POST",
            "/admin/clients/{client_id}",
            web::post().to(console::admin::clients::act),
        ),
        ("GET", "/admin/roles", web::get().to(console::roles::show)),
        (
            "POST",
            "/admin/roles",
            web::post().to(console::roles::submit),
        ),
        (
            "GET",
            "/admin/reviews",
            web::get().to(console::roles::show_review),
        ),
        (
            "POST",
            "/admin/reviews",
            web::post().to(console::roles::submit_review),
        ),
        (
            "GET",
            "/account/sessions",
            web::get().to(console::sessions::show),
        ),
        (
            "POST",
            "/account/sessions",
            web::post().to(console::sessions::submit),
        ),
        (
            "GET",
            "/account/activity",
            web::get().to(console::audit::activity),
        ),
        ("GET", "/admin/audit", web::get().to(console::audit::log)),
        (
            "GET",
            "/admin/audit/export",
            web::get().to(console::audit::export),
        ),
        ("GET", "/admin/keys", web::get().to(console::keys::show)),
        ("POST", "/admin/keys", web::post().to(console::keys::submit)),
        // Last: actix tries resources in order, and a pattern with a parameter costs a regex
        // match on every request that reaches it (about 2 % of a discovery request in a profile).
        ("GET", "/static/{file}", web::get().to(assets::serve)),
    ]
}

/// Every (method, path) served: [`table`] and the admin API's routes together.
pub fn all_routes() -> Vec<(&'static str, &'static str)> {
    table()
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .chain(admin::ROUTES.iter().map(|r| (r.verb.as_str(), r.path)))
        .chain(std::iter::once(("GET", admin::OPENAPI_PATH)))
        .collect()
}

/// The routes of one path: the methods it serves, in table order, and their handlers.
pub(crate) struct PathRoutes<R> {
    pub path: &'static str,
    pub methods: Vec<&'static str>,
    pub routes: Vec<R>,
}

/// Routes grouped by path, in order of first appearance. Each path becomes one resource, so a
/// method it does not serve reaches that resource's 405 (with the methods it does serve as
/// `Allow`) instead of falling through to the 404 of unknown paths.
pub(crate) fn by_path<R>(
    routes: impl IntoIterator<Item = (&'static str, &'static str, R)>,
) -> Vec<PathRoutes<R>> {
    let mut grouped: Vec<PathRoutes<R>> = Vec::new();
    for (method, path, route) in routes {
        match grouped.iter_mut().find(|g| g.path == path) {
            Some(group) => {
                group.methods.push(method);
                group.routes.push(route);
            }
            None => grouped.push(PathRoutes {
                path,
                methods: vec![method],
                routes: vec![route],
            }),
        }
    }
    grouped
}

/// One resource at `relative` serving `group`'s routes, and 405 for any other method.
fn resource(relative: &str, group: PathRoutes<Route>) -> actix_web::Resource {
    let refuse = method_not_allowed::handler(&group.methods);
    group
        .routes
        .into_iter()
        .fold(web::resource(relative), |resource, route| {
            resource.route(route)
        })
        .default_service(refuse)
}

/// Registers every route. Bodies are capped at `max_form_bytes` app-wide; the JSON endpoints
/// (`/register`, the admin API) get `max_json_bytes` through their scopes.
pub fn configure(cfg: &mut web::ServiceConfig, max_json_bytes: usize) {
    let mut registration =
        web::scope("/register").app_data(web::PayloadConfig::new(max_json_bytes));
    for group in by_path(table()) {
        match group.path.strip_prefix("/register") {
            Some(relative) => registration = registration.service(resource(relative, group)),
            None => {
                cfg.service(resource(group.path, group));
            }
        }
    }
    cfg.service(registration)
        .configure(|cfg| admin::configure(cfg, max_json_bytes))
        .default_service(web::to(not_found::page));
}
