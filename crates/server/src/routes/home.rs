//! `GET /`: a landing page pointing at the discovery document.

use crate::app::AppState;
use crate::config::issuer_base;
use actix_web::{HttpResponse, web};
use askama::Template;
use palisade_pages::HomePage;

pub async fn show(state: web::Data<AppState>) -> HttpResponse {
    let discovery_url = format!(
        "{}/.well-known/openid-configuration",
        issuer_base(&state.settings.issuer)
    );
    super::html(
        HomePage {
            discovery_url: &discovery_url,
        }
        .render(),
    )
}
