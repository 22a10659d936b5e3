//! `GET`/`POST /consent`: the user allows or denies the client's request (OIDC Core §3.1.2.4).
//! An allowed request is remembered; the page comes back only for new scopes or
//! `prompt=consent`.

use crate::app::AppState;
use crate::forms;
use crate::respond::{error_page, html, see_other};
use crate::routes::login::{continue_interaction, current_session, forbidden, interaction_of};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use palisade_core::OAuthError;
use palisade_core::model::UserId;
use palisade_flow::scope;
use palisade_pages::{ConsentPage, ScopeLine};

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = forms::pairs(req.query_string().as_bytes());
    let interaction = match interaction_of(&req, &state, forms::get(&query, "interaction")).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    let session = match current_session(&req, &state).await {
        Ok(Some((_, s))) => s,
        Ok(None) => {
            return see_other(&state.endpoint(&format!("/login?interaction={}", interaction.id)));
        }
        Err(e) => return error_page(&e),
    };
    let user = match state
        .engine
        .users
        .find_user_by_id(&UserId(session.user_id.clone()))
        .await
    {
        Ok(Some(u)) => u,
        Ok(None) => {
            return see_other(&state.endpoint(&format!("/login?interaction={}", interaction.id)));
        }
        Err(e) => return error_page(&e.into()),
    };
    let scopes = interaction
        .request
        .scope
        .iter()
        .map(|name| ScopeLine {
            name,
            description: scope::describe(name),
        })
        .collect();
    // A client that registered itself (RFC 7591) has not been vetted by an operator: the page
    // says so (THREATS RG-07). Operator-made clients carry no registration access token.
    let is_client_verified = match state
        .engine
        .clients
        .find_client(&palisade_core::model::ClientId(
            interaction.request.client_id.clone(),
        ))
        .await
    {
        Ok(Some(client)) => client.registration_access_token_hash.is_none(),
        Ok(None) => false,
        Err(e) => return error_page(&e.into()),
    };
    let action = state.endpoint("/consent");
    let user_display = user
        .display_name
        .clone()
        .unwrap_or_else(|| user.username.to_string());
    html(
        ConsentPage {
            client_name: &interaction.request.client_name,
            scopes,
            is_client_verified,
            csrf_token: &interaction.csrf_token,
            form_action: &action,
            interaction_id: &interaction.id,
            user_display: &user_display,
        }
        .render(),
    )
}

pub async fn submit(
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
    let mut interaction =
        match interaction_of(&req, &state, forms::get(&form, "interaction_id")).await {
            Ok(i) => i,
            Err(page) => return page,
        };
    if !forms::csrf_matches(&interaction.csrf_token, forms::get(&form, "csrf_token")) {
        return forbidden(&OAuthError::access_denied(
            "the form has expired; reload the page",
        ));
    }
    let session = match current_session(&req, &state).await {
        Ok(Some((_, s))) => s,
        Ok(None) => {
            return see_other(&state.endpoint(&format!("/login?interaction={}", interaction.id)));
        }
        Err(e) => return error_page(&e),
    };
    let engine = &state.engine;
    match forms::get(&form, "decision") {
        Some("allow") => {
            if let Err(e) = engine
                .record_consent(&UserId(session.user_id.clone()), &interaction.request)
                .await
            {
                return error_page(&e.into());
            }
            interaction.consented_during = true;
            continue_interaction(&state, &interaction, &session).await
        }
        Some("deny") => {
            let _ = engine.finish_interaction(&interaction.id).await;
            see_other(&engine.denied_redirect(&interaction.request))
        }
        _ => error_page(&OAuthError::invalid_request("choose Allow or Deny")),
    }
}
