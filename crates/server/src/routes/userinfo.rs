//! `GET`/`POST /userinfo`: OIDC Core §5.3, bearer token per RFC 6750 §2.1 (header) or §2.2
//! (form body), never the query string (§2.3 is refused: URLs end up in logs); or a
//! DPoP-bound token as `Authorization: DPoP` with a `DPoP` proof (RFC 9449 §7.1), whose errors
//! are `WWW-Authenticate: DPoP` challenges. Bearer answers name the DPoP scheme too (§7.2).

use crate::app::AppState;
use crate::forms;
use crate::respond::{add_dpop_challenge, add_dpop_nonce, bearer_error, dpop_error, no_store};
use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_core::{ErrorCode, OAuthError};
use palisade_flow::userinfo::TokenScheme;

pub async fn claims(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (token, scheme) = match presented_token(&req, &body) {
        Ok(Some(presented)) => presented,
        Ok(None) => {
            // RFC 6750 §3.1: no credentials at all gets a bare challenge without an error code.
            let mut res = HttpResponse::Unauthorized();
            no_store(&mut res);
            let mut res = res
                .insert_header((header::WWW_AUTHENTICATE, r#"Bearer realm="palisade""#))
                .finish();
            add_dpop_challenge(&mut res);
            return res;
        }
        Err((error, TokenScheme::Dpop)) => return dpop_error(&error, None),
        Err((error, TokenScheme::Bearer)) => return bearer_error_naming_dpop(&error),
    };
    let dpop_proofs = forms::dpop_proofs(&req);
    let outcome = state
        .engine
        .userinfo_with_dpop(&token, scheme, &dpop_proofs, req.method().as_str())
        .await;
    let nonce = match (scheme, &outcome) {
        (TokenScheme::Dpop, Ok(_)) => state.engine.dpop_nonce().await,
        (TokenScheme::Dpop, Err(e)) if e.code == ErrorCode::UseDpopNonce => {
            state.engine.dpop_nonce().await
        }
        _ => Ok(None),
    };
    let nonce = match nonce {
        Ok(nonce) => nonce,
        Err(error) => return dpop_error(&error, None),
    };
    match (outcome, scheme) {
        (Ok(claims), _) => {
            let mut res = HttpResponse::Ok();
            no_store(&mut res);
            let mut res = res.json(claims);
            add_dpop_nonce(&mut res, nonce.as_deref());
            res
        }
        (Err(error), TokenScheme::Dpop) => dpop_error(&error, nonce.as_deref()),
        (Err(error), TokenScheme::Bearer) => bearer_error_naming_dpop(&error),
    }
}

fn bearer_error_naming_dpop(error: &OAuthError) -> HttpResponse {
    let mut res = bearer_error(error);
    if res.status() == actix_web::http::StatusCode::UNAUTHORIZED {
        add_dpop_challenge(&mut res);
    }
    res
}

/// The one access token of the request and how it was presented: `Authorization: DPoP` (RFC
/// 9449 §7.1, header only), else as a bearer token ([`bearer_token`]).
fn presented_token(
    req: &HttpRequest,
    body: &[u8],
) -> Result<Option<(String, TokenScheme)>, (OAuthError, TokenScheme)> {
    let Some(token) = dpop_scheme_token(req) else {
        return bearer_token(req, body)
            .map(|token| token.map(|t| (t, TokenScheme::Bearer)))
            .map_err(|e| (e, TokenScheme::Bearer));
    };
    let dpop = |e| (e, TokenScheme::Dpop);
    let in_query = forms::get(
        &forms::pairs(req.query_string().as_bytes()).map_err(dpop)?,
        "access_token",
    )
    .is_some();
    let in_body = req.method() == Method::POST
        && forms::is_form(req)
        && forms::get(&forms::pairs(body).map_err(dpop)?, "access_token").is_some();
    if in_query || in_body {
        return Err(dpop(OAuthError::invalid_request(
            "send the access token in one place only",
        )));
    }
    match token {
        Some(token) => Ok(Some((token, TokenScheme::Dpop))),
        None => Err(dpop(OAuthError::invalid_token(
            "malformed DPoP Authorization header",
        ))),
    }
}

/// `Some(token)` for `Authorization: DPoP <token>`, `Some(None)` for the DPoP scheme without a
/// usable token; `None` for any other scheme.
fn dpop_scheme_token(req: &HttpRequest) -> Option<Option<String>> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if !scheme.eq_ignore_ascii_case("dpop") {
        return None;
    }
    let token = token.trim();
    Some((!token.is_empty()).then(|| token.to_owned()))
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
