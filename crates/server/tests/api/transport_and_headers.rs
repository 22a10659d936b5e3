//! Transport security and response headers (docs/threat-model.md L: HD-01..HD-04): the headers
//! on every route of the route table, no caching of anything personal, cross-site form posts
//! refused, HTTPS with HSTS on rustls (TLS 1.2+), and the refusal to serve plain HTTP on a
//! reachable address.

use crate::authorize_rules::authorize_url;
use crate::harness::{TestApp, palisade_binary, spawn_app, spawn_app_on_localhost, spawn_app_with};
use crate::support::{
    Browser, ClientSpec, PASSWORD, create_user, location, pkce_pair, register_client,
};
use palisade::routes;
use palisade::security_headers::{
    CONTENT_SECURITY_POLICY, SCRIPT_CONTENT_SECURITY_POLICY, STRICT_TRANSPORT_SECURITY,
};
use palisade_store::testing::{TestDatabase, TestEphemeral};
use reqwest::StatusCode;
use rustls::pki_types::ServerName;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

/// Routes whose answers may be cached by anyone: public documents with no personal data.
const PUBLIC_CACHEABLE: [&str; 4] = [
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/jwks",
    "/favicon.ico",
];

#[test]
fn every_table_entry_names_a_real_method_and_appears_once() {
    // The table's method names are what the header walk sends; a typo would silently skip a
    // route, so each must be a real method and each (method, path) unique.
    let all = routes::all_routes();
    for (method, path) in &all {
        assert!(
            ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(method),
            "{method} {path}"
        );
    }
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "a route is listed twice");
}

#[tokio::test]
async fn every_route_answers_with_the_security_headers() {
    let app = spawn_app().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let all = routes::all_routes();
    assert!(
        all.len() > routes::table().len(),
        "the admin routes are walked too"
    );
    for (method, path) in all {
        let concrete: String = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        let res = http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(&concrete),
            )
            .send()
            .await
            .unwrap();
        let what = format!("{method} {path} -> {}", res.status());
        assert_ne!(res.status(), StatusCode::INTERNAL_SERVER_ERROR, "{what}");
        let h = res.headers();
        let header = |name: &str| h.get(name).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            header("content-security-policy").as_deref(),
            Some(CONTENT_SECURITY_POLICY),
            "{what}"
        );
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"), "{what}");
        assert_eq!(
            header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{what}"
        );
        assert_eq!(
            header("referrer-policy").as_deref(),
            Some("no-referrer"),
            "{what}"
        );
        assert!(header("server").is_none(), "no Server banner: {what}");
        assert!(
            header("strict-transport-security").is_none(),
            "no HSTS over plain HTTP: {what}"
        );
        assert!(
            header("access-control-allow-origin").is_none() || PUBLIC_CACHEABLE.contains(&path),
            "no CORS: {what}"
        );
        let cache = header("cache-control").unwrap_or_default();
        if PUBLIC_CACHEABLE.contains(&path) {
            assert!(cache.starts_with("public"), "{what}: {cache}");
        } else {
            assert!(cache.contains("no-store"), "{what}: {cache:?}");
        }
    }
}

#[tokio::test]
async fn pages_with_forms_refuse_cross_site_posts() {
    let app = spawn_app().await;
    for path in [
        "/login",
        "/login/passkey",
        "/login/factor",
        "/login/enrol",
        "/login/recovery-codes",
        "/consent",
        "/logout/confirm",
        "/account/security",
    ] {
        for (name, value) in [
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://evil.example"),
        ] {
            let res = reqwest::Client::new()
                .post(app.url(path))
                .header(name, value)
                .form(&[("csrf_token", "x"), ("interaction_id", "x")])
                .send()
                .await
                .unwrap();
            assert_eq!(
                res.status(),
                StatusCode::FORBIDDEN,
                "{path} with {name}: {value}"
            );
            assert!(res.headers().get("set-cookie").is_none(), "{path}");
        }
    }
}

/// The policy and body of a page, and whether the body loads the passkey script.
async fn policy_of(res: reqwest::Response) -> (String, bool) {
    assert_eq!(res.status(), StatusCode::OK);
    let policy = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = res.text().await.unwrap();
    let script = palisade_pages::assets::WEBAUTHN_SCRIPT.path();
    let loads_script = body.contains(&format!(r#"<script src="{script}" defer></script>"#));
    assert_eq!(
        body.matches("<script").count(),
        usize::from(loads_script),
        "no script but ours: {body}"
    );
    (policy, loads_script)
}

/// The login page and, once signed in, the account page of `app`: (policy, loads the script).
async fn login_and_account_pages(app: &TestApp) -> [(String, bool); 2] {
    let client = register_client(app, ClientSpec::default()).await;
    create_user(app, "alice").await;
    let browser = Browser::new();
    let (_, challenge) = pkce_pair();
    let login = location(
        &browser
            .get(&authorize_url(app, &client, &challenge, &[]))
            .await,
    );
    assert!(login.contains("/login?"), "{login}");
    let login_page = policy_of(browser.get(&login).await).await;
    let next = location(&browser.log_in(&login, "alice", PASSWORD).await);
    if next.contains("/consent?") {
        browser.consent(&next, "allow").await;
    }
    let account_page = policy_of(browser.get(&app.url("/account/security")).await).await;
    [login_page, account_page]
}

#[tokio::test]
async fn pages_that_offer_a_passkey_may_run_our_script_and_nothing_else() {
    // On a host name, passkeys are offered: the login and account pages load webauthn.js and
    // their policy lets exactly that in.
    let app = spawn_app_on_localhost().await;
    for (page, (policy, loads_script)) in ["login", "account"]
        .iter()
        .zip(login_and_account_pages(&app).await)
    {
        assert!(loads_script, "{page} offers a passkey");
        assert_eq!(policy, SCRIPT_CONTENT_SECURITY_POLICY, "{page}");
    }
    // On an IP address there is no WebAuthn relying party: no passkey, no script, and the
    // policy that allows none.
    let app = spawn_app().await;
    for (page, (policy, loads_script)) in ["login", "account"]
        .iter()
        .zip(login_and_account_pages(&app).await)
    {
        assert!(!loads_script, "{page} offers no passkey on an IP address");
        assert_eq!(policy, CONTENT_SECURITY_POLICY, "{page}");
    }
}

/// A self-made CA and a certificate for 127.0.0.1 it signed, as PEM files in `dir`; returns
/// the CA certificate (DER) for the client's trust store.
fn test_pki(dir: &std::path::Path) -> rustls::pki_types::CertificateDer<'static> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &*ca)
        .unwrap();
    std::fs::write(dir.join("cert.pem"), leaf.pem() + &ca.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), leaf_key.serialize_pem()).unwrap();
    ca.der().clone()
}

/// One HTTP/1.1 request over TLS with rustls itself (the one TLS stack in the build), trusting
/// only `ca`. Returns the negotiated version and the raw response.
fn https_get(
    port: u16,
    ca: rustls::pki_types::CertificateDer<'static>,
    path: &str,
) -> (rustls::ProtocolVersion, String) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").unwrap().to_owned();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, socket);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    // actix closes without a TLS close_notify sometimes; what arrived before is the answer.
    let _ = tls.read_to_end(&mut response);
    let version = tls.conn.protocol_version().unwrap();
    (version, String::from_utf8_lossy(&response).into_owned())
}

/// A TLS 1.1 ClientHello (no supported_versions extension), sent raw: rustls has no TLS 1.1
/// client to do it for us. Returns the server's first bytes.
fn tls11_client_hello(port: u16) -> Vec<u8> {
    let mut body = vec![0x03, 0x02]; // client_version: TLS 1.1
    body.extend([7u8; 32]); // random
    body.push(0); // session id
    body.extend([0x00, 0x04, 0xc0, 0x13, 0xc0, 0x14]); // ECDHE-RSA-AES-CBC-SHA suites
    body.extend([0x01, 0x00]); // compression: null
    let mut handshake = vec![0x01, 0x00, (body.len() >> 8) as u8, body.len() as u8];
    handshake.extend(body);
    let mut record = vec![
        0x16,
        0x03,
        0x01,
        (handshake.len() >> 8) as u8,
        handshake.len() as u8,
    ];
    record.extend(handshake);
    let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    socket.write_all(&record).unwrap();
    let mut answer = vec![0u8; 64];
    let n = socket.read(&mut answer).unwrap_or(0);
    answer.truncate(n);
    answer
}

#[tokio::test]
async fn https_answers_with_hsts_and_refuses_tls_1_1() {
    let dir = tempfile::tempdir().unwrap();
    let ca = test_pki(dir.path());
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let app = spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        s.issuer.set_scheme("https").unwrap();
        s.tls = Some(palisade::tls::TlsFiles { cert, key });
    })
    .await;
    assert!(app.state.settings.sends_hsts() && app.state.cookies.secure);
    let port = app.state.settings.bind.port();

    for path in ["/healthz", "/no-such-page", "/admin/v1/users"] {
        let (ca, path) = (ca.clone(), path.to_owned());
        let (version, response) = tokio::task::spawn_blocking(move || https_get(port, ca, &path))
            .await
            .unwrap();
        assert!(matches!(
            version,
            rustls::ProtocolVersion::TLSv1_3 | rustls::ProtocolVersion::TLSv1_2
        ));
        let lower = response.to_ascii_lowercase();
        assert!(lower.starts_with("http/1.1 "), "{response}");
        assert!(
            lower.contains(&format!(
                "strict-transport-security: {}",
                STRICT_TRANSPORT_SECURITY.to_ascii_lowercase()
            )),
            "{response}"
        );
    }

    let answer = tokio::task::spawn_blocking(move || tls11_client_hello(port))
        .await
        .unwrap();
    // A TLS alert record (21), fatal (2): handshake_failure (40, what rustls sends) or
    // protocol_version (70) — never a ServerHello for TLS 1.1.
    assert_eq!(answer.first(), Some(&21), "{answer:?}");
    assert_eq!(answer.get(5), Some(&2), "{answer:?}");
    assert!(matches!(answer.get(6), Some(40 | 70)), "{answer:?}");
}

#[test]
fn serving_plain_http_on_a_reachable_address_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[(&str, &str)]| {
        std::process::Command::new(palisade_binary())
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PALISADE_DATA_DIR", dir.path())
            .env("PALISADE_BIND", "0.0.0.0:0")
            .envs(extra.iter().copied())
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("PALISADE_BIND") && stderr.contains("PALISADE_BEHIND_TLS_PROXY"),
        "{stderr}"
    );
    // Behind a TLS proxy the issuer must still be https; the refusal then names the issuer.
    let out = run(&[("PALISADE_BEHIND_TLS_PROXY", "true")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PALISADE_ISSUER"));
}

#[test]
fn the_compose_file_declares_its_tls_proxy() {
    let compose = include_str!("../../../../docker-compose.yml");
    assert!(compose.contains("PALISADE_BIND: 0.0.0.0:8080"));
    assert!(
        compose.contains("PALISADE_BEHIND_TLS_PROXY: \"true\""),
        "{compose}"
    );
}
