//! `static/webauthn.js` against webauthn-rs itself, in headless Chromium with a WebDriver virtual
//! authenticator (WebAuthn Level 3 §5.1.3-5.1.4, §11.3): the options the library sends reach
//! `navigator.credentials` through the script, and what the script posts back is what the
//! library verifies: a registration, a passwordless sign-in with a discoverable credential
//! (started by the button while the autofill's conditional request waits), and an assertion
//! for a known user. Then again with the WebAuthn Level 3 JSON helpers removed from the page
//! (`parse*OptionsFromJSON`, `toJSON`), so the script's own base64url path is proven too.
//!
//! The pages are palisade-pages' own, served under the route's CSP, by a small server that
//! does only the ceremonies: the engine's rules (who may sign in, sessions, `amr`) are
//! passkeys_in_chromium.rs's business.

use crate::harness::free_port;
use crate::headless_chromium::{Chromium, PATIENCE};
use crate::virtual_authenticator::VirtualAuthenticator;
use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use askama::Template;
use fantoccini::wd::WebDriverCompatibleCommand;
use palisade::security_headers::{allow_own_script, default_headers};
use palisade_pages::catalogue::CONSOLE_EN;
use palisade_pages::console::ConsoleFrame;
use palisade_pages::{AccountSecurityPage, LoginPage, SecondFactorPage};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use url::Url;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Uuid, Webauthn, WebauthnBuilder,
};

/// The relying party: one user, the ceremonies in flight, the passkeys registered, and what
/// each posted credential came to.
struct RelyingParty {
    webauthn: Webauthn,
    user: Uuid,
    registration: Mutex<Option<PasskeyRegistration>>,
    discoverable: Mutex<Option<DiscoverableAuthentication>>,
    authentication: Mutex<Option<PasskeyAuthentication>>,
    passkeys: Mutex<Vec<Passkey>>,
    outcomes: Mutex<Vec<String>>,
}

impl RelyingParty {
    fn record(&self, outcome: String) -> HttpResponse {
        self.outcomes.lock().unwrap().push(outcome.clone());
        HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(format!(
                "<!doctype html><title>done</title><h1 id=\"outcome\">{outcome}</h1>"
            ))
    }
}

/// A page carrying the script, with the policy the real routes give it.
fn scripted(rendered: Result<String, askama::Error>) -> HttpResponse {
    let mut res = HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(rendered.unwrap());
    allow_own_script(&mut res);
    res
}

fn credential_of(form: &HashMap<String, String>) -> &str {
    form.get("credential")
        .map(String::as_str)
        .unwrap_or_default()
}

async fn asset(req: HttpRequest) -> HttpResponse {
    match palisade_pages::assets::all()
        .into_iter()
        .find(|a| a.path() == req.path())
    {
        Some(asset) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, asset.content_type))
            .body(asset.bytes),
        None => HttpResponse::NotFound().finish(),
    }
}

async fn show_registration(rp: web::Data<RelyingParty>) -> HttpResponse {
    let (options, state) = rp
        .webauthn
        .start_passkey_registration(rp.user, "alice", "Alice Example", None)
        .unwrap();
    *rp.registration.lock().unwrap() = Some(state);
    // `start_passkey_registration` asks for `residentKey: "discouraged"`, and an authenticator
    // that obeys (this virtual one does) makes a credential that only an `allowCredentials`
    // list can find: no passwordless sign-in with it. Asking for a discoverable one where the
    // authenticator can keep it changes nothing webauthn-rs verifies.
    let mut options = serde_json::to_value(&options).unwrap();
    options["publicKey"]["authenticatorSelection"]["residentKey"] = json!("preferred");
    let options = options.to_string();
    scripted(
        AccountSecurityPage {
            frame: ConsoleFrame {
                text: &CONSOLE_EN,
                console_name: CONSOLE_EN.account_console,
                heading: "Security",
                user_display: "alice",
                nav: Vec::new(),
                other_console: None,
                sign_out_href: "/logout".into(),
                notice: None,
                problem: None,
            },
            text: &palisade_pages::catalogue::account::EN,
            password_refused: false,
            csrf_token: "csrf",
            form_action: "/register",
            factors: vec![],
            recovery_codes_left: 0,
            totp: None,
            passkey_creation: Some(&options),
            must_keep_a_factor: false,
        }
        .render(),
    )
}

async fn register(
    rp: web::Data<RelyingParty>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    assert_eq!(form.get("action").map(String::as_str), Some("passkey-add"));
    let state = rp.registration.lock().unwrap().take().unwrap();
    let outcome = serde_json::from_str::<RegisterPublicKeyCredential>(credential_of(&form))
        .map_err(|e| format!("unreadable: {e}"))
        .and_then(|credential| {
            rp.webauthn
                .finish_passkey_registration(&credential, &state)
                .map_err(|e| format!("refused: {e}"))
        });
    match outcome {
        Ok(passkey) => {
            rp.passkeys.lock().unwrap().push(passkey);
            rp.record("registered".into())
        }
        Err(e) => rp.record(format!("registration {e}")),
    }
}

async fn show_login(rp: web::Data<RelyingParty>) -> HttpResponse {
    let (options, state) = rp.webauthn.start_discoverable_authentication().unwrap();
    *rp.discoverable.lock().unwrap() = Some(state);
    let options = serde_json::to_string(&options).unwrap();
    scripted(
        LoginPage {
            client_name: Some("Example"),
            username: "",
            error: None,
            csrf_token: "csrf",
            form_action: "/login",
            interaction_id: "ix",
            passkey_request: Some(&options),
            passkey_action: "/login/passkey",
        }
        .render(),
    )
}

async fn sign_in(
    rp: web::Data<RelyingParty>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let state = rp.discoverable.lock().unwrap().take().unwrap();
    let passkeys = rp.passkeys.lock().unwrap().clone();
    let outcome = serde_json::from_str::<PublicKeyCredential>(credential_of(&form))
        .map_err(|e| format!("unreadable: {e}"))
        .and_then(|credential| {
            let (user, credential_id) = rp
                .webauthn
                .identify_discoverable_authentication(&credential)
                .map_err(|e| format!("anonymous: {e}"))?;
            if user != rp.user {
                return Err(format!("someone else: {user}"));
            }
            let passkey = passkeys
                .iter()
                .find(|p| p.cred_id().as_slice() == credential_id)
                .ok_or("an unknown credential")?;
            rp.webauthn
                .finish_discoverable_authentication_v2(&credential, state, passkey)
                .map_err(|e| format!("refused: {e}"))
        });
    match outcome {
        Ok(result) => rp.record(format!("signed in uv={}", result.user_verified())),
        Err(e) => rp.record(format!("sign-in {e}")),
    }
}

async fn show_factor(rp: web::Data<RelyingParty>) -> HttpResponse {
    let passkeys = rp.passkeys.lock().unwrap().clone();
    let (options, state) = rp.webauthn.start_passkey_authentication(&passkeys).unwrap();
    *rp.authentication.lock().unwrap() = Some(state);
    let options = serde_json::to_string(&options).unwrap();
    scripted(
        SecondFactorPage {
            client_name: Some("Example"),
            csrf_token: "csrf",
            form_action: "/login/factor",
            interaction_id: "ix",
            has_totp: true,
            has_recovery_codes: true,
            passkey_request: Some(&options),
            error: None,
        }
        .render(),
    )
}

async fn verify(
    rp: web::Data<RelyingParty>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    assert_eq!(form.get("method").map(String::as_str), Some("passkey"));
    let state = rp.authentication.lock().unwrap().take().unwrap();
    let outcome = serde_json::from_str::<PublicKeyCredential>(credential_of(&form))
        .map_err(|e| format!("unreadable: {e}"))
        .and_then(|credential| {
            rp.webauthn
                .finish_passkey_authentication(&credential, &state)
                .map_err(|e| format!("refused: {e}"))
        });
    match outcome {
        Ok(result) => rp.record(format!("verified uv={}", result.user_verified())),
        Err(e) => rp.record(format!("verification {e}")),
    }
}

/// Starts the relying party on `http://localhost:PORT`; returns its origin and state.
async fn start_relying_party() -> (String, web::Data<RelyingParty>) {
    let port = free_port();
    let origin = format!("http://localhost:{port}");
    let webauthn = WebauthnBuilder::new("localhost", &Url::parse(&origin).unwrap())
        .unwrap()
        .rp_name("Palisade")
        .build()
        .unwrap();
    let rp = web::Data::new(RelyingParty {
        webauthn,
        user: Uuid::new_v4(),
        registration: Mutex::new(None),
        discoverable: Mutex::new(None),
        authentication: Mutex::new(None),
        passkeys: Mutex::new(Vec::new()),
        outcomes: Mutex::new(Vec::new()),
    });
    let shared = rp.clone();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(default_headers(false))
            .app_data(shared.clone())
            .route("/static/{file}", web::get().to(asset))
            .route("/register", web::get().to(show_registration))
            .route("/register", web::post().to(register))
            .route("/login", web::get().to(show_login))
            .route("/login/passkey", web::post().to(sign_in))
            .route("/factor", web::get().to(show_factor))
            .route("/login/factor", web::post().to(verify))
    })
    .workers(1)
    .bind(("127.0.0.1", port))
    .unwrap()
    .run();
    tokio::spawn(server);
    (origin, rp)
}

/// Chromium's DevTools command `Page.addScriptToEvaluateOnNewDocument` through chromedriver:
/// `source` runs in every later page before the page's own scripts.
#[derive(Debug)]
struct BeforeEveryPage(&'static str);

impl WebDriverCompatibleCommand for BeforeEveryPage {
    fn endpoint(&self, base_url: &Url, session_id: Option<&str>) -> Result<Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &Url) -> (reqwest::Method, Option<String>) {
        let command = json!({
            "cmd": "Page.addScriptToEvaluateOnNewDocument",
            "params": { "source": self.0 },
        });
        (reqwest::Method::POST, Some(command.to_string()))
    }
}

/// A browser of WebAuthn Level 2: no JSON helpers.
const WITHOUT_JSON_HELPERS: &str = "delete PublicKeyCredential.parseCreationOptionsFromJSON; \
     delete PublicKeyCredential.parseRequestOptionsFromJSON; \
     delete PublicKeyCredential.prototype.toJSON;";

async fn click_when_shown(browser: &Chromium, css: &str) {
    let started = Instant::now();
    loop {
        let button = browser.wait_for(css).await;
        if button.is_displayed().await.unwrap() {
            button.click().await.unwrap();
            return;
        }
        assert!(started.elapsed() < PATIENCE, "{css} stays hidden");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the relying party made of the form the script just submitted.
async fn outcome(browser: &Chromium) -> String {
    browser.wait_for("#outcome").await.text().await.unwrap()
}

/// One registration, a passwordless sign-in by the autofill's conditional request, another
/// by the button (which aborts the conditional request first), and a second factor, all
/// through the script.
async fn ceremonies(
    browser: &Chromium,
    authenticator: &mut VirtualAuthenticator,
    (origin, rp): (&str, &RelyingParty),
    variant: &str,
) {
    browser
        .client
        .goto(&format!("{origin}/register"))
        .await
        .unwrap();
    click_when_shown(browser, "#passkey-add").await;
    assert_eq!(outcome(browser).await, "registered", "{variant}");
    let held = authenticator.credentials(browser).await;
    assert!(
        held.iter()
            .all(|c| c["isResidentCredential"] == json!(true)),
        "{variant}: discoverable, so usable without a username: {held:?}"
    );

    // The autofill: the page's conditional request finds the passkey by itself.
    browser
        .client
        .goto(&format!("{origin}/login"))
        .await
        .unwrap();
    assert_eq!(outcome(browser).await, "signed in uv=true", "{variant}");

    // The button: the conditional request waits (no authenticator yet) until the click aborts
    // it for a modal one.
    let held = authenticator.unplug(browser).await;
    let outcomes_before = rp.outcomes.lock().unwrap().len();
    browser
        .client
        .goto(&format!("{origin}/login"))
        .await
        .unwrap();
    browser.wait_for("#passkey-sign-in").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    authenticator.plug_in(browser, &held).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        rp.outcomes.lock().unwrap().len(),
        outcomes_before,
        "{variant}: the waiting conditional request did not answer by itself"
    );
    click_when_shown(browser, "#passkey-sign-in").await;
    assert_eq!(outcome(browser).await, "signed in uv=true", "{variant}");

    browser
        .client
        .goto(&format!("{origin}/factor"))
        .await
        .unwrap();
    click_when_shown(browser, "#passkey-verify").await;
    assert_eq!(outcome(browser).await, "verified uv=true", "{variant}");

    let problems = browser.console_problems().await;
    assert!(problems.is_empty(), "{variant}: {problems:#?}");
}

#[tokio::test]
async fn the_script_carries_webauthn_rs_ceremonies_with_and_without_the_json_helpers() {
    let (origin, rp) = start_relying_party().await;
    let browser = Chromium::launch().await;
    let mut authenticator = VirtualAuthenticator::add(&browser).await;

    ceremonies(
        &browser,
        &mut authenticator,
        (&origin, rp.get_ref()),
        "WebAuthn Level 3",
    )
    .await;
    browser
        .client
        .issue_cmd(BeforeEveryPage(WITHOUT_JSON_HELPERS))
        .await
        .unwrap();
    browser
        .client
        .goto(&format!("{origin}/factor"))
        .await
        .unwrap();
    assert_eq!(
        browser
            .js(
                "return [typeof PublicKeyCredential.parseRequestOptionsFromJSON, \
                 typeof PublicKeyCredential.parseCreationOptionsFromJSON, \
                 typeof PublicKeyCredential.prototype.toJSON]"
            )
            .await,
        json!(["undefined", "undefined", "undefined"]),
        "the helpers are gone"
    );
    ceremonies(
        &browser,
        &mut authenticator,
        (&origin, rp.get_ref()),
        "without the JSON helpers",
    )
    .await;
    browser.close().await;

    assert_eq!(rp.outcomes.lock().unwrap().len(), 8);
    assert_eq!(rp.passkeys.lock().unwrap().len(), 2);
}
