//! `GET`/`POST /userinfo`: OIDC Core §5.3, bearer token per RFC 6750 §2.1 (header) or §2.2
//! (form body), never the query string (§2.3 is refused: URLs end up in logs).

use crate::app::AppState;
use crate::forms;
use crate::respond::{bearer_error, no_store};
use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_core::OAuthError;

pub async fn claims(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let token = match bearer_token(&req, &body) {
        Ok(Some(token)) => token,
        Ok(None) => {
            // RFC 6750 §3.1: no credentials at all gets a bare challenge without an error code.
            let mut res = HttpResponse::Unauthorized();
            no_store(&mut res);
            return res
                .insert_header((header::WWW_AUTHENTICATE, r#"Bearer realm="palisade""#))
                .finish();
        }
        Err(error) => return bearer_error(&error),
    };
    match state.engine.userinfo(&token).await {
        Ok(claims) => {
            let mut res = HttpResponse::Ok();
            no_store(&mut res);
            res.json(claims)
        }
        Err(error) => bearer_error(&error),
    }
}

/// The one bearer token of the request; more than one method is `invalid_request`.
pub fn bearer_token(req: &HttpRequest, body: &[u8]) -> Result<Option<String>, OAuthError> {
    if forms::get(
        &forms::pairs(req.query_string().as_bytes())?,
        "access_token",
    )
    .is_some()
    {
        return Err(OAuthError::invalid_request(
            "access tokens are not accepted in the query string",
        ));
    }
    let from_header = forms::bearer_from_header(req)?;
    let from_body = if req.method() == Method::POST && forms::is_form(req) {
        forms::get(&forms::pairs(body)?, "access_token").map(str::to_owned)
    } else {
        None
    };
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request(
            "send the access token in one place only",
        )),
        (token, None) | (None, token) => Ok(token),
    }
}
