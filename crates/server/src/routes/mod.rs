//! The route table. Each endpoint lives in its own module.

use actix_web::web;

pub mod assets;
pub mod authorize;
pub mod consent;
pub mod discovery;
pub mod health;
pub mod home;
pub mod jwks;
pub mod login;
pub mod logout;
pub mod metrics;
pub mod not_found;
pub mod token;
pub mod userinfo;

pub(crate) use crate::respond::html;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home::show))
        .route("/healthz", web::get().to(health::live))
        .route("/readyz", web::get().to(health::ready))
        .route("/metrics", web::get().to(metrics::render))
        .route("/static/{file}", web::get().to(assets::serve))
        .route("/.well-known/openid-configuration", web::get().to(discovery::document))
        .route("/.well-known/oauth-authorization-server", web::get().to(discovery::document))
        .route("/jwks", web::get().to(jwks::document))
        .route("/authorize", web::get().to(authorize::get))
        .route("/authorize", web::post().to(authorize::post))
        .route("/login", web::get().to(login::show))
        .route("/login", web::post().to(login::submit))
        .route("/consent", web::get().to(consent::show))
        .route("/consent", web::post().to(consent::submit))
        .route("/token", web::post().to(token::exchange))
        .route("/userinfo", web::get().to(userinfo::claims))
        .route("/userinfo", web::post().to(userinfo::claims))
        .route("/logout", web::get().to(logout::get))
        .route("/logout", web::post().to(logout::post))
        .route("/logout/confirm", web::post().to(logout::confirm))
        .default_service(web::to(not_found::page));
}
