//! `POST /token`: RFC 6749 §3.2, §5. Form-encoded only; JSON answers with `no-store`.
//! A `DPoP` header binds the tokens to its key (RFC 9449 §5); when server nonces are required,
//! `use_dpop_nonce` and successful DPoP answers carry `DPoP-Nonce` (§8).

use crate::app::AppState;
use crate::forms;
use crate::respond::{add_dpop_nonce, client_auth_error, json_error, no_store};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_core::{ErrorCode, OAuthError};
use palisade_flow::token::TokenError;
use std::net::IpAddr;

pub async fn exchange(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    answer_client_form(
        &req,
        &body,
        &state,
        "the token request",
        StatusCode::OK,
        async |input| {
            state
                .engine
                .token(
                    input.authorization,
                    input.form,
                    input.client_ip,
                    input.dpop_proofs,
                )
                .await
        },
    )
    .await
}

/// What a client-authenticated form endpoint that takes DPoP proofs received.
pub(crate) struct ClientForm<'a> {
    pub authorization: Option<&'a str>,
    pub form: &'a [(String, String)],
    pub client_ip: Option<IpAddr>,
    pub dpop_proofs: &'a [String],
}

/// The edge `/token` and `/par` share: a form body only, the client's credentials and DPoP
/// proofs handed to the engine, the answer as JSON with `no-store` (errors in the client
/// authentication dialect, RFC 6749 §5.2), and `DPoP-Nonce` when the engine asked for a nonce
/// or a proof was accepted (the nonce is sent only when nonces are required).
pub(crate) async fn answer_client_form<T: serde::Serialize>(
    req: &HttpRequest,
    body: &web::Bytes,
    state: &AppState,
    what: &str,
    success: StatusCode,
    call: impl AsyncFnOnce(ClientForm<'_>) -> Result<T, TokenError>,
) -> HttpResponse {
    if !forms::is_form(req) {
        return json_error(&OAuthError::invalid_request(format!(
            "{what} must be application/x-www-form-urlencoded"
        )));
    }
    let form = match forms::pairs(body) {
        Ok(form) => form,
        Err(error) => return json_error(&error),
    };
    let dpop_proofs = forms::dpop_proofs(req);
    let outcome = call(ClientForm {
        authorization: forms::authorization_header(req),
        form: &form,
        client_ip: crate::client_ip::client_ip(req, &state.settings.trusted_proxies),
        dpop_proofs: &dpop_proofs,
    })
    .await;
    let (mut res, sends_nonce) = match outcome {
        Ok(answer) => {
            let mut res = HttpResponse::build(success);
            no_store(&mut res);
            (res.json(answer), !dpop_proofs.is_empty())
        }
        Err(failure) => {
            let asks_nonce = failure.error.code == ErrorCode::UseDpopNonce;
            (client_auth_error(&failure), asks_nonce)
        }
    };
    if sends_nonce {
        match state.engine.dpop_nonce().await {
            Ok(nonce) => add_dpop_nonce(&mut res, nonce.as_deref()),
            Err(error) => return json_error(&error),
        }
    }
    res
}
