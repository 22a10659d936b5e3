//! The answer for a method a route does not serve: `405 Method Not Allowed` with `Allow`
//! (RFC 9110 §15.5.6), never the 404 of an unknown path. The methods come from the route
//! table ([`super::by_path`]), so the header cannot disagree with what is served.
//!
//! OPTIONS is one of those methods: a route answers it only where the table (or the CORS
//! layer in front of the routes, for a preflight) serves it; elsewhere it is a 405 with the
//! same `Allow`, which tells a client everything an OPTIONS answer would.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, Route, web};
use askama::Template;
use palisade_pages::ErrorPage;

/// The `Allow` value for the methods a path serves, in table order.
pub fn allow_value(methods: &[&str]) -> String {
    methods.join(", ")
}

/// A default service for a path serving `methods`: the HTML 405 page.
pub fn handler(methods: &[&str]) -> Route {
    let allow = allow_value(methods);
    web::to(move || {
        let allow = allow.clone();
        async move { page(&allow) }
    })
}

pub fn page(allow: &str) -> HttpResponse {
    let mut res = super::html(
        ErrorPage {
            heading: "Method not allowed",
            message: "This address does not answer that kind of request.",
            error_code: None,
        }
        .render(),
    );
    *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    with_allow(res, allow)
}

/// Adds `Allow` to a 405 answer (the admin API's JSON one too).
pub fn with_allow(mut res: HttpResponse, allow: &str) -> HttpResponse {
    if let Ok(value) = HeaderValue::from_str(allow) {
        res.headers_mut().insert(header::ALLOW, value);
    }
    res
}
