//! The consoles' sign-in: `GET /account/sign-in?return=/account/...&second_factor=1` starts it
//! ([`palisade_flow::console::sign_in`]), and [`send_signed_out_to_sign_in`] sends a visitor
//! whom a console page refused for want of a (strong enough) session there, with the page they
//! asked for as `return`.
//!
//! The engine decides that a visitor must sign in; only the HTTP layer knows which page they
//! asked for, so the refusal's page carries a mark ([`SignInFirst`]) that this middleware turns
//! into the redirect. One place for every console page, whichever module renders it.

use crate::app::AppState;
use crate::browser::{browser_of, respond};
use crate::forms;
use crate::respond::{error_page, see_other};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest, HttpResponse, web};
use palisade_flow::console::sign_in::{SIGN_IN_PATH, is_console_path};

/// Marks a console page's refusal: the visitor must sign in (with a second factor when
/// `second_factor`) and come back.
#[derive(Debug, Clone, Copy)]
pub struct SignInFirst {
    pub second_factor: bool,
}

/// `GET /account/sign-in`: `return` (a console path; anything else means `/account`) and
/// `second_factor=1` for a sign-in that must end with a second factor.
pub async fn start(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = match forms::pairs(req.query_string().as_bytes()) {
        Ok(query) => query,
        Err(error) => return error_page(&error),
    };
    let browser = browser_of(&req, &state);
    let second_factor = forms::get(&query, "second_factor") == Some("1");
    let outcome = state
        .engine
        .start_console_sign_in(forms::get(&query, "return"), second_factor, &browser)
        .await;
    respond(&state, outcome)
}

/// Where a refused visitor at `path_and_query` is sent: the sign-in, with the page to come back
/// to (only a console path; the engine checks it again).
pub fn sign_in_location(state: &AppState, path_and_query: &str, second_factor: bool) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if is_console_path(path_and_query) {
        query.append_pair("return", path_and_query);
    }
    if second_factor {
        query.append_pair("second_factor", "1");
    }
    let query = query.finish();
    if query.is_empty() {
        state.endpoint(SIGN_IN_PATH)
    } else {
        state.endpoint(&format!("{SIGN_IN_PATH}?{query}"))
    }
}

/// Middleware: a response marked [`SignInFirst`] becomes a 303 to the sign-in, coming back to
/// the page that was asked for (for a form post, that page's `GET`).
pub async fn send_signed_out_to_sign_in(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let res = next.call(req).await?.map_into_boxed_body();
    let Some(mark) = res.response().extensions().get::<SignInFirst>().copied() else {
        return Ok(res);
    };
    let request = res.request();
    let Some(state) = request.app_data::<web::Data<AppState>>() else {
        return Ok(res);
    };
    let path = request.path();
    let back =
        if request.method() == actix_web::http::Method::GET && !request.query_string().is_empty() {
            format!("{path}?{}", request.query_string())
        } else {
            path.to_owned()
        };
    let location = sign_in_location(state, &back, mark.second_factor);
    let (request, _refused) = res.into_parts();
    Ok(ServiceResponse::new(request, see_other(&location)))
}
