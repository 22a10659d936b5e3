//! Static assets compiled into the binary, served under content-hashed names.
//!
//! A hashed name changes whenever the content does, so browsers may cache an asset forever
//! (`immutable`) and a new release is still picked up at once. Embedding keeps Palisade one
//! self-contained binary: nothing to copy next to it.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::LazyLock;

pub struct Asset {
    pub content_type: &'static str,
    pub bytes: &'static [u8],
    path: LazyLock<String>,
}

impl Asset {
    /// The URL path of the asset, e.g. `/static/palisade.3f2a9c0d1e.css`.
    pub fn path(&'static self) -> &'static str {
        self.path.as_str()
    }
}

fn hashed_path(stem: &str, ext: &str, bytes: &[u8]) -> String {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    format!("/static/{stem}.{:010x}.{ext}", h.finish() & 0xff_ffff_ffff)
}

pub static STYLESHEET: Asset = Asset {
    content_type: "text/css; charset=utf-8",
    bytes: include_bytes!("../../../static/palisade.css"),
    path: LazyLock::new(|| {
        hashed_path(
            "palisade",
            "css",
            include_bytes!("../../../static/palisade.css"),
        )
    }),
};

/// The passkey ceremonies (`navigator.credentials.get`/`create`), loaded only by the pages that
/// offer a passkey; every other page ships no script at all.
pub static WEBAUTHN_SCRIPT: Asset = Asset {
    content_type: "text/javascript; charset=utf-8",
    bytes: include_bytes!("../../../static/webauthn.js"),
    path: LazyLock::new(|| {
        hashed_path(
            "webauthn",
            "js",
            include_bytes!("../../../static/webauthn.js"),
        )
    }),
};

/// Every embedded asset, for the server's static route.
pub fn all() -> [&'static Asset; 2] {
    [&STYLESHEET, &WEBAUTHN_SCRIPT]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_paths_carry_a_content_hash() {
        let p = STYLESHEET.path();
        assert!(
            p.starts_with("/static/palisade.") && p.ends_with(".css"),
            "{p}"
        );
        assert_eq!(p.len(), "/static/palisade.".len() + 10 + ".css".len());
        assert_ne!(hashed_path("a", "css", b"x"), hashed_path("a", "css", b"y"));
        let script = WEBAUTHN_SCRIPT.path();
        assert!(
            script.starts_with("/static/webauthn.") && script.ends_with(".js"),
            "{script}"
        );
        assert!(WEBAUTHN_SCRIPT.content_type.starts_with("text/javascript"));
    }
}
