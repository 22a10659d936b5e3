//! Response headers every page and API answer carries: OWASP Secure Headers, RFC 9700 §4.16
//! (clickjacking), RFC 6797 (HSTS), RFC 6749 §5.1 / OIDC Core §3.1.3.3 (`no-store`).
//!
//! One middleware wraps the whole app, so a route added tomorrow gets the same headers without
//! doing anything; `tests/api/transport_and_headers.rs` walks the route table to prove it. The
//! headers are added only where the route did not set its own, so discovery, JWKS and the static
//! assets keep their public cache lifetimes while every other answer is `no-store` by default.
//!
//! - `Content-Security-Policy`: `default-src 'none'` (hence no script at all, inline or not),
//!   styles and images from our origin only, `frame-ancestors 'none'`, `object-src 'none'`,
//!   `base-uri 'none'`. There is deliberately no `form-action`: Chromium applies it to the 303
//!   that follows the login and consent POSTs toward the client's redirect URI, which would
//!   break every login (docs/threat-model.md HD-02). The one exception is a page that offers a
//!   passkey (login, second factor, enrolment, account security, when WebAuthn is available):
//!   its route sets [`SCRIPT_CONTENT_SECURITY_POLICY`] itself ([`allow_own_script`]), which adds
//!   only `script-src 'self'` (the content-hashed `static/webauthn.js`; still no inline script,
//!   no `eval`, and `connect-src` stays `'none'`) and `require-trusted-types-for 'script'` (the
//!   script writes no markup, so no DOM sink may take a string).
//! - `X-Frame-Options: DENY` for browsers without `frame-ancestors`.
//! - `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` (authorization URLs carry
//!   codes and state), `Cross-Origin-Opener-Policy: same-origin`.
//! - `Cache-Control: no-store` unless the route chose otherwise: tokens, credentials and personal
//!   data must never be cached, and "cache nothing unless said" cannot be forgotten.
//! - `Strict-Transport-Security` when the answer travels over HTTPS (our own TLS, or a TLS
//!   proxy in front of an https issuer).
//!
//! actix-web sends no `Server` header, so there is no version banner to remove; the route walk
//! checks that too.

use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::DefaultHeaders;

/// No script anywhere, no framing, no plugins, no base-tag tricks.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     frame-ancestors 'none'; object-src 'none'; base-uri 'none'";

/// [`CONTENT_SECURITY_POLICY`] plus our own script, for the pages that load `webauthn.js`.
pub const SCRIPT_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; frame-ancestors 'none'; object-src 'none'; \
     base-uri 'none'; require-trusted-types-for 'script'";

/// Lets a page load `webauthn.js`: the route's own policy, which the default headers then keep.
pub fn allow_own_script(res: &mut HttpResponse) {
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(SCRIPT_CONTENT_SECURITY_POLICY),
    );
}

/// Two years, subdomains included (the preload list's minimum is one year).
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=63072000; includeSubDomains";

/// The headers of every response; `hsts` when responses travel over HTTPS.
pub fn default_headers(hsts: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::CACHE_CONTROL, "no-store"))
        .add((
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ));
    if hsts {
        headers.add((header::STRICT_TRANSPORT_SECURITY, STRICT_TRANSPORT_SECURITY))
    } else {
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test as actix_test;
    use actix_web::{App, HttpResponse, web};

    #[actix_web::test]
    async fn every_header_is_added_and_a_routes_own_cache_policy_wins() {
        let app = actix_test::init_service(
            App::new()
                .wrap(default_headers(true))
                .route("/private", web::get().to(HttpResponse::Ok))
                .route(
                    "/public",
                    web::get().to(|| async {
                        HttpResponse::Ok()
                            .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
                            .finish()
                    }),
                ),
        )
        .await;
        let res = actix_test::call_service(
            &app,
            actix_test::TestRequest::get().uri("/private").to_request(),
        )
        .await;
        let h = res.headers();
        assert_eq!(
            h.get(header::CONTENT_SECURITY_POLICY).unwrap(),
            CONTENT_SECURITY_POLICY
        );
        assert_eq!(h.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
        assert_eq!(h.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
        assert_eq!(h.get(header::REFERRER_POLICY).unwrap(), "no-referrer");
        assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), "no-store");
        assert_eq!(
            h.get(header::STRICT_TRANSPORT_SECURITY).unwrap(),
            STRICT_TRANSPORT_SECURITY
        );
        assert!(h.get(header::SERVER).is_none());

        let res = actix_test::call_service(
            &app,
            actix_test::TestRequest::get().uri("/public").to_request(),
        )
        .await;
        assert_eq!(
            res.headers().get(header::CACHE_CONTROL).unwrap(),
            "public, max-age=60"
        );
    }

    #[actix_web::test]
    async fn plain_http_gets_no_hsts() {
        let app = actix_test::init_service(
            App::new()
                .wrap(default_headers(false))
                .route("/", web::get().to(HttpResponse::Ok)),
        )
        .await;
        let res =
            actix_test::call_service(&app, actix_test::TestRequest::get().uri("/").to_request())
                .await;
        assert!(
            res.headers()
                .get(header::STRICT_TRANSPORT_SECURITY)
                .is_none()
        );
    }

    #[test]
    fn the_policy_allows_no_script_and_no_form_action_restriction() {
        for directive in [
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
            "default-src 'none'",
        ] {
            assert!(CONTENT_SECURITY_POLICY.contains(directive), "{directive}");
        }
        assert!(!CONTENT_SECURITY_POLICY.contains("script-src"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
        assert!(!CONTENT_SECURITY_POLICY.contains("form-action"));
    }

    #[test]
    fn the_script_policy_is_the_default_one_plus_our_own_script_only() {
        assert_eq!(
            SCRIPT_CONTENT_SECURITY_POLICY
                .replace(" script-src 'self';", "")
                .replace("; require-trusted-types-for 'script'", ""),
            CONTENT_SECURITY_POLICY
        );
        for absent in ["unsafe", "connect-src", "form-action", "http", "*", "data:"] {
            assert!(!SCRIPT_CONTENT_SECURITY_POLICY.contains(absent), "{absent}");
        }
    }

    #[actix_web::test]
    async fn a_route_that_allows_its_script_keeps_that_policy_and_gets_every_other_header() {
        let app = actix_test::init_service(App::new().wrap(default_headers(false)).route(
            "/scripted",
            web::get().to(|| async {
                let mut res = HttpResponse::Ok().finish();
                allow_own_script(&mut res);
                res
            }),
        ))
        .await;
        let res = actix_test::call_service(
            &app,
            actix_test::TestRequest::get().uri("/scripted").to_request(),
        )
        .await;
        let h = res.headers();
        assert_eq!(
            h.get_all(header::CONTENT_SECURITY_POLICY).count(),
            1,
            "one policy, not two"
        );
        assert_eq!(
            h.get(header::CONTENT_SECURITY_POLICY).unwrap(),
            SCRIPT_CONTENT_SECURITY_POLICY
        );
        assert_eq!(h.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
        assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), "no-store");
    }
}
