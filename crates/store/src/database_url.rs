//! `PALISADE_DATABASE_URL`, parsed once at configuration time into the backend and its
//! address, so nothing downstream guesses the backend from a prefix again.

use std::fmt;
use std::path::{Path, PathBuf};

/// Which SQL dialect a store speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Sqlite => "sqlite",
        }
    }
}

/// Why a database URL was refused; names no part of the URL (it may carry a password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidDatabaseUrl(&'static str);

/// Where the durable store lives: a PostgreSQL URL or an SQLite file.
///
/// Accepted: `postgres://…`, `postgresql://…`, `sqlite://PATH`, `sqlite:PATH`, or a plain file
/// path. Anything else with a scheme (`mysql://`, a mistyped `postgres:/host`) is refused
/// rather than taken for a file name, and in-memory SQLite is refused: every pooled connection
/// would see a different empty database.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(Location);

#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// Kept as given for libpq.
    Postgres(String),
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, InvalidDatabaseUrl> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self(Location::Postgres(raw.to_owned())));
        }
        let path = match raw.strip_prefix("sqlite://") {
            Some(path) => path,
            None => raw.strip_prefix("sqlite:").unwrap_or(raw),
        };
        if path.is_empty() || path.contains("://") || has_scheme(path) {
            return Err(InvalidDatabaseUrl(
                "expected a postgres://, postgresql:// or sqlite:// URL",
            ));
        }
        if path.contains(":memory:") || path.contains("mode=memory") {
            return Err(InvalidDatabaseUrl(
                "in-memory SQLite is not supported: every pooled connection would see a \
                 different empty database; use a file",
            ));
        }
        Ok(Self::sqlite_file(path))
    }

    /// An SQLite database in the file at `path`.
    pub fn sqlite_file(path: impl AsRef<Path>) -> Self {
        Self(Location::Sqlite(path.as_ref().to_path_buf()))
    }

    pub fn backend(&self) -> Backend {
        match self.0 {
            Location::Postgres(_) => Backend::Postgres,
            Location::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// The file of an SQLite database.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.0 {
            Location::Sqlite(path) => Some(path),
            Location::Postgres(_) => None,
        }
    }

    /// Where to connect; a PostgreSQL URL includes its password, so for libpq only.
    pub(crate) fn location(&self) -> &Location {
        &self.0
    }
}

/// RFC 3986 §3.1 `scheme ":"` at the start, e.g. the `postgres:` of a mistyped `postgres:/h`.
fn has_scheme(raw: &str) -> bool {
    raw.split_once(':').is_some_and(|(scheme, _)| {
        let mut bytes = scheme.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
            && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    })
}

impl fmt::Display for DatabaseUrl {
    /// The URL with any password replaced by `***`, fit for logs and error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Location::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Location::Postgres(url) => f.write_str(&without_password(url)),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// `scheme://user:secret@host/db` as `scheme://user:***@host/db`, and the value of a
/// `password=` or `sslpassword=` query parameter (libpq takes both there) as `***`. Also used
/// for Redis URLs, whose userinfo has the same shape (`redis://:secret@host`).
pub(crate) fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{user}:***@{host}")
        }
        _ => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if matches!(name, "password" | "sslpassword") => {
                        format!("{name}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend() {
        let cases = [
            ("postgres://h/db", Some(Backend::Postgres)),
            ("postgresql://h/db", Some(Backend::Postgres)),
            // TLS and libpq's multi-host failover are libpq's business: kept as given.
            (
                "postgres://u@h/db?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem",
                Some(Backend::Postgres),
            ),
            (
                "postgres://u@h1:5432,h2:5433/db?target_session_attrs=read-write",
                Some(Backend::Postgres),
            ),
            (
                "sqlite:///var/lib/palisade/db.sqlite",
                Some(Backend::Sqlite),
            ),
            ("sqlite://data/palisade.db", Some(Backend::Sqlite)),
            ("sqlite:data/palisade.db", Some(Backend::Sqlite)),
            ("data/palisade.db", Some(Backend::Sqlite)),
            ("mysql://h/db", None),
            ("postgres:/h/db", None),
            ("sqlite::memory:", None),
            (":memory:", None),
            ("file:x.db?mode=memory", None),
            ("", None),
            ("  ", None),
        ];
        for (url, expected) in cases {
            assert_eq!(
                DatabaseUrl::parse(url).ok().map(|u| u.backend()),
                expected,
                "{url}"
            );
        }
        let sqlite = DatabaseUrl::parse("sqlite:///tmp/x.db").unwrap();
        assert_eq!(sqlite.sqlite_path(), Some(Path::new("/tmp/x.db")));
        assert_eq!(sqlite.to_string(), "sqlite:///tmp/x.db");
        assert_eq!(
            DatabaseUrl::parse("postgres://h/db").unwrap().sqlite_path(),
            None
        );
    }

    #[test]
    fn a_password_never_prints() {
        let cases = [
            (
                "postgres://u:hunter2@h:5432/db",
                "postgres://u:***@h:5432/db",
            ),
            ("postgresql://u:hunter2@h", "postgresql://u:***@h"),
            (
                "postgres://u@h/db?sslmode=require",
                "postgres://u@h/db?sslmode=require",
            ),
            ("postgres://h/db", "postgres://h/db"),
            (
                "postgres://u@h/db?password=hunter2&sslmode=require",
                "postgres://u@h/db?password=***&sslmode=require",
            ),
            (
                "postgres://u@h/db?sslmode=verify-full&sslcert=c.pem&sslkey=k.pem&sslpassword=hunter2",
                "postgres://u@h/db?sslmode=verify-full&sslcert=c.pem&sslkey=k.pem&sslpassword=***",
            ),
            (
                "postgres://u:hunter2@h1:5432,h2:5433/db?target_session_attrs=read-write",
                "postgres://u:***@h1:5432,h2:5433/db?target_session_attrs=read-write",
            ),
        ];
        for (raw, shown) in cases {
            let url = DatabaseUrl::parse(raw).unwrap();
            assert_eq!(url.to_string(), shown);
            assert!(!format!("{url:?}").contains("hunter2"));
        }
        assert!(matches!(
            DatabaseUrl::parse("postgres://u:hunter2@h/db").unwrap().location(),
            Location::Postgres(url) if url == "postgres://u:hunter2@h/db"
        ));
    }
}
