//! `application/x-www-form-urlencoded` (WHATWG URL §5), decoded strictly: the one decoder of
//! request parameters (the server's query strings and bodies) and of the client id and secret
//! inside HTTP Basic (RFC 6749 §2.3.1), so no parameter anywhere is read leniently.

use crate::OAuthError;

/// Parses `application/x-www-form-urlencoded` bytes (a query string or a body) into pairs,
/// keeping repeats so the engine can refuse them.
///
/// Strict where the WHATWG parser (and `url::form_urlencoded`) is lenient: a name or value that
/// does not decode to UTF-8 is `invalid_request`, never carried on with U+FFFD in place of the
/// bytes (a `state` must come back exactly as sent, or the request fail). A `%` not followed by
/// two hex digits stays a literal `%`, as in the WHATWG parser.
pub fn pairs(encoded: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    encoded
        .split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            let name = decode(name)
                .map_err(|_| OAuthError::invalid_request("a parameter name is not valid UTF-8"))?;
            let value = decode(value).map_err(|_| {
                OAuthError::invalid_request(format!("the parameter {name:?} is not valid UTF-8"))
            })?;
            Ok((name, value))
        })
        .collect()
}

/// One name or value: `+` is a space, `%XX` a byte, and the bytes must be UTF-8.
pub fn decode(raw: &[u8]) -> Result<String, std::string::FromUtf8Error> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some((&first, tail)) = rest.split_first() {
        rest = tail;
        match first {
            b'+' => bytes.push(b' '),
            b'%' => match tail {
                [high, low, after @ ..] if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => {
                    bytes.push(hex_value(*high) << 4 | hex_value(*low));
                    rest = after;
                }
                _ => bytes.push(b'%'),
            },
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes)
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit.to_ascii_uppercase() - b'A' + 10,
    }
}
