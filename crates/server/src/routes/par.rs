//! `POST /par`: RFC 9126 §2. Form-encoded only; the client authenticates as at `/token`; the
//! answer is 201 with `request_uri` and `expires_in`, errors are JSON (400, 401 for client
//! authentication), all with `no-store`. The engine validates and keeps the request
//! ([`palisade_flow::par`]). A `DPoP` header binds the code to its key (RFC 9449 §10.1); when
//! server nonces are required, `use_dpop_nonce` and a successful push with a proof carry
//! `DPoP-Nonce` (§8), as at `/token`.

use crate::app::AppState;
use crate::forms;
use crate::respond::{add_dpop_nonce, client_auth_error, json_error, no_store};
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_core::{ErrorCode, OAuthError};

pub async fn push(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    if !forms::is_form(&req) {
        return json_error(&OAuthError::invalid_request(
            "the pushed authorization request must be application/x-www-form-urlencoded",
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
        .push_authorization_request_with_dpop(
            authorization,
            &form,
            crate::client_ip::client_ip(&req, &state.settings.trusted_proxies),
            &dpop_proofs,
        )
        .await;
    let (mut res, sends_nonce) = match outcome {
        Ok(pushed) => {
            let mut res = HttpResponse::Created();
            no_store(&mut res);
            (res.json(pushed), !dpop_proofs.is_empty())
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
