//! `POST /token`: RFC 6749 §3.2, §5. Form-encoded only; JSON answers with `no-store`.
//! A `DPoP` header binds the tokens to its key (RFC 9449 §5); when server nonces are required,
//! `use_dpop_nonce` and successful DPoP answers carry `DPoP-Nonce` (§8).

use crate::app::AppState;
use crate::forms;
use crate::respond::{add_dpop_nonce, client_auth_error, json_error, no_store};
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_core::{ErrorCode, OAuthError};

pub async fn exchange(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if !forms::is_form(&req) {
        return json_error(&OAuthError::invalid_request(
            "the token request must be application/x-www-form-urlencoded",
        ));
    }
    let authorization = forms::authorization_header(&req);
    let form = match forms::pairs(&body) {
        Ok(form) => form,
        Err(error) => return json_error(&error),
    };
    let dpop_proofs = forms::dpop_proofs(&req);
    let outcome = state
        .engine
        .token_with_dpop(
            authorization,
            &form,
            crate::client_ip::client_ip(&req, &state.settings.trusted_proxies),
            &dpop_proofs,
        )
        .await;
    let (mut res, sends_nonce) = match outcome {
        Ok(tokens) => {
            let mut res = HttpResponse::Ok();
            no_store(&mut res);
            (res.json(tokens), !dpop_proofs.is_empty())
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
