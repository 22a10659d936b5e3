//! `PALISADE_REDIS_URL`, parsed once: one Redis server, or a primary found through Sentinel.
//!
//! Accepted forms (docs/configuration.md):
//!
//! - `redis://[[user]:password@]host[:port][/db]`, `rediss://…` for TLS: one server;
//! - `redis+sentinel://[[user]:password@]host[:port][,host[:port]…]/master[/db]`, and
//!   `rediss+sentinel://…` for TLS to the sentinels and the primary: the sentinels (port 26379
//!   unless given) are asked which server is the primary of `master`. The credentials and `db`
//!   are the primary's; sentinels that want a password get theirs separately
//!   ([`RedisAddress::with_sentinel_password`]), as Redis keeps the two apart.
//!
//! The URL carries a password, so [`RedisAddress`] prints it as `***`, and no error names any
//! part of the URL.

use crate::database_url::without_password;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::fmt;

/// Sentinel's own port, when a sentinel address names none.
const SENTINEL_PORT: u16 = 26379;

/// Why a Redis URL (or a setting that goes with it) was refused; names no part of the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRedisUrl(&'static str);

/// Where the ephemeral store's Redis is, and how to trust and log in to it.
#[derive(Clone)]
pub struct RedisAddress {
    target: Target,
    /// PEM of the certificate authorities that TLS connections trust instead of the system's.
    ca_pem: Option<Vec<u8>>,
    /// `AUTH` for the sentinels (their `requirepass`), not for the primary.
    sentinel_password: Option<String>,
    /// The URL as given, password hidden, for logs and errors.
    shown: String,
}

#[derive(Clone)]
pub(crate) enum Target {
    Server(ConnectionInfo),
    Sentinel(SentinelAddress),
}

/// The sentinels to ask, the master name they know the primary by, and how to reach it.
#[derive(Clone)]
pub(crate) struct SentinelAddress {
    pub(crate) sentinels: Vec<(String, u16)>,
    pub(crate) master: String,
    pub(crate) tls: bool,
    /// Username, password and `db` of the primary.
    pub(crate) primary: RedisConnectionInfo,
}

impl RedisAddress {
    pub fn parse(raw: &str) -> Result<Self, InvalidRedisUrl> {
        let raw = raw.trim();
        let target = if let Some(rest) = raw.strip_prefix("redis+sentinel://") {
            Target::Sentinel(parse_sentinel(rest, false)?)
        } else if let Some(rest) = raw.strip_prefix("rediss+sentinel://") {
            Target::Sentinel(parse_sentinel(rest, true)?)
        } else if raw.starts_with("redis://") || raw.starts_with("rediss://") {
            Target::Server(parse_server(raw)?)
        } else {
            return Err(InvalidRedisUrl(
                "expected a redis://, rediss://, redis+sentinel:// or rediss+sentinel:// URL",
            ));
        };
        Ok(Self {
            target,
            ca_pem: None,
            sentinel_password: None,
            shown: without_password(raw),
        })
    }

    /// Trusts only the certificate authorities in `pem` (a PEM file's bytes) for TLS, instead
    /// of the system's: a private CA, or a self-signed server certificate.
    pub fn with_ca_pem(mut self, pem: Vec<u8>) -> Result<Self, InvalidRedisUrl> {
        if !self.is_tls() {
            return Err(InvalidRedisUrl(
                "a CA file applies to TLS only: use a rediss:// or rediss+sentinel:// URL",
            ));
        }
        let certificates = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| InvalidRedisUrl("the CA file is not valid PEM"))?;
        if certificates.is_empty() {
            return Err(InvalidRedisUrl("the CA file holds no PEM certificate"));
        }
        self.ca_pem = Some(pem);
        Ok(self)
    }

    /// The password the sentinels ask for (`requirepass` in sentinel.conf).
    pub fn with_sentinel_password(mut self, password: String) -> Result<Self, InvalidRedisUrl> {
        if !matches!(self.target, Target::Sentinel(_)) {
            return Err(InvalidRedisUrl(
                "a sentinel password applies to redis+sentinel:// and rediss+sentinel:// URLs only",
            ));
        }
        self.sentinel_password = Some(password);
        Ok(self)
    }

    pub fn is_tls(&self) -> bool {
        match &self.target {
            Target::Server(info) => matches!(info.addr(), ConnectionAddr::TcpTls { .. }),
            Target::Sentinel(sentinel) => sentinel.tls,
        }
    }

    pub fn is_sentinel(&self) -> bool {
        matches!(self.target, Target::Sentinel(_))
    }

    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    pub(crate) fn ca_pem(&self) -> Option<&[u8]> {
        self.ca_pem.as_deref()
    }

    pub(crate) fn sentinel_password(&self) -> Option<&str> {
        self.sentinel_password.as_deref()
    }
}

impl fmt::Display for RedisAddress {
    /// The URL with any password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for RedisAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisAddress({self})")
    }
}

fn parse_server(raw: &str) -> Result<ConnectionInfo, InvalidRedisUrl> {
    // The redis crate's `#insecure` turns certificate checks off; a CA file is the way to
    // trust a private certificate.
    if raw.contains('#') {
        return Err(InvalidRedisUrl(
            "a fragment (#insecure) is not accepted: certificates are always checked; \
             set PALISADE_REDIS_CA_FILE to trust a private CA",
        ));
    }
    raw.into_connection_info()
        .map_err(|_| InvalidRedisUrl("not a valid redis:// or rediss:// URL"))
}

/// `[[user]:password@]host[:port][,…]/master[/db]`, after the scheme.
fn parse_sentinel(rest: &str, tls: bool) -> Result<SentinelAddress, InvalidRedisUrl> {
    if rest.contains(['?', '#']) {
        return Err(InvalidRedisUrl(
            "a Sentinel URL takes no query or fragment: \
             redis+sentinel://[user:password@]host:port[,host:port…]/master[/db]",
        ));
    }
    let (authority, path) = rest.split_once('/').ok_or(InvalidRedisUrl(
        "a Sentinel URL needs the master name: …/master",
    ))?;
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, authority),
    };
    let sentinels = hosts
        .split(',')
        .map(parse_host)
        .collect::<Result<Vec<_>, _>>()?;
    let (master, db) = match path.split_once('/') {
        Some((master, db)) => (master, Some(db)),
        None => (path, None),
    };
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if master.is_empty() || !master.chars().all(is_name_char) {
        return Err(InvalidRedisUrl(
            "the master name must be letters, digits, '-', '_' or '.'",
        ));
    }
    // The redis crate decodes the percent-encoded credentials and the database number.
    let template = format!(
        "redis://{}localhost/{}",
        userinfo.map(|u| format!("{u}@")).unwrap_or_default(),
        db.unwrap_or_default()
    );
    let primary = template
        .as_str()
        .into_connection_info()
        .map_err(|_| {
            InvalidRedisUrl(
                "the user, password or database number of the Sentinel URL is not valid",
            )
        })?
        .redis_settings()
        .clone();
    Ok(SentinelAddress {
        sentinels,
        master: master.to_owned(),
        tls,
        primary,
    })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn parse_host(raw: &str) -> Result<(String, u16), InvalidRedisUrl> {
    const BAD: InvalidRedisUrl =
        InvalidRedisUrl("every sentinel must be host or host:port, separated by commas");
    let (host, port) = if let Some(bracketed) = raw.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or(BAD)?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or(BAD)?)),
        }
    } else {
        match raw.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (raw, None),
        }
    };
    if host.is_empty() || host.contains([':', '@', ' ']) && !raw.starts_with('[') {
        return Err(BAD);
    }
    let port = match port {
        Some(port) => port.parse::<u16>().ok().filter(|p| *p != 0).ok_or(BAD)?,
        None => SENTINEL_PORT,
    };
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentinel(url: &str) -> SentinelAddress {
        match RedisAddress::parse(url).unwrap().target {
            Target::Sentinel(s) => s,
            Target::Server(_) => panic!("{url} is not a Sentinel URL"),
        }
    }

    #[test]
    fn sentinel_urls_name_every_sentinel_the_master_and_the_primarys_credentials() {
        let s = sentinel("redis+sentinel://app:s%40cret@h1:26380,h2,[::1]:26381/mymaster/2");
        assert_eq!(
            s.sentinels,
            [
                ("h1".to_owned(), 26380),
                ("h2".to_owned(), 26379),
                ("::1".to_owned(), 26381)
            ]
        );
        assert_eq!(s.master, "mymaster");
        assert!(!s.tls);
        assert_eq!(s.primary.username(), Some("app"));
        assert_eq!(s.primary.password(), Some("s@cret"));
        assert_eq!(s.primary.db(), 2);

        let s = sentinel("rediss+sentinel://:pw@10.0.0.1:26379/m");
        assert!(s.tls);
        assert_eq!(s.primary.username(), None);
        assert_eq!(s.primary.password(), Some("pw"));
        assert_eq!(s.primary.db(), 0);
        assert!(
            sentinel("redis+sentinel://h/m")
                .primary
                .password()
                .is_none()
        );
    }

    #[test]
    fn malformed_urls_are_refused_without_naming_their_parts() {
        let cases = [
            "http://h:6379",
            "redis+sentinel://h1,h2",
            "redis+sentinel://h1/",
            "redis+sentinel://h1/my master",
            "redis+sentinel://h1:port/m",
            "redis+sentinel://h1:0/m",
            "redis+sentinel://,h2/m",
            "redis+sentinel://u:hunter2@h1/m/not-a-db",
            "redis+sentinel://h1/m?sentinel_password=hunter2",
            "redis+sentinel://[::1/m",
            "rediss://:hunter2@h:6379#insecure",
            "redis://:hunter2@h:6379/not-a-db",
            "",
        ];
        for url in cases {
            let err = RedisAddress::parse(url).unwrap_err();
            assert!(!err.to_string().contains("hunter2"), "{url}: {err}");
        }
    }

    #[test]
    fn a_password_never_prints() {
        let cases = [
            ("redis://:hunter2@h:6379", "redis://:***@h:6379"),
            ("rediss://app:hunter2@h:6380/1", "rediss://app:***@h:6380/1"),
            (
                "redis+sentinel://app:hunter2@h1,h2:26380/m",
                "redis+sentinel://app:***@h1,h2:26380/m",
            ),
            ("redis://h:6379", "redis://h:6379"),
        ];
        for (raw, shown) in cases {
            let address = RedisAddress::parse(raw).unwrap();
            assert_eq!(address.to_string(), shown);
            assert!(!format!("{address:?}").contains("hunter2"));
        }
    }

    #[test]
    fn tls_and_sentinel_settings_apply_only_where_they_mean_something() {
        let plain = RedisAddress::parse("redis://h").unwrap();
        assert!(!plain.is_tls() && !plain.is_sentinel());
        assert!(plain.clone().with_ca_pem(Vec::new()).is_err());
        assert!(plain.with_sentinel_password("pw".into()).is_err());

        let tls = RedisAddress::parse("rediss://h").unwrap();
        assert!(tls.is_tls());
        assert!(tls.clone().with_ca_pem(b"not pem".to_vec()).is_err());
        let pem = rcgen::generate_simple_self_signed(vec!["h".to_owned()])
            .unwrap()
            .cert
            .pem();
        assert!(
            tls.with_ca_pem(pem.into_bytes())
                .unwrap()
                .ca_pem()
                .is_some()
        );

        let sentinel = RedisAddress::parse("rediss+sentinel://h/m").unwrap();
        assert!(sentinel.is_tls() && sentinel.is_sentinel());
        let sentinel = sentinel.with_sentinel_password("pw".into()).unwrap();
        assert_eq!(sentinel.sentinel_password(), Some("pw"));
    }
}
