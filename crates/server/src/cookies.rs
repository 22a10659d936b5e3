//! Browser cookies: the login session and the interaction binding.
//!
//! On HTTPS the names carry the `__Host-` prefix (Secure, Path=/, no Domain: the cookie cannot
//! be set or shadowed by a sibling subdomain). On a plain-HTTP loopback issuer, for local
//! development, the prefix and `Secure` are dropped because browsers would refuse them.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};

#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    pub secure: bool,
}

impl CookiePolicy {
    pub fn session_name(self) -> &'static str {
        if self.secure {
            "__Host-palisade"
        } else {
            "palisade"
        }
    }

    pub fn browser_name(self) -> &'static str {
        if self.secure {
            "__Host-palisade-browser"
        } else {
            "palisade-browser"
        }
    }

    fn build(self, name: &'static str, value: String, max_age_secs: i64) -> Cookie<'static> {
        Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(CookieDuration::seconds(max_age_secs))
            .finish()
    }

    pub fn session(self, value: String, max_age_secs: i64) -> Cookie<'static> {
        self.build(self.session_name(), value, max_age_secs)
    }

    pub fn clear_session(self) -> Cookie<'static> {
        self.build(self.session_name(), String::new(), 0)
    }

    /// Identifies the browser for interaction binding; lives for a year, carries no identity.
    pub fn browser(self, value: String) -> Cookie<'static> {
        self.build(self.browser_name(), value, 365 * 24 * 3600)
    }

    pub fn read_session(self, req: &HttpRequest) -> Option<String> {
        req.cookie(self.session_name())
            .map(|c| c.value().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub fn read_browser(self, req: &HttpRequest) -> Option<String> {
        req.cookie(self.browser_name())
            .map(|c| c.value().to_owned())
            .filter(|v| !v.is_empty())
    }
}
