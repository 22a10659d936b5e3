//! Fetching client ID metadata documents over the network, under the rules that keep a
//! client-chosen URL from turning the server into a proxy into its own network (SSRF,
//! docs/threat-model.md CD-01..CD-05): only public addresses (checked on every address a name
//! resolves to, and on address literals), redirects only within the same origin, a size cap read
//! as the body arrives, one short deadline for the whole exchange, no proxy from the
//! environment, no cookies. The engine's part (the URL's shape, the document's members, caching)
//! is `palisade_flow::client_id_document`.

use async_trait::async_trait;
use palisade_core::ports::{
    ClientDocumentFetcher, DocumentCaching, DocumentFetchError, FetchedDocument,
};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// `[client_id_metadata_documents]` (docs/configuration.md). Off unless `enabled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientDocumentSettings {
    pub enabled: bool,
    /// Loopback addresses (and plain `http` to a loopback host): development and tests only.
    pub allow_loopback: bool,
    /// Private, link-local and shared address ranges (a document host inside your network).
    pub allow_private_networks: bool,
    /// The whole exchange — connect, TLS, redirects, body — must finish within this.
    pub timeout_ms: u64,
    /// The largest document read; the draft suggests 5 KB.
    pub max_bytes: usize,
    /// Freshness of a document whose response has no `max-age` (and no `no-store`).
    pub cache_default_secs: i64,
    /// The longest a document is trusted before it is fetched again, whatever it says.
    pub cache_max_secs: i64,
    /// How long a URL that failed is answered from memory before it is fetched again.
    pub failure_cache_secs: i64,
    /// A PEM file of extra certificate authorities to trust beside the system's.
    pub ca_file: Option<PathBuf>,
    /// The resource indicators (RFC 8707, each one of `[[resources]]`) every document client
    /// may ask for; none by default.
    pub resources: Vec<String>,
}

impl Default for ClientDocumentSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            allow_loopback: false,
            allow_private_networks: false,
            timeout_ms: 3_000,
            max_bytes: 5 * 1024,
            cache_default_secs: 300,
            cache_max_secs: 86_400,
            failure_cache_secs: 30,
            ca_file: None,
            resources: Vec::new(),
        }
    }
}

impl ClientDocumentSettings {
    /// `(field, reason)` for the first setting out of range; `known` is `[[resources]]`.
    pub fn validate(
        &self,
        known: &palisade_flow::resource::ResourceRegistry,
    ) -> Result<(), (&'static str, &'static str)> {
        if self.resources.iter().any(|uri| !known.knows(uri)) {
            return Err(("resources", "each must be the uri of one of [[resources]]"));
        }
        if self.timeout_ms == 0 || self.timeout_ms > 30_000 {
            return Err(("timeout_ms", "must be between 1 and 30000"));
        }
        if self.max_bytes < 256 || self.max_bytes > 1024 * 1024 {
            return Err(("max_bytes", "must be between 256 and 1048576"));
        }
        if self.cache_max_secs < 1 {
            return Err(("cache_max_secs", "must be at least 1"));
        }
        if self.cache_default_secs < 0 || self.cache_default_secs > self.cache_max_secs {
            return Err(("cache_default_secs", "must be between 0 and cache_max_secs"));
        }
        if self.failure_cache_secs < 1 || self.failure_cache_secs > 3_600 {
            return Err(("failure_cache_secs", "must be between 1 and 3600"));
        }
        Ok(())
    }

    /// The engine's half of the policy.
    pub fn policy(
        &self,
        registration: palisade_flow::registration::RegistrationPolicy,
    ) -> palisade_flow::client_id_document::DocumentPolicy {
        palisade_flow::client_id_document::DocumentPolicy {
            allow_http_loopback: self.allow_loopback,
            default_freshness: chrono::Duration::seconds(self.cache_default_secs),
            max_freshness: chrono::Duration::seconds(self.cache_max_secs),
            failure_memory: chrono::Duration::seconds(self.failure_cache_secs),
            registration,
            resources: self.resources.clone(),
        }
    }
}

/// Which addresses a fetch may connect to.
#[derive(Debug, Clone, Copy)]
struct AddressRule {
    allow_loopback: bool,
    allow_private_networks: bool,
}

impl AddressRule {
    fn permits(self, ip: IpAddr) -> bool {
        match classify(ip) {
            AddressKind::Public => true,
            AddressKind::Loopback => self.allow_loopback,
            AddressKind::Private => self.allow_private_networks,
            AddressKind::Never => false,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum AddressKind {
    Public,
    Loopback,
    /// RFC 1918, unique-local, link-local, shared (CGNAT) space.
    Private,
    /// Unspecified, broadcast, multicast, documentation, reserved: nothing to fetch from.
    Never,
}

fn classify(ip: IpAddr) -> AddressKind {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            // An IPv4 address in IPv6 clothing (mapped, or NAT64's well-known prefix) is judged
            // as the IPv4 address it reaches.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return classify_v4(v4);
            }
            let s = v6.segments();
            if s[0] == 0x0064 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return classify_v4(Ipv4Addr::new(a, b, c, d));
            }
            if v6.is_loopback() {
                AddressKind::Loopback
            } else if v6.is_unspecified() || v6.is_multicast() || (s[0] == 0x2001 && s[1] == 0x0db8)
            {
                AddressKind::Never
            } else if (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80 {
                AddressKind::Private
            } else if v6.segments()[0..6] == [0, 0, 0, 0, 0, 0] {
                // IPv4-compatible (deprecated) addresses: never.
                AddressKind::Never
            } else {
                AddressKind::Public
            }
        }
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressKind {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        AddressKind::Loopback
    } else if ip.is_private() || ip.is_link_local() || (a == 100 && (64..128).contains(&b)) {
        AddressKind::Private
    } else if a == 0
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a >= 240
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
    {
        AddressKind::Never
    } else {
        AddressKind::Public
    }
}

/// Resolves names with the system resolver and keeps only permitted addresses, so the check and
/// the connection use the same answer (no window for DNS rebinding between them).
struct PermittedAddresses(AddressRule);

impl reqwest::dns::Resolve for PermittedAddresses {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let rule = self.0;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> =
                all.into_iter().filter(|a| rule.permits(a.ip())).collect();
            if permitted.is_empty() {
                return Err(
                    format!("{host} resolves to no address Palisade may fetch from").into(),
                );
            }
            let addrs: reqwest::dns::Addrs = Box::new(permitted.into_iter());
            Ok(addrs)
        })
    }
}

/// At most this many documents are fetched at once by one node; more wait for nobody and are
/// answered 503. A flood of distinct URLs costs the node this many sockets, not one per request.
pub const MAX_CONCURRENT_FETCHES: usize = 8;

/// The production fetcher: reqwest with rustls, the system's trust anchors (plus `ca_file`).
pub struct HttpDocumentFetcher {
    client: reqwest::Client,
    rule: AddressRule,
    max_bytes: usize,
    in_flight: tokio::sync::Semaphore,
}

impl HttpDocumentFetcher {
    pub fn new(settings: &ClientDocumentSettings) -> anyhow::Result<Self> {
        let rule = AddressRule {
            allow_loopback: settings.allow_loopback,
            allow_private_networks: settings.allow_private_networks,
        };
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            let same_origin = attempt
                .previous()
                .first()
                .is_some_and(|first| first.origin() == attempt.url().origin());
            if attempt.previous().len() > 3 {
                attempt.error("more than 3 redirects")
            } else if same_origin {
                attempt.follow()
            } else {
                attempt.error("a redirect to another host")
            }
        });
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_native_certs(true)
            .https_only(!settings.allow_loopback)
            .no_proxy()
            .redirect(redirects)
            .timeout(Duration::from_millis(settings.timeout_ms))
            .connect_timeout(Duration::from_millis(settings.timeout_ms))
            .user_agent(concat!("Palisade/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(PermittedAddresses(rule)));
        if let Some(path) = &settings.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                anyhow::anyhow!(
                    "client_id_metadata_documents.ca_file {}: {e}",
                    path.display()
                )
            })?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                anyhow::anyhow!(
                    "client_id_metadata_documents.ca_file {}: {e}",
                    path.display()
                )
            })? {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(Self {
            client: builder.build()?,
            rule,
            max_bytes: settings.max_bytes,
            in_flight: tokio::sync::Semaphore::new(MAX_CONCURRENT_FETCHES),
        })
    }
}

#[async_trait]
impl ClientDocumentFetcher for HttpDocumentFetcher {
    async fn fetch(&self, url: &str) -> Result<FetchedDocument, DocumentFetchError> {
        let parsed =
            url::Url::parse(url).map_err(|_| DocumentFetchError::Refused("not a URL".into()))?;
        // An address literal never reaches the resolver, so it is checked here.
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            _ => None,
        };
        if let Some(ip) = literal
            && !self.rule.permits(ip)
        {
            return Err(DocumentFetchError::Refused(format!(
                "{ip} is not an address Palisade may fetch from"
            )));
        }
        let _slot = self
            .in_flight
            .try_acquire()
            .map_err(|_| DocumentFetchError::Busy)?;
        let mut response = self
            .client
            .get(parsed)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(describe)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(DocumentFetchError::Unreachable(format!(
                "the host answered {}",
                response.status()
            )));
        }
        if !is_json(response.headers()) {
            return Err(DocumentFetchError::Refused(
                "the response is not application/json".into(),
            ));
        }
        let too_large = || {
            DocumentFetchError::Refused(format!(
                "the document is larger than {} bytes",
                self.max_bytes
            ))
        };
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(too_large());
        }
        let cache = caching(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchedDocument { body, cache })
    }
}

/// One line for the client's developer; the chain of causes says which rule or fault it was.
fn describe(e: reqwest::Error) -> DocumentFetchError {
    let mut text = if e.is_timeout() {
        "the host did not answer in time".to_owned()
    } else if e.is_redirect() {
        "it redirects".to_owned()
    } else {
        "the host could not be reached".to_owned()
    };
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if e.is_redirect() {
        DocumentFetchError::Refused(text)
    } else {
        DocumentFetchError::Unreachable(text)
    }
}

fn is_json(headers: &reqwest::header::HeaderMap) -> bool {
    let Some(value) = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn caching(headers: &reqwest::header::HeaderMap) -> DocumentCaching {
    let mut max_age = None;
    for value in headers.get_all(reqwest::header::CACHE_CONTROL) {
        let Ok(text) = value.to_str() else { continue };
        for directive in text.split(',') {
            let directive = directive.trim().to_ascii_lowercase();
            if directive == "no-store" || directive == "no-cache" {
                return DocumentCaching::DoNotCache;
            }
            if let Some(secs) = directive.strip_prefix("max-age=")
                && let Ok(secs) = secs.trim_matches('"').parse::<u64>()
            {
                max_age = Some(secs);
            }
        }
    }
    match max_age {
        Some(0) => DocumentCaching::DoNotCache,
        Some(secs) => DocumentCaching::MaxAge(secs),
        None => DocumentCaching::Unspecified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn only_public_addresses_pass_unless_allowed() {
        let strict = AddressRule {
            allow_loopback: false,
            allow_private_networks: false,
        };
        for public in [
            "93.184.215.14",
            "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
            "1.1.1.1",
        ] {
            assert!(strict.permits(public.parse().unwrap()), "{public}");
        }
        for refused in [
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254", // cloud metadata
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe", // NAT64 of 169.254.169.254
            "::127.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!strict.permits(refused.parse().unwrap()), "{refused}");
        }
        let loopback_ok = AddressRule {
            allow_loopback: true,
            allow_private_networks: false,
        };
        assert!(loopback_ok.permits("127.0.0.1".parse().unwrap()));
        assert!(loopback_ok.permits("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!loopback_ok.permits("10.0.0.1".parse().unwrap()));
        assert!(!loopback_ok.permits("0.0.0.0".parse().unwrap()));
        let private_ok = AddressRule {
            allow_loopback: false,
            allow_private_networks: true,
        };
        assert!(private_ok.permits("10.0.0.1".parse().unwrap()));
        assert!(!private_ok.permits("127.0.0.1".parse().unwrap()));
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn cache_control_decides_freshness() {
        assert_eq!(caching(&headers(&[])), DocumentCaching::Unspecified);
        assert_eq!(
            caching(&headers(&[("cache-control", "public, max-age=600")])),
            DocumentCaching::MaxAge(600)
        );
        assert_eq!(
            caching(&headers(&[("cache-control", "max-age=600, no-store")])),
            DocumentCaching::DoNotCache
        );
        assert_eq!(
            caching(&headers(&[("cache-control", "no-cache")])),
            DocumentCaching::DoNotCache
        );
        assert_eq!(
            caching(&headers(&[("cache-control", "max-age=0")])),
            DocumentCaching::DoNotCache
        );
        assert_eq!(
            caching(&headers(&[("cache-control", "max-age=nonsense")])),
            DocumentCaching::Unspecified
        );
    }

    #[test]
    fn json_and_json_suffixed_types_are_documents() {
        assert!(is_json(&headers(&[("content-type", "application/json")])));
        assert!(is_json(&headers(&[(
            "content-type",
            "Application/JSON; charset=utf-8"
        )])));
        assert!(is_json(&headers(&[(
            "content-type",
            "application/oauth-client+json"
        )])));
        assert!(!is_json(&headers(&[("content-type", "text/html")])));
        assert!(!is_json(&headers(&[])));
    }

    #[test]
    fn settings_out_of_range_are_named() {
        let known = palisade_flow::resource::ResourceRegistry::default();
        let ok = ClientDocumentSettings::default();
        assert!(ok.validate(&known).is_ok());
        let mut unknown_resource = ok.clone();
        unknown_resource.resources = vec!["https://api.example/".into()];
        assert_eq!(
            unknown_resource.validate(&known).unwrap_err().0,
            "resources"
        );
        let mut slow = ok.clone();
        slow.timeout_ms = 60_000;
        assert_eq!(slow.validate(&known).unwrap_err().0, "timeout_ms");
        let mut huge = ok.clone();
        huge.max_bytes = 10 * 1024 * 1024;
        assert_eq!(huge.validate(&known).unwrap_err().0, "max_bytes");
        let mut inverted = ok;
        inverted.cache_default_secs = inverted.cache_max_secs + 1;
        assert_eq!(
            inverted.validate(&known).unwrap_err().0,
            "cache_default_secs"
        );
    }
}
