//! `GET`/`POST /logout` (the `end_session_endpoint`) and `POST /logout/confirm`:
//! OpenID Connect RP-Initiated Logout 1.0.

use crate::app::AppState;
use crate::forms;
use crate::respond::{error_page, html, see_other};
use crate::routes::login::{current_session, forbidden};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use palisade_core::OAuthError;
use palisade_flow::logout::LogoutRequest;
use palisade_pages::{LoggedOutPage, LogoutConfirmPage};

pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    start(&req, &state, forms::pairs(req.query_string().as_bytes())).await
}

pub async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    start(&req, &state, forms::pairs(&body)).await
}

async fn start(req: &HttpRequest, state: &AppState, pairs: Vec<(String, String)>) -> HttpResponse {
    let request = match state.engine.validate_logout(&pairs).await {
        Ok(r) => r,
        Err(e) => return error_page(&e),
    };
    let session = match current_session(req, state).await {
        Ok(s) => s,
        Err(e) => return error_page(&e),
    };
    match session {
        Some((_, s)) if request.needs_confirmation(Some(&s)) => {
            let mut hidden = Vec::new();
            if let Some(id) = &request.client_id {
                hidden.push(("client_id", id.as_str()));
            }
            if let Some(uri) = &request.post_logout_redirect_uri {
                hidden.push(("post_logout_redirect_uri", uri.as_str()));
            }
            if let Some(st) = &request.state {
                hidden.push(("state", st.as_str()));
            }
            let action = state.endpoint("/logout/confirm");
            html(
                LogoutConfirmPage {
                    csrf_token: &s.csrf_token,
                    form_action: &action,
                    client_name: request.client_name.as_deref(),
                    hidden_fields: hidden,
                }
                .render(),
            )
        }
        session => finish(req, state, &request, session.map(|(raw, _)| raw)).await,
    }
}

pub async fn confirm(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Err(e) = forms::check_same_origin(&req, &state.settings.issuer) {
        return forbidden(&e);
    }
    if !forms::is_form(&req) {
        return error_page(&OAuthError::invalid_request(
            "the form must be form-encoded",
        ));
    }
    let form = forms::pairs(&body);
    let session = match current_session(&req, &state).await {
        Ok(s) => s,
        Err(e) => return error_page(&e),
    };
    if let Some((_, s)) = &session
        && !forms::csrf_matches(&s.csrf_token, forms::get(&form, "csrf_token"))
    {
        return forbidden(&OAuthError::access_denied(
            "the form has expired; reload the page",
        ));
    }
    let request = match state.engine.validate_logout(&form).await {
        Ok(r) => r,
        Err(e) => return error_page(&e),
    };
    finish(&req, &state, &request, session.map(|(raw, _)| raw)).await
}

async fn finish(
    _req: &HttpRequest,
    state: &AppState,
    request: &LogoutRequest,
    raw_session: Option<String>,
) -> HttpResponse {
    if let Some(raw) = raw_session {
        if let Err(e) = state.engine.end_session(&raw).await {
            return error_page(&e.into());
        }
        tracing::info!(target: "audit", action = "logout", outcome = "success");
    }
    let mut res = match request.redirect_after() {
        Some(location) => see_other(&location),
        None => html(LoggedOutPage {}.render()),
    };
    let _ = res.add_cookie(&state.cookies.clear_session());
    res
}
