//! The answer for every path no route claims.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;
use palisade_pages::ErrorPage;

pub async fn page() -> HttpResponse {
    response()
}

pub fn response() -> HttpResponse {
    let mut res = super::html(
        ErrorPage {
            heading: "Page not found",
            message: "There is nothing at this address.",
            error_code: None,
        }
        .render(),
    );
    *res.status_mut() = StatusCode::NOT_FOUND;
    res
}
