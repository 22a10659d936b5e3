//! Redirect URIs: RFC 6749 §3.1.2 and §3.1.2.2-3.1.2.3, RFC 9700 §2.1 and §4.1.3 (exact string
//! matching), RFC 8252 §7.1-7.3 and §8.3 (native apps), OIDC Registration §2 (`application_type`),
//! RFC 7591 §2 and §3.2.2 (`invalid_redirect_uri`).
//!
//! Two operations, deliberately asymmetric:
//!
//! - **Registration** ([`RedirectUri::parse_for_registration`]) is strict. A URI is accepted only
//!   if it is absolute, has no fragment, no wildcard, no user information, uses `https` (or `http`
//!   on a loopback IP literal, or, for native clients, a private-use scheme), and is already in
//!   the normalised form the WHATWG URL parser (the `url` crate, the browser's parser) would
//!   give it. A registered URI is therefore a fixed point of the parser the browser uses: the
//!   host we checked is the host the browser will contact.
//! - **Matching** ([`matches_registered`]) is byte-for-byte string equality with a registered
//!   URI: no parsing, no case folding, no percent-decoding, no trailing-slash or default-port
//!   leniency. The one exception is RFC 8252 §7.3: for native clients, a loopback IP redirect
//!   matches a registered loopback URI that differs only in its port.

pub use palisade_core::model::ApplicationType;
use palisade_core::{ErrorCode, OAuthError};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use url::{Host, Url, form_urlencoded};

/// Registered redirect URIs longer than this are refused (they are echoed in every redirect).
pub const MAX_REDIRECT_URI_BYTES: usize = 2048;

/// Query parameters the authorization response adds; a registered URI may not carry them
/// (RFC 9700 §4.1.3: an attacker-influenced duplicate `code`, `state` or `iss` confuses clients).
const RESPONSE_PARAMETERS: [&str; 6] = [
    "code",
    "state",
    "iss",
    "error",
    "error_description",
    "error_uri",
];

/// Schemes that execute or read locally in a browser; named in the error so the reason is clear.
const DANGEROUS_SCHEMES: [&str; 4] = ["javascript", "data", "file", "vbscript"];

/// The two loopback IP literals RFC 8252 §7.3 and §8.3 allow over plain `http`.
const LOOPBACK_PREFIXES: [&str; 2] = ["http://127.0.0.1", "http://[::1]"];

/// A redirect URI that passed the registration rules, kept byte for byte as registered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct RedirectUri(String);

fn invalid(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRedirectUri, description)
}

/// RFC 3986 §2: unreserved, reserved and `%`. Everything else (space, `"`, `<`, `>`, `\`, `^`,
/// `` ` ``, `{`, `|`, `}`, controls, non-ASCII) must be percent-encoded.
fn is_uri_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b':'
                | b'/'
                | b'?'
                | b'#'
                | b'['
                | b']'
                | b'@'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b'%'
        )
}

/// Every `%` starts a `%XX` escape (RFC 3986 §2.1).
fn has_well_formed_escapes(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

/// RFC 3986 §3.1: `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn scheme_of(raw: &str) -> Option<&str> {
    let (scheme, _) = raw.split_once(':')?;
    let mut bytes = scheme.bytes();
    let first_is_alpha = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    (first_is_alpha && rest_ok).then_some(scheme)
}

impl RedirectUri {
    /// Applies the registration rules (module docs) and keeps `raw` exactly as given.
    ///
    /// Every refusal is `invalid_redirect_uri` (RFC 7591 §3.2.2); the description says which
    /// rule failed and never echoes the URI.
    pub fn parse_for_registration(
        raw: &str,
        application_type: ApplicationType,
    ) -> Result<Self, OAuthError> {
        if raw.is_empty() {
            return Err(invalid("a redirect URI must not be empty"));
        }
        if raw.len() > MAX_REDIRECT_URI_BYTES {
            return Err(invalid("a redirect URI must be at most 2048 bytes"));
        }
        if !raw.bytes().all(is_uri_char) {
            return Err(invalid(
                "a redirect URI may contain only URI characters (RFC 3986); \
                 percent-encode spaces, quotes, backslashes and non-ASCII text",
            ));
        }
        if !has_well_formed_escapes(raw) {
            return Err(invalid(
                "a redirect URI has a % that does not start a %XX escape",
            ));
        }
        if raw.contains('#') {
            return Err(invalid(
                "a redirect URI must not contain a fragment (RFC 6749 §3.1.2)",
            ));
        }
        if raw.contains('*') {
            return Err(invalid(
                "a redirect URI must not contain wildcards; register each URI exactly",
            ));
        }
        let Some(scheme) = scheme_of(raw) else {
            return Err(invalid(
                "a redirect URI must be an absolute URI with a scheme",
            ));
        };
        if DANGEROUS_SCHEMES
            .iter()
            .any(|d| scheme.eq_ignore_ascii_case(d))
        {
            return Err(invalid(
                "javascript:, data:, file: and vbscript: redirect URIs are not allowed",
            ));
        }
        let url = Url::parse(raw)
            .map_err(|e| invalid("a redirect URI must be an absolute URI").with_source(e))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "a redirect URI must not contain user information (user@host)",
            ));
        }
        check_scheme(&url, raw, application_type)?;
        if url
            .query_pairs()
            .any(|(name, _)| RESPONSE_PARAMETERS.contains(&name.as_ref()))
        {
            return Err(invalid(
                "a redirect URI must not carry code, state, iss or error parameters in its query",
            ));
        }
        if url.as_str() != raw {
            return Err(invalid(
                "a redirect URI must be in normalised form: lower-case scheme and host, \
                 no default port, no dot segments, a path of at least /, \
                 and percent-encoding only where required",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Rebuilds a URI read back from storage, where it was checked when registered.
    pub fn from_registered(stored: String) -> Self {
        Self(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// Whether this is an `http` redirect to `127.0.0.1` or `[::1]` (RFC 8252 §7.3).
    pub fn is_loopback(&self) -> bool {
        split_loopback(&self.0).is_some()
    }
}

fn check_scheme(url: &Url, raw: &str, application_type: ApplicationType) -> Result<(), OAuthError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" => match url.host() {
            Some(Host::Ipv4(ip)) if ip == Ipv4Addr::LOCALHOST => Ok(()),
            Some(Host::Ipv6(ip)) if ip == Ipv6Addr::LOCALHOST => Ok(()),
            Some(Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => Err(invalid(
                "use http://127.0.0.1 or http://[::1] rather than localhost (RFC 8252 §8.3)",
            )),
            _ => Err(invalid(
                "a redirect URI must use https; http is allowed only for 127.0.0.1 and [::1]",
            )),
        },
        private if application_type == ApplicationType::Native => {
            if !private.contains('.') {
                return Err(invalid(
                    "a private-use scheme must be a reverse domain name such as \
                     com.example.app (RFC 8252 §7.1)",
                ));
            }
            let has_path = raw
                .split_once(':')
                .is_some_and(|(_, after_scheme)| after_scheme.starts_with('/'));
            if !has_path {
                return Err(invalid(
                    "a private-use redirect URI must have a path, as in com.example.app:/callback",
                ));
            }
            Ok(())
        }
        _ => Err(invalid(
            "a web client's redirect URI must use https (or http on 127.0.0.1 or [::1])",
        )),
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RedirectUri {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Splits a loopback redirect into `(scheme and host, port, rest)`, reading bytes, not parsing:
/// `http://127.0.0.1:8080/cb?x` is `("http://127.0.0.1", Some(8080), "/cb?x")`.
///
/// The rest must be empty or start with `/` or `?`, so `http://127.0.0.1.evil.test/`,
/// `http://127.0.0.1:80@evil.test/` and `http://127.0.0.1\@evil.test` are not loopback.
fn split_loopback(uri: &str) -> Option<(&'static str, Option<u16>, &str)> {
    let prefix = LOOPBACK_PREFIXES.into_iter().find(|p| uri.starts_with(p))?;
    let after_host = &uri[prefix.len()..];
    let (port, rest) = match after_host.strip_prefix(':') {
        Some(port_and_rest) => {
            let digits_end = port_and_rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(port_and_rest.len());
            let digits = &port_and_rest[..digits_end];
            // A canonical port: 1-5 digits, no leading zero, 1..=65535.
            if digits.is_empty() || digits.len() > 5 || digits.starts_with('0') {
                return None;
            }
            let port: u16 = digits.parse().ok()?;
            (Some(port), &port_and_rest[digits_end..])
        }
        None => (None, after_host),
    };
    if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') {
        Some((prefix, port, rest))
    } else {
        None
    }
}

/// Finds `requested` among the client's `registered` redirect URIs and returns it, ready to
/// redirect to; `None` means the request must not be redirected anywhere (AZ-01, AZ-02).
///
/// Byte-for-byte equality (RFC 9700 §4.1.3, RFC 3986 §6.2.1 simple string comparison), except
/// that for native clients a loopback redirect (`http://127.0.0.1:PORT/...` or
/// `http://[::1]:PORT/...`) matches a registered loopback URI with the same host, path and
/// query and any port (RFC 8252 §7.3). The returned string is always `requested` itself: with a
/// loopback port it differs from the registered one, and it is what the token request must
/// repeat (RFC 6749 §4.1.3).
pub fn matches_registered<'a>(
    requested: &'a str,
    registered: &[String],
    application_type: ApplicationType,
) -> Option<&'a str> {
    if registered.iter().any(|r| r == requested) {
        return Some(requested);
    }
    if application_type != ApplicationType::Native {
        return None;
    }
    let (req_host, _, req_rest) = split_loopback(requested)?;
    registered
        .iter()
        .filter_map(|r| split_loopback(r))
        .any(|(host, _, rest)| host == req_host && rest == req_rest)
        .then_some(requested)
}

/// Adds `params` to the query of `redirect_uri`, form-urlencoded, keeping any query it already
/// has byte for byte (RFC 6749 §3.1.2: "MUST retain the query component"). The response is
/// never put in a fragment; a fragment, which registration refuses anyway, is dropped.
pub fn append_query(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let base = redirect_uri
        .split_once('#')
        .map_or(redirect_uri, |(before, _)| before);
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    if encoded.is_empty() {
        return base.to_owned();
    }
    let separator = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    format!("{base}{separator}{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApplicationType::{Native, Web};

    fn registers(raw: &str, application_type: ApplicationType) -> bool {
        RedirectUri::parse_for_registration(raw, application_type).is_ok()
    }

    #[test]
    fn registration_accepts_https_loopback_http_and_native_private_use_schemes() {
        let cases = [
            // (uri, web, native)
            ("https://rp.test/cb", true, true),
            ("https://rp.test/cb?tenant=a&x=1", true, true),
            ("https://rp.test:8443/cb", true, true),
            ("https://rp.test/", true, true),
            ("https://127.0.0.1/cb", true, true),
            ("http://127.0.0.1/cb", true, true),
            ("http://127.0.0.1:8080/cb", true, true),
            ("http://[::1]/cb", true, true),
            ("http://[::1]:51000/cb", true, true),
            ("com.example.app:/oauth2redirect", false, true),
            ("com.example.app://callback", false, true),
        ];
        for (uri, web, native) in cases {
            assert_eq!(registers(uri, Web), web, "web {uri}");
            assert_eq!(registers(uri, Native), native, "native {uri}");
        }
    }

    #[test]
    fn registration_refuses_every_unsafe_shape_with_invalid_redirect_uri() {
        let cases = [
            ("a fragment", "https://rp.test/cb#f"),
            ("an empty fragment", "https://rp.test/cb#"),
            ("a fragment carrying iss", "https://rp.test/cb#iss=x"),
            ("javascript", "javascript:alert(1)"),
            ("javascript in mixed case", "JaVaScRiPt:alert(1)"),
            ("data", "data:text/html,<b>x</b>"),
            ("data, URI characters only", "data:text/html,x"),
            ("vbscript", "vbscript:msgbox(1)"),
            ("file", "file:///x"),
            ("http on a public host", "http://rp.test/cb"),
            ("http on localhost (RFC 8252 §8.3)", "http://localhost/cb"),
            ("http on localhost with a port", "http://localhost:8080/cb"),
            ("http on another loopback address", "http://127.0.0.2/cb"),
            ("http on a short loopback form", "http://127.1/cb"),
            (
                "http on a long IPv6 loopback form",
                "http://[0:0:0:0:0:0:0:1]/cb",
            ),
            ("a wildcard host", "https://*.rp.test/cb"),
            ("a wildcard path", "https://rp.test/*"),
            ("a code in the query", "https://rp.test/cb?code=x"),
            ("a state in the query", "https://rp.test/cb?a=1&state=x"),
            (
                "an iss in the query",
                "https://rp.test/cb?iss=https://as.test",
            ),
            ("an error in the query", "https://rp.test/cb?error=x"),
            ("user information", "https://user@rp.test/cb"),
            ("user and password", "https://user:pw@rp.test/cb"),
            ("an empty user", "https://@rp.test/cb"),
            ("two at signs", "https://a@b@rp.test/cb"),
            (
                "a backslash before an at sign",
                "https://evil.test\\@rp.test/cb",
            ),
            ("a relative reference", "/cb"),
            ("a scheme-relative reference", "//rp.test/cb"),
            ("no scheme", "rp.test/cb"),
            ("empty", ""),
            ("a space", "https://rp.test/c b"),
            ("non-ASCII", "https://rp.test/caf\u{e9}"),
            ("a broken escape", "https://rp.test/%zz"),
            ("an upper-case host", "https://RP.test/cb"),
            ("an upper-case scheme", "HTTPS://rp.test/cb"),
            ("the default port", "https://rp.test:443/cb"),
            ("no path", "https://rp.test"),
            ("a dot segment", "https://rp.test/cb/."),
            ("a dot-dot segment", "https://rp.test/a/../cb"),
            ("another web scheme", "ftp://rp.test/cb"),
            ("a websocket scheme", "wss://rp.test/cb"),
        ];
        for (case, uri) in cases {
            for application_type in [Web, Native] {
                let err =
                    RedirectUri::parse_for_registration(uri, application_type).expect_err(case);
                assert_eq!(err.code, ErrorCode::InvalidRedirectUri, "{case}");
                assert!(
                    !err.description.contains(uri) || uri.is_empty(),
                    "{case} echoed"
                );
            }
        }
    }

    #[test]
    fn native_private_use_schemes_must_look_like_reverse_domain_names() {
        let cases = [
            ("no dot", "myapp:/cb"),
            ("no path", "com.example.app:cb"),
            ("user information", "com.example.app://user@cb"),
        ];
        for (case, uri) in cases {
            assert!(!registers(uri, Native), "{case}");
        }
    }

    #[test]
    fn an_over_long_uri_is_refused() {
        let long = format!("https://rp.test/{}", "a".repeat(MAX_REDIRECT_URI_BYTES));
        assert!(!registers(&long, Web));
    }

    #[test]
    fn the_registered_string_is_kept_byte_for_byte() {
        let raw = "https://rp.test/cb?b=2&a=%2F";
        let uri = RedirectUri::parse_for_registration(raw, Web).unwrap();
        assert_eq!(uri.as_str(), raw);
        assert_eq!(serde_json::to_string(&uri).unwrap(), format!("\"{raw}\""));
        assert!(!uri.is_loopback());
        assert!(
            RedirectUri::parse_for_registration("http://[::1]:9/cb", Native)
                .unwrap()
                .is_loopback()
        );
    }

    #[test]
    fn near_misses_of_a_registered_uri_do_not_match() {
        // docs/threat-model.md AZ-02.
        let registered = vec!["https://rp.test/cb".to_owned()];
        let near_misses = [
            "https://rp.test/CB",
            "https://rp.test/cb/",
            "https://rp.test/cb/.",
            "https://rp.test/cb/..;/cb",
            "https://rp.test/%63b",
            "https://RP.test/cb",
            "https://rp.test:443/cb",
            "https://rp.test@evil.test/cb",
            "https://a@b@rp.test/cb",
            "https://rp.test.evil.test/cb",
            "https://evil.test\\@rp.test/cb",
            // and a few more of the same family
            "https://evil.test/cb",
            "http://rp.test/cb",
            "https://rp.test/cb?",
            "https://rp.test/cb#",
            "https://rp.test/cb ",
            " https://rp.test/cb",
            "https://rp.test/cb%00",
            "",
        ];
        for requested in near_misses {
            for application_type in [Web, Native] {
                assert_eq!(
                    matches_registered(requested, &registered, application_type),
                    None,
                    "{requested:?} matched"
                );
            }
        }
        assert_eq!(
            matches_registered("https://rp.test/cb", &registered, Web),
            Some("https://rp.test/cb")
        );
    }

    #[test]
    fn any_of_several_registered_uris_matches_exactly() {
        let registered = vec![
            "https://rp.test/cb".to_owned(),
            "https://rp.test/other?x=1".to_owned(),
        ];
        assert!(matches_registered("https://rp.test/other?x=1", &registered, Web).is_some());
        assert!(matches_registered("https://rp.test/other?x=2", &registered, Web).is_none());
        assert!(matches_registered("https://rp.test/other", &registered, Web).is_none());
    }

    #[test]
    fn loopback_port_variance_matches_for_native_clients_only() {
        let cases = [
            // (registered, requested, native matches, web matches)
            (
                "http://127.0.0.1/cb",
                "http://127.0.0.1:51234/cb",
                true,
                false,
            ),
            (
                "http://127.0.0.1:8080/cb",
                "http://127.0.0.1:9090/cb",
                true,
                false,
            ),
            (
                "http://127.0.0.1:8080/cb",
                "http://127.0.0.1/cb",
                true,
                false,
            ),
            ("http://[::1]/cb", "http://[::1]:60000/cb", true, false),
            (
                "http://127.0.0.1/cb?x=1",
                "http://127.0.0.1:5000/cb?x=1",
                true,
                false,
            ),
            ("http://127.0.0.1/cb", "http://127.0.0.1/cb", true, true),
            // the rest of the URI must still be byte-identical
            (
                "http://127.0.0.1/cb",
                "http://127.0.0.1:5000/CB",
                false,
                false,
            ),
            (
                "http://127.0.0.1/cb",
                "http://127.0.0.1:5000/cb/",
                false,
                false,
            ),
            (
                "http://127.0.0.1/cb?x=1",
                "http://127.0.0.1:5000/cb?x=2",
                false,
                false,
            ),
            // the host is not interchangeable, and localhost is not loopback here
            ("http://127.0.0.1/cb", "http://[::1]:5000/cb", false, false),
            ("http://127.0.0.1/cb", "http://localhost/cb", false, false),
            (
                "http://127.0.0.1/cb",
                "http://localhost:5000/cb",
                false,
                false,
            ),
            (
                "http://localhost/cb",
                "http://localhost:5000/cb",
                false,
                false,
            ),
            // https is not loopback-lenient, ports are checked
            (
                "https://127.0.0.1/cb",
                "https://127.0.0.1:5000/cb",
                false,
                false,
            ),
            ("http://127.0.0.1/cb", "http://127.0.0.1:/cb", false, false),
            ("http://127.0.0.1/cb", "http://127.0.0.1:0/cb", false, false),
            (
                "http://127.0.0.1/cb",
                "http://127.0.0.1:08080/cb",
                false,
                false,
            ),
            (
                "http://127.0.0.1/cb",
                "http://127.0.0.1:65536/cb",
                false,
                false,
            ),
            (
                "http://127.0.0.1/cb",
                "http://127.0.0.1:999999/cb",
                false,
                false,
            ),
            // authority confusion around a loopback prefix
            (
                "http://127.0.0.1/cb",
                "http://127.0.0.1:80@evil.test/cb",
                false,
                false,
            ),
            (
                "http://127.0.0.1/cb",
                "http://127.0.0.1.evil.test/cb",
                false,
                false,
            ),
            (
                "http://127.0.0.1/cb",
                "http://127.0.0.1\\@evil.test/cb",
                false,
                false,
            ),
            (
                "http://127.0.0.1/cb",
                "http://127.0.0.1:5000\\@evil.test/cb",
                false,
                false,
            ),
        ];
        for (registered, requested, native, web) in cases {
            let registered = vec![registered.to_owned()];
            assert_eq!(
                matches_registered(requested, &registered, Native).is_some(),
                native,
                "native {registered:?} <- {requested}"
            );
            assert_eq!(
                matches_registered(requested, &registered, Web).is_some(),
                web,
                "web {registered:?} <- {requested}"
            );
        }
    }

    #[test]
    fn a_loopback_match_returns_the_requested_uri_with_its_port() {
        let registered = vec!["http://127.0.0.1/cb".to_owned()];
        assert_eq!(
            matches_registered("http://127.0.0.1:4000/cb", &registered, Native),
            Some("http://127.0.0.1:4000/cb")
        );
    }

    #[test]
    fn append_query_keeps_the_existing_query_and_encodes_the_new_parameters() {
        let cases = [
            (
                "https://rp.test/cb",
                vec![("code", "abc"), ("state", "st1")],
                "https://rp.test/cb?code=abc&state=st1",
            ),
            (
                "https://rp.test/cb?tenant=a%2Fb",
                vec![("code", "abc")],
                "https://rp.test/cb?tenant=a%2Fb&code=abc",
            ),
            (
                "https://rp.test/cb?",
                vec![("code", "abc")],
                "https://rp.test/cb?code=abc",
            ),
            (
                "https://rp.test/cb?a=1&",
                vec![("code", "x")],
                "https://rp.test/cb?a=1&code=x",
            ),
            (
                "https://rp.test/cb",
                vec![("state", "a b&c=d#e"), ("iss", "https://as.test")],
                "https://rp.test/cb?state=a+b%26c%3Dd%23e&iss=https%3A%2F%2Fas.test",
            ),
            (
                "https://rp.test/cb#frag",
                vec![("code", "abc")],
                "https://rp.test/cb?code=abc",
            ),
            ("https://rp.test/cb?x=1", vec![], "https://rp.test/cb?x=1"),
            (
                "com.example.app:/cb",
                vec![("code", "abc")],
                "com.example.app:/cb?code=abc",
            ),
        ];
        for (base, params, expected) in cases {
            assert_eq!(append_query(base, &params), expected, "{base}");
        }
    }
}
