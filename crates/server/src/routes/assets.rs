//! `GET /static/{file}`: assets compiled into the binary, cached for a year under
//! content-hashed names.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse};

pub async fn serve(req: HttpRequest) -> HttpResponse {
    let path = req.path();
    match palisade_pages::assets::all()
        .into_iter()
        .find(|a| a.path() == path)
    {
        Some(asset) => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, asset.content_type))
            .insert_header((CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .body(asset.bytes),
        None => super::not_found::response(),
    }
}

/// Browsers ask for `/favicon.ico` on every page; answer "nothing here" without an error page,
/// a log line or a 404 in the metrics, and let them cache that for a day.
pub async fn no_favicon() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((CACHE_CONTROL, "public, max-age=86400"))
        .finish()
}
