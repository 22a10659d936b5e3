//! Reading request parameters and guarding browser form posts.

use actix_web::HttpRequest;
use actix_web::http::header;
use palisade_core::OAuthError;

pub use palisade_core::form_encoding::pairs;

pub fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The `Authorization` header, if it is readable text.
pub fn authorization_header(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// The token of an `Authorization: Bearer` header (RFC 6750 §2.1): `None` without the header,
/// `invalid_token` when it is there but is not a usable Bearer credential.
pub fn bearer_from_header(req: &HttpRequest) -> Result<Option<String>, OAuthError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| OAuthError::invalid_token("malformed Authorization header"))?;
    match value.trim().split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(OAuthError::invalid_token("expected a Bearer token")),
    }
}

/// The value of every `DPoP` header (RFC 9449 §4.1), in order; one that is not visible ASCII
/// is kept as an empty value, which no proof check accepts.
pub fn dpop_proofs(req: &HttpRequest) -> Vec<String> {
    req.headers()
        .get_all("dpop")
        .map(|v| v.to_str().map(str::to_owned).unwrap_or_default())
        .collect()
}

/// Whether the body is declared form-encoded (RFC 6749 §3.2 requires it at the token endpoint).
pub fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Refuses cross-site form posts: `Sec-Fetch-Site` must be same-origin (or absent/none for
/// non-browser clients), and `Origin`, when sent, must be the issuer's origin.
///
/// One exception: our pages are served with `Referrer-Policy: no-referrer`, under which browsers
/// send `Origin: null` on every POST, our own forms included (Fetch §3.2.5 "append a request
/// `Origin` header"). `null` is therefore accepted when the browser itself vouches for the post
/// with `Sec-Fetch-Site: same-origin`, a header no page can set.
pub fn check_same_origin(req: &HttpRequest, issuer: &url::Url) -> Result<(), OAuthError> {
    let refused = || OAuthError::access_denied("cross-site form submissions are not accepted");
    let site = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    if let Some(site) = site
        && !matches!(site, "same-origin" | "none")
    {
        return Err(refused());
    }
    if let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        && origin != issuer.origin().ascii_serialization()
        && !(origin == "null" && site == Some("same-origin"))
    {
        return Err(refused());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn parameters_decode_like_the_whatwg_parser() {
        let parsed = pairs(b"a=1&b=x+y%2B%C3%A9&&c&d=%zz%4&e=%E2%9C%93=&a=2").unwrap();
        let expected = [
            ("a", "1"),
            ("b", "x y+\u{e9}"),
            ("c", ""),
            ("d", "%zz%4"),
            ("e", "\u{2713}="),
            ("a", "2"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(parsed, expected);
        // Agrees with the lenient parser on everything that is valid UTF-8.
        let lenient: Vec<(String, String)> =
            url::form_urlencoded::parse(b"a=1&b=x+y%2B%C3%A9&&c&d=%zz%4&e=%E2%9C%93=&a=2")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        assert_eq!(parsed, lenient);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_invalid_request_not_replacement_characters() {
        for encoded in [
            &b"state=%FF"[..],
            b"client_id=%C3%28",
            b"state=ok&nonce=%ED%A0%80",
            b"%FF=x",
            b"state=\xff",
            b"state=%C3",
        ] {
            let error = pairs(encoded).expect_err(&String::from_utf8_lossy(encoded));
            assert_eq!(error.code, palisade_core::ErrorCode::InvalidRequest);
        }
        // U+FFFD itself, sent on purpose, is valid UTF-8 and kept.
        assert_eq!(
            pairs(b"state=%EF%BF%BD").unwrap(),
            [("state".to_owned(), "\u{fffd}".to_owned())]
        );
    }

    #[test]
    fn same_origin_posts_pass_and_cross_site_ones_are_refused() {
        let issuer = url::Url::parse("https://id.example").unwrap();
        type Headers = &'static [(&'static str, &'static str)];
        let cases: [(&str, Headers, bool); 9] = [
            ("no browser headers (curl, tests)", &[], true),
            (
                "own origin",
                &[
                    ("origin", "https://id.example"),
                    ("sec-fetch-site", "same-origin"),
                ],
                true,
            ),
            (
                "null origin under no-referrer, vouched same-origin",
                &[("origin", "null"), ("sec-fetch-site", "same-origin")],
                true,
            ),
            (
                "null origin without fetch metadata",
                &[("origin", "null")],
                false,
            ),
            (
                "null origin from another site",
                &[("origin", "null"), ("sec-fetch-site", "cross-site")],
                false,
            ),
            (
                "null origin from a sibling subdomain",
                &[("origin", "null"), ("sec-fetch-site", "same-site")],
                false,
            ),
            ("foreign origin", &[("origin", "https://evil.test")], false),
            (
                "foreign origin claiming same-origin",
                &[
                    ("origin", "https://evil.test"),
                    ("sec-fetch-site", "same-origin"),
                ],
                false,
            ),
            (
                "cross-site fetch metadata",
                &[("sec-fetch-site", "cross-site")],
                false,
            ),
        ];
        for (what, headers, allowed) in cases {
            let mut req = TestRequest::post();
            for header in headers {
                req = req.insert_header(*header);
            }
            let req = req.to_http_request();
            assert_eq!(check_same_origin(&req, &issuer).is_ok(), allowed, "{what}");
        }
    }
}
