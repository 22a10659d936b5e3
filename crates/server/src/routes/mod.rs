//! The route table. Each endpoint lives in its own module.

use actix_web::{Route, web};

pub mod admin;
pub mod assets;
pub mod authorize;
pub mod consent;
pub mod discovery;
pub mod health;
pub mod home;
pub mod introspect;
pub mod jwks;
pub mod login;
pub mod logout;
pub mod metrics;
pub mod not_found;
pub mod register;
pub mod revoke;
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
        ("GET", "/metrics", web::get().to(metrics::render)),
        ("GET", "/static/{file}", web::get().to(assets::serve)),
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
        ("GET", "/consent", web::get().to(consent::show)),
        ("POST", "/consent", web::post().to(consent::submit)),
        ("POST", "/token", web::post().to(token::exchange)),
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

/// Registers every route. Bodies are capped at `max_form_bytes` app-wide; the JSON endpoints
/// (`/register`, the admin API) get `max_json_bytes` through their scopes.
pub fn configure(cfg: &mut web::ServiceConfig, max_json_bytes: usize) {
    let mut registration =
        web::scope("/register").app_data(web::PayloadConfig::new(max_json_bytes));
    for (_, path, route) in table() {
        match path.strip_prefix("/register") {
            Some(relative) => registration = registration.route(relative, route),
            None => {
                cfg.route(path, route);
            }
        }
    }
    cfg.service(registration)
        .configure(|cfg| admin::configure(cfg, max_json_bytes))
        .default_service(web::to(not_found::page));
}
