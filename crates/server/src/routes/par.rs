//! `POST /par`: RFC 9126 §2. Form-encoded only; the client authenticates as at `/token`; the
//! answer is 201 with `request_uri` and `expires_in`, errors are JSON (400, 401 for client
//! authentication), all with `no-store`. The engine validates and keeps the request
//! ([`palisade_flow::par`]). A `DPoP` header binds the code to its key (RFC 9449 §10.1); when
//! server nonces are required, `use_dpop_nonce` and a successful push with a proof carry
//! `DPoP-Nonce` (§8), as at `/token` (the edge both share: [`super::token::answer_client_form`]).

use crate::app::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

pub async fn push(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    super::token::answer_client_form(
        &req,
        &body,
        &state,
        "the pushed authorization request",
        StatusCode::CREATED,
        async |input| {
            state
                .engine
                .push_authorization_request(
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
