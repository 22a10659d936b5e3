//! Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document; docs/clients.md):
//! a client whose `client_id` is the HTTPS URL of its metadata document, served here by a real
//! HTTPS server on loopback with a certificate from a CA made for the test, which Palisade is
//! told to trust (`ca_file`). Each test counts what the document host was asked, so "refused
//! without fetching" and "served from the cache" are proven, not assumed.

use crate::harness::{TestApp, spawn_app_with};
use crate::support::{Browser, PASSWORD, create_user, location, pkce_pair, query_param};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use palisade::client_documents::ClientDocumentSettings;
use palisade_store::testing::{TestDatabase, TestEphemeral};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CALLBACK: &str = "https://mcp.example/callback";

/// What the document host answers on one path.
#[derive(Clone)]
struct Served {
    status: u16,
    content_type: &'static str,
    cache_control: Option<&'static str>,
    location: Option<String>,
    body: String,
    delay: Option<Duration>,
}

impl Served {
    fn json(body: Value) -> Self {
        Self {
            status: 200,
            content_type: "application/json",
            cache_control: None,
            location: None,
            body: body.to_string(),
            delay: None,
        }
    }
}

#[derive(Default)]
struct HostState {
    routes: Mutex<HashMap<String, Served>>,
    hits: Mutex<HashMap<String, usize>>,
}

/// An HTTPS server on 127.0.0.1 serving documents, and the CA file that trusts it.
struct DocumentHost {
    origin: String,
    state: Arc<HostState>,
    ca_file: std::path::PathBuf,
    handle: actix_web::dev::ServerHandle,
    _dir: tempfile::TempDir,
}

impl DocumentHost {
    async fn start() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &*ca)
            .unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone(), ca.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
        let state = Arc::new(HostState::default());
        let shared = web::Data::from(state.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .default_service(web::to(serve))
        })
        .workers(1)
        .listen_rustls_0_23(listener, config)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            origin: format!("https://127.0.0.1:{port}"),
            state,
            ca_file,
            handle,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    fn serve(&self, path: &str, served: Served) {
        self.state
            .routes
            .lock()
            .unwrap()
            .insert(path.to_owned(), served);
    }

    /// A valid public-client document for `path`, naming itself.
    fn serve_document(&self, path: &str) -> String {
        let id = self.url(path);
        self.serve(path, Served::json(document(&id)));
        id
    }

    fn hits(&self, path: &str) -> usize {
        self.state
            .hits
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    fn settings(&self) -> ClientDocumentSettings {
        ClientDocumentSettings {
            enabled: true,
            allow_loopback: true,
            timeout_ms: 1_000,
            ca_file: Some(self.ca_file.clone()),
            ..ClientDocumentSettings::default()
        }
    }
}

impl Drop for DocumentHost {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn serve(req: HttpRequest, state: web::Data<HostState>) -> HttpResponse {
    let path = req.path().to_owned();
    *state.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let served = state.routes.lock().unwrap().get(&path).cloned();
    let Some(served) = served else {
        return HttpResponse::NotFound().finish();
    };
    if let Some(delay) = served.delay {
        tokio::time::sleep(delay).await;
    }
    let mut res =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(served.status).unwrap());
    res.insert_header(("content-type", served.content_type));
    if let Some(cache) = served.cache_control {
        res.insert_header(("cache-control", cache));
    }
    if let Some(location) = served.location {
        res.insert_header(("location", location));
    }
    res.body(served.body)
}

fn document(client_id: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_name": "Example MCP Client",
        "redirect_uris": [CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": "openid profile offline_access",
    })
}

async fn palisade_with(settings: ClientDocumentSettings) -> TestApp {
    spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        s.client_id_metadata_documents = settings;
    })
    .await
}

fn authorize_url(app: &TestApp, client_id: &str, redirect_uri: &str, challenge: &str) -> String {
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid offline_access")
        .append_pair("state", "st-1")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    url.into()
}

/// `/authorize` refuses on its own page: 400, no redirect anywhere. Returns the page.
async fn refused_on_page(app: &TestApp, client_id: &str) -> String {
    let (_, challenge) = pkce_pair();
    let res = app
        .client
        .get(authorize_url(app, client_id, CALLBACK, &challenge))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{client_id}");
    assert!(res.headers().get("location").is_none());
    res.text().await.unwrap()
}

#[tokio::test]
async fn a_client_known_by_its_document_signs_a_user_in_end_to_end() {
    let host = DocumentHost::start().await;
    let client_id = host.serve_document("/oauth/client.json");
    let app = palisade_with(host.settings()).await;
    create_user(&app, "alice").await;

    let discovery: Value = app
        .client
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["client_id_metadata_document_supported"],
        json!(true)
    );

    let browser = Browser::new();
    let (verifier, challenge) = pkce_pair();
    let mut next = location(
        &browser
            .get(&authorize_url(&app, &client_id, CALLBACK, &challenge))
            .await,
    );
    next = location(&browser.log_in(&next, "alice", PASSWORD).await);
    assert!(next.contains("/consent?"), "{next}");
    let consent = browser.get(&next).await.text().await.unwrap();
    assert!(consent.contains("Example MCP Client"), "{consent}");
    assert!(
        consent.contains("not registered with this server"),
        "the page says nobody registered it: {consent}"
    );
    let host_name = host.origin.trim_start_matches("https://");
    assert!(
        consent.contains(host_name),
        "the page names the host: {consent}"
    );
    let redirect = location(&browser.consent(&next, "allow").await);
    assert!(redirect.starts_with(CALLBACK), "{redirect}");
    let code = query_param(&redirect, "code").unwrap();

    let res = app
        .client
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let tokens: Value = res.json().await.unwrap();
    assert!(tokens["id_token"].is_string() && tokens["access_token"].is_string());
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let res = app
        .client
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", client_id.as_str()),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the refresh-token family is the client's"
    );
    // Authorize, token and refresh: one fetch, then the cache (no Cache-Control: 5 minutes).
    assert_eq!(host.hits("/oauth/client.json"), 1);
}

#[tokio::test]
async fn documents_that_are_not_what_they_claim_are_refused_and_nothing_is_redirected() {
    let host = DocumentHost::start().await;
    // A document naming another URL as its client_id.
    host.serve(
        "/liar.json",
        Served::json(document("https://mcp.example/client.json")),
    );
    // A redirect to another host (localhost is another origin than 127.0.0.1).
    let elsewhere = host
        .url("/elsewhere.json")
        .replace("127.0.0.1", "localhost");
    host.serve(
        "/moved.json",
        Served {
            status: 302,
            location: Some(elsewhere.clone()),
            ..Served::json(json!({}))
        },
    );
    host.serve("/elsewhere.json", Served::json(document(&elsewhere)));
    // Too large, not JSON, too slow, not found, a secret inside.
    let mut padded = document(&host.url("/large.json"));
    padded["padding"] = json!("x".repeat(6 * 1024));
    host.serve("/large.json", Served::json(padded));
    host.serve(
        "/page.json",
        Served {
            content_type: "text/html",
            ..Served::json(document(&host.url("/page.json")))
        },
    );
    host.serve(
        "/slow.json",
        Served {
            delay: Some(Duration::from_secs(3)),
            ..Served::json(document(&host.url("/slow.json")))
        },
    );
    let mut secret = document(&host.url("/secret.json"));
    secret["client_secret"] = json!("shared");
    host.serve("/secret.json", Served::json(secret));
    let app = palisade_with(host.settings()).await;

    for (path, why) in [
        ("/liar.json", "its client_id is not the URL"),
        ("/moved.json", "redirect"),
        ("/large.json", "larger than"),
        ("/page.json", "not application/json"),
        ("/slow.json", "in time"),
        ("/missing.json", "404"),
        ("/secret.json", "client_secret"),
    ] {
        let page = refused_on_page(&app, &host.url(path)).await;
        assert!(page.contains(why), "{path}: {page}");
    }
    assert_eq!(
        host.hits("/elsewhere.json"),
        0,
        "the redirect off-host is not followed"
    );

    // A failure is remembered: asking again does not make Palisade fetch again.
    let before = host.hits("/liar.json");
    refused_on_page(&app, &host.url("/liar.json")).await;
    assert_eq!(host.hits("/liar.json"), before);
    // ...until its memory ends (30 s by default, on the server's clock).
    app.clock.advance(chrono::Duration::seconds(31));
    refused_on_page(&app, &host.url("/liar.json")).await;
    assert_eq!(host.hits("/liar.json"), before + 1);
}

#[tokio::test]
async fn private_and_loopback_addresses_are_never_fetched_unless_allowed() {
    let host = DocumentHost::start().await;
    let client_id = host.serve_document("/client.json");
    let app = palisade_with(ClientDocumentSettings {
        allow_loopback: false,
        ..host.settings()
    })
    .await;
    let page = refused_on_page(&app, &client_id).await;
    assert!(
        page.contains("not an address Palisade may fetch from"),
        "{page}"
    );
    // A name that resolves to loopback is refused at resolution.
    let by_name = client_id.replace("127.0.0.1", "localhost");
    let page = refused_on_page(&app, &by_name).await;
    assert!(page.contains("resolves to no address"), "{page}");
    // Plain http is refused before any connection when loopback is not allowed.
    let page = refused_on_page(&app, &client_id.replace("https://", "http://")).await;
    assert!(page.contains("must use https"), "{page}");
    assert_eq!(host.hits("/client.json"), 0);
}

#[tokio::test]
async fn the_feature_is_off_by_default_and_a_url_is_then_just_an_unknown_client() {
    let host = DocumentHost::start().await;
    let client_id = host.serve_document("/client.json");
    let app = spawn_app_with(
        TestDatabase::create().await,
        TestEphemeral::create(),
        |_| {},
    )
    .await;
    let page = refused_on_page(&app, &client_id).await;
    assert!(page.contains("not registered"), "{page}");
    assert_eq!(host.hits("/client.json"), 0);
    let discovery: Value = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        discovery
            .get("client_id_metadata_document_supported")
            .is_none()
    );
}

#[tokio::test]
async fn the_document_is_cached_as_its_headers_say_and_changes_are_picked_up() {
    let host = DocumentHost::start().await;
    let client_id = host.url("/client.json");
    host.serve(
        "/client.json",
        Served {
            cache_control: Some("public, max-age=60"),
            ..Served::json(document(&client_id))
        },
    );
    let app = palisade_with(host.settings()).await;
    let (_, challenge) = pkce_pair();
    let to_login = |res: reqwest::Response| {
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        location(&res)
    };
    let first = Browser::new()
        .get(&authorize_url(&app, &client_id, CALLBACK, &challenge))
        .await;
    assert!(to_login(first).contains("/login?"));
    let again = Browser::new()
        .get(&authorize_url(&app, &client_id, CALLBACK, &challenge))
        .await;
    assert!(to_login(again).contains("/login?"));
    assert_eq!(host.hits("/client.json"), 1, "max-age=60 is honoured");

    // The document drops the redirect URI; after max-age the change applies.
    let mut changed = document(&client_id);
    changed["redirect_uris"] = json!(["https://mcp.example/other"]);
    host.serve(
        "/client.json",
        Served {
            cache_control: Some("no-store"),
            ..Served::json(changed)
        },
    );
    app.clock.advance(chrono::Duration::seconds(61));
    let page = refused_on_page(&app, &client_id).await;
    assert!(page.contains("redirect URI is not registered"), "{page}");
    assert_eq!(host.hits("/client.json"), 2);
    // no-store: every use fetches again.
    refused_on_page(&app, &client_id).await;
    assert_eq!(host.hits("/client.json"), 3);
}

#[tokio::test]
async fn loopback_redirect_uris_of_a_document_match_exactly_port_included() {
    let host = DocumentHost::start().await;
    let client_id = host.url("/native.json");
    let mut native = document(&client_id);
    native["application_type"] = json!("native");
    native["redirect_uris"] = json!(["http://127.0.0.1:7777/callback"]);
    host.serve("/native.json", Served::json(native));
    let app = palisade_with(host.settings()).await;
    let (_, challenge) = pkce_pair();
    let exact = Browser::new()
        .get(&authorize_url(
            &app,
            &client_id,
            "http://127.0.0.1:7777/callback",
            &challenge,
        ))
        .await;
    assert_eq!(exact.status(), StatusCode::SEE_OTHER);
    let other_port = app
        .client
        .get(authorize_url(
            &app,
            &client_id,
            "http://127.0.0.1:7778/callback",
            &challenge,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(other_port.status(), StatusCode::BAD_REQUEST);
    assert!(other_port.headers().get("location").is_none());
}

#[tokio::test]
async fn a_node_fetches_a_bounded_number_of_documents_at_once_and_forgets_nothing_when_busy() {
    let host = DocumentHost::start().await;
    let paths: Vec<String> = (0..palisade::client_documents::MAX_CONCURRENT_FETCHES + 3)
        .map(|i| format!("/slow-{i}.json"))
        .collect();
    for path in &paths {
        host.serve(
            path,
            Served {
                delay: Some(Duration::from_secs(3)),
                ..Served::json(document(&host.url(path)))
            },
        );
    }
    let app = palisade_with(host.settings()).await;
    let (_, challenge) = pkce_pair();
    let statuses = futures_util::future::join_all(paths.iter().map(|path| {
        let url = authorize_url(&app, &host.url(path), CALLBACK, &challenge);
        let http = app.client.clone();
        async move { http.get(url).send().await.unwrap().status() }
    }))
    .await;
    let busy: Vec<&String> = paths
        .iter()
        .zip(&statuses)
        .filter(|(_, s)| **s == StatusCode::SERVICE_UNAVAILABLE)
        .map(|(p, _)| p)
        .collect();
    let timed_out = statuses
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST)
        .count();
    assert!(!busy.is_empty(), "{statuses:?}");
    assert_eq!(busy.len() + timed_out, paths.len(), "{statuses:?}");
    assert!(timed_out <= palisade::client_documents::MAX_CONCURRENT_FETCHES);
    for path in &busy {
        assert_eq!(host.hits(path), 0, "a busy node asks the host nothing");
    }
    // The busy answer was not remembered: once the node is free, the URL is fetched.
    let retry = busy[0];
    refused_on_page(&app, &host.url(retry)).await;
    assert_eq!(host.hits(retry), 1);
}

#[tokio::test]
async fn turning_the_feature_off_stops_clients_resolved_while_it_was_on() {
    let host = DocumentHost::start().await;
    let client_id = host.serve_document("/client.json");
    let app = palisade_with(host.settings()).await;
    let (_, challenge) = pkce_pair();
    let res = Browser::new()
        .get(&authorize_url(&app, &client_id, CALLBACK, &challenge))
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "resolved while on");
    // A second node of the same deployment with the feature off: the saved client row is there,
    // and still no URL is a client.
    let off = crate::harness::start_node(&app, |_| {}).await;
    let res = off
        .client
        .get(
            authorize_url(&app, &client_id, CALLBACK, &challenge)
                .replace(&app.base_url, &off.base_url),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("not registered"));
}

/// An MCP client as the MCP authorization spec has it: known by its document, asking for the
/// MCP server as its resource (RFC 8707), which the operator lists for document clients.
#[tokio::test]
async fn an_mcp_client_gets_a_token_for_the_mcp_server_it_names_as_its_resource() {
    const MCP_SERVER: &str = "https://mcp.example/mcp";
    let host = DocumentHost::start().await;
    let client_id = host.url("/mcp-client.json");
    let mut doc = document(&client_id);
    doc["scope"] = json!("mcp:tools offline_access");
    host.serve("/mcp-client.json", Served::json(doc));
    let app = spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        s.resources = palisade_flow::resource::ResourceRegistry::from_settings(&[
            palisade_flow::resource::ResourceSetting {
                uri: MCP_SERVER.into(),
                scopes: vec!["mcp:tools".into()],
            },
            palisade_flow::resource::ResourceSetting {
                uri: "https://bank.example/api".into(),
                scopes: vec!["mcp:tools".into()],
            },
        ])
        .unwrap();
        s.registration.allowed_scopes = vec!["mcp:tools".into()];
        s.client_id_metadata_documents = ClientDocumentSettings {
            resources: vec![MCP_SERVER.into()],
            ..host.settings()
        };
    })
    .await;
    create_user(&app, "alice").await;
    let (verifier, challenge) = pkce_pair();
    let with_resource = |resource: &str| {
        let mut url =
            url::Url::parse(&authorize_url(&app, &client_id, CALLBACK, &challenge)).unwrap();
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "scope")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(kept)
            .append_pair("scope", "mcp:tools offline_access")
            .append_pair("resource", resource);
        url.to_string()
    };

    // Another known resource, not one the operator lists for document clients.
    let refused = location(
        &Browser::new()
            .get(&with_resource("https://bank.example/api"))
            .await,
    );
    assert!(refused.starts_with(CALLBACK), "{refused}");
    assert_eq!(
        query_param(&refused, "error").as_deref(),
        Some("invalid_target")
    );

    let redirect = Browser::new()
        .authorize(&with_resource(MCP_SERVER), "alice")
        .await;
    let code = query_param(&redirect, "code").unwrap_or_else(|| panic!("{redirect}"));
    let res = app
        .client
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier.as_str()),
            ("resource", MCP_SERVER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let tokens: Value = res.json().await.unwrap();
    assert_eq!(tokens["scope"], json!("mcp:tools"));
    use base64::Engine as _;
    let payload = tokens["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], json!(MCP_SERVER));
    assert_eq!(claims["client_id"], json!(client_id));
}
