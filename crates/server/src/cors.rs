//! CORS (the Fetch standard, §3.2) on exactly the endpoints a browser-based client calls: a
//! single-page application (public client, PKCE) reads discovery and the JWKS, redeems its code
//! and refreshes at `/token`, pushes its authorization request to `/par` (RFC 9126, which a
//! public client may use with its `client_id` alone), calls `/userinfo` and `/revoke`. Nothing else answers CORS: the
//! login, consent and logout pages, `/authorize`, registration, introspection (a resource
//! server's call, never a browser's) and the admin API carry no CORS header at all, and a
//! preflight to them is not approved (it reaches the route table like any `OPTIONS`).
//!
//! Which origins may call is `palisade_flow::web_origin`'s rule (the origin of a registered
//! redirect URI), read from [`crate::cors_origins::CorsOrigins`]. This middleware wraps the app
//! outside the route table, so it answers a preflight itself before any route or 405 logic.
//!
//! - A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from an allowed
//!   origin, for a method the path serves and only [`ALLOWED_REQUEST_HEADERS`], is `204` with
//!   `Access-Control-Allow-Origin` echoing the origin, the path's methods, the headers and
//!   `Access-Control-Max-Age` ([`MAX_AGE_SECS`]). Anything else is `403` with no CORS header:
//!   the browser refuses either way, and a 403 says in the logs, the metrics and the
//!   developer's network panel that a policy refused it, where a 200 without headers would
//!   look like success.
//! - Any other request to these paths gets `Vary: Origin` (caches of the public discovery and
//!   JWKS documents must keep answers for different origins apart) and, from an allowed origin,
//!   the echoed `Access-Control-Allow-Origin` and `Access-Control-Expose-Headers` (the
//!   `WWW-Authenticate` challenge of `/userinfo` and of a failed client authentication,
//!   `Retry-After` of a 429 or 503, `DPoP-Nonce` of RFC 9449 §8-9), error answers included, so
//!   the client can read the error.
//! - Never `*`, and never `Access-Control-Allow-Credentials`: these endpoints take bearer
//!   tokens and client credentials in the request, never cookies, so a cross-origin call with
//!   `credentials: "include"` is refused by the browser, and the browser session cookie can
//!   never ride along a cross-origin call whose answer the page could read.
//! - The request itself is not refused here: CORS decides what a page may read, and a request
//!   a browser sends without preflight (a form-encoded `POST /token`) is processed as the same
//!   request from a server would be (docs/threat-model.md CO-01).

use crate::app::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

/// The CORS endpoints and the methods each serves.
pub const ENDPOINTS: [(&str, &str); 7] = [
    ("/token", "POST"),
    ("/par", "POST"),
    ("/userinfo", "GET, POST"),
    ("/revoke", "POST"),
    ("/.well-known/openid-configuration", "GET"),
    ("/.well-known/oauth-authorization-server", "GET"),
    ("/jwks", "GET"),
];

/// The request headers a preflight may ask for (lower case, as browsers send them); `dpop`
/// carries a browser client's DPoP proof (RFC 9449 §4.1) to `/token` and `/userinfo`.
pub const ALLOWED_REQUEST_HEADERS: [&str; 3] = ["authorization", "content-type", "dpop"];

/// How long a browser may reuse an approved preflight (Chromium caps it at 2 h).
pub const MAX_AGE_SECS: u32 = 600;

/// The status of a refused preflight.
pub const REFUSED_PREFLIGHT: StatusCode = StatusCode::FORBIDDEN;

/// Response headers a page may read beyond the CORS-safelisted ones.
pub const EXPOSED_HEADERS: &str = "WWW-Authenticate, Retry-After, DPoP-Nonce";

/// The methods of a CORS endpoint, `None` for every other path.
pub fn methods_of(path: &str) -> Option<&'static str> {
    ENDPOINTS
        .iter()
        .find(|(endpoint, _)| *endpoint == path)
        .map(|(_, methods)| *methods)
}

/// A preflight's questions: the method and the header names it wants to send.
pub struct Preflight<'a> {
    pub method: &'a str,
    pub headers: Vec<String>,
}

impl<'a> Preflight<'a> {
    /// The preflight of an `OPTIONS` request, if it is one (`Origin` is checked by the caller).
    pub fn of(method: &Method, headers: &'a HeaderMap) -> Option<Self> {
        if method != Method::OPTIONS {
            return None;
        }
        let requested = headers
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)?
            .to_str()
            .ok()?;
        let names = headers
            .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .filter_map(|value| value.to_str().ok())
            .flat_map(|list| list.split(','))
            .map(|name| name.trim().to_ascii_lowercase())
            .filter(|name| !name.is_empty())
            .collect();
        Some(Self {
            method: requested,
            headers: names,
        })
    }

    /// Whether the path's `methods` serve the method and every header asked for is allowed.
    pub fn is_allowed(&self, methods: &str) -> bool {
        methods.split(", ").any(|m| m == self.method)
            && self
                .headers
                .iter()
                .all(|name| ALLOWED_REQUEST_HEADERS.contains(&name.as_str()))
    }
}

/// The middleware (see the module documentation).
pub async fn handle<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let Some(methods) = methods_of(req.path()) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let origin = req.headers().get(header::ORIGIN).cloned();
    let allowed_origin = match &origin {
        Some(origin) => is_allowed_origin(&req, origin)
            .await
            .then(|| origin.clone()),
        None => None,
    };
    if origin.is_some()
        && let Some(preflight) = Preflight::of(req.method(), req.headers())
    {
        let approved = allowed_origin
            .clone()
            .filter(|_| preflight.is_allowed(methods));
        let res = preflight_answer(approved, methods);
        return Ok(req.into_response(res).map_into_right_body());
    }
    // Routes answer their errors as responses, so an `Err` here comes from no route (and the
    // request cannot be kept to answer it: routing needs it unshared).
    let mut res = next.call(req).await?.map_into_left_body();
    let headers = res.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = allowed_origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
    Ok(res)
}

/// Whether the request's `Origin` may call; without the application state, nothing may.
async fn is_allowed_origin(req: &ServiceRequest, origin: &HeaderValue) -> bool {
    let (Some(state), Ok(origin)) = (req.app_data::<web::Data<AppState>>(), origin.to_str()) else {
        return false;
    };
    state.cors_origins.allows(origin).await
}

/// `204` approving the preflight for `approved` (the origin), or `403` with no CORS header.
fn preflight_answer(approved: Option<HeaderValue>, methods: &'static str) -> HttpResponse {
    let Some(origin) = approved else {
        return HttpResponse::build(REFUSED_PREFLIGHT)
            .insert_header((header::VARY, "Origin"))
            .finish();
    };
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, methods))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Authorization, Content-Type",
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, MAX_AGE_SECS))
        .insert_header((header::VARY, "Origin"))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preflight_headers(method: &str, headers: Option<&str>) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_str(method).unwrap(),
        );
        if let Some(headers) = headers {
            map.insert(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                HeaderValue::from_str(headers).unwrap(),
            );
        }
        map
    }

    #[test]
    fn every_cors_endpoint_is_served_with_the_methods_it_names() {
        let served = crate::routes::all_routes();
        for (path, methods) in ENDPOINTS {
            for method in methods.split(", ") {
                assert!(
                    served.contains(&(method, path)),
                    "{method} {path} is not in the route table"
                );
            }
            let all: Vec<_> = served
                .iter()
                .filter(|(_, p)| *p == path)
                .map(|(m, _)| *m)
                .collect();
            assert_eq!(all.join(", "), methods, "{path}");
        }
    }

    #[test]
    fn the_browser_interaction_registration_introspection_and_admin_are_not_cors_endpoints() {
        for path in [
            "/authorize",
            "/login",
            "/consent",
            "/logout",
            "/logout/confirm",
            "/register",
            "/register/x",
            "/introspect",
            "/admin/v1/users",
            "/",
            "/metrics",
            "/token/",
            "/TOKEN",
        ] {
            assert_eq!(methods_of(path), None, "{path}");
        }
    }

    #[test]
    fn a_preflight_is_an_options_request_asking_for_a_method() {
        let headers = preflight_headers("POST", Some("Content-Type , authorization"));
        let preflight = Preflight::of(&Method::OPTIONS, &headers).unwrap();
        assert_eq!(preflight.method, "POST");
        assert_eq!(preflight.headers, ["content-type", "authorization"]);
        assert!(Preflight::of(&Method::POST, &headers).is_none());
        assert!(Preflight::of(&Method::OPTIONS, &HeaderMap::new()).is_none());
    }

    #[test]
    fn a_preflight_is_allowed_only_for_the_paths_methods_and_the_allowed_headers() {
        let allowed = |method: &str, headers: Option<&str>, methods: &str| {
            let map = preflight_headers(method, headers);
            Preflight::of(&Method::OPTIONS, &map)
                .unwrap()
                .is_allowed(methods)
        };
        assert!(allowed("GET", Some("authorization"), "GET, POST"));
        assert!(allowed(
            "POST",
            Some("authorization,content-type"),
            "GET, POST"
        ));
        assert!(allowed("POST", None, "POST"));
        assert!(!allowed("GET", None, "POST"));
        assert!(!allowed("DELETE", None, "GET, POST"));
        assert!(!allowed("post", None, "POST"), "methods are case-sensitive");
        assert!(!allowed("POST", Some("authorization, x-custom"), "POST"));
        assert!(!allowed("POST", Some("cookie"), "POST"));
        assert!(allowed("POST", Some("dpop, content-type"), "POST"));
    }

    #[test]
    fn a_refused_preflight_carries_no_cors_header_and_an_approved_one_never_a_wildcard() {
        let refused = preflight_answer(None, "POST");
        assert_eq!(refused.status(), REFUSED_PREFLIGHT);
        assert!(
            refused
                .headers()
                .keys()
                .all(|name| !name.as_str().starts_with("access-control-"))
        );
        let origin = HeaderValue::from_static("https://spa.example");
        let approved = preflight_answer(Some(origin), "GET, POST");
        assert_eq!(approved.status(), StatusCode::NO_CONTENT);
        let h = approved.headers();
        assert_eq!(
            h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).unwrap(),
            "https://spa.example"
        );
        assert_eq!(
            h.get(header::ACCESS_CONTROL_ALLOW_METHODS).unwrap(),
            "GET, POST"
        );
        assert_eq!(h.get(header::ACCESS_CONTROL_MAX_AGE).unwrap(), "600");
        assert_eq!(h.get(header::VARY).unwrap(), "Origin");
        assert!(h.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
    }
}
