//! `POST /token`: RFC 6749 §3.2, §5. Form-encoded only; JSON answers with `no-store`.

use crate::app::AppState;
use crate::forms;
use crate::respond::{json_error, no_store};
use actix_web::http::header;
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
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let form = forms::pairs(&body);
    match state
        .engine
        .token(
            authorization,
            &form,
            crate::client_ip::client_ip(&req, &state.settings.trusted_proxies),
        )
        .await
    {
        Ok(tokens) => {
            let mut res = HttpResponse::Ok();
            no_store(&mut res);
            res.json(tokens)
        }
        Err(failure) => {
            let mut res = json_error(&failure.error);
            if failure.error.code == ErrorCode::InvalidClient && failure.basic_attempted {
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static(r#"Basic realm="palisade""#),
                );
            }
            res
        }
    }
}
