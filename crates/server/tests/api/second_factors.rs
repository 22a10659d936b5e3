//! Second factors over HTTP, with someone else's client: the `openidconnect` crate is the
//! relying party (discovery, PKCE, nonce, the ID token verified against the JWKS), `reqwest`
//! with a cookie jar fills in the pages, and the TOTP codes are computed here with `totp-rs`
//! from the secret the enrolment page shows, at the time of the server's (manual) clock.
//! Issue 14; docs/mfa.md; docs/threat-model.md MF-01 to MF-08.

use crate::authorize_rules::authorize_url;
use crate::harness::{TestApp, spawn_app, spawn_app_with};
use crate::oidc_flow::rp_http;
use crate::support::{
    Authenticator, Browser, ClientSpec, PASSWORD, TestClient, create_user, hidden, location,
    pkce_pair, query_param, recovery_codes_in, register_client,
};
use chrono::Duration as Span;
use openidconnect::core::{
    CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreProviderMetadata,
};
use openidconnect::{
    AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use palisade_core::Clock as _;
use palisade_core::factor::FactorKind;
use palisade_core::model::{AuditQuery, Role, RoleName, UserId};
use palisade_core::ports::{AuditLog, FactorRepository, LockoutRepository, RoleRepository};
use palisade_store::testing::{TestDatabase, TestEphemeral};
use reqwest::StatusCode;

const ACR_PWD: &str = "urn:palisade:acr:pwd";
const ACR_MFA: &str = "urn:palisade:acr:mfa";
/// The login form's one message for every failed sign-in (docs/threat-model.md LF-02).
const GENERIC_LOGIN: &str = "The username or password is incorrect.";
/// The factor form's one message for every refused answer.
const GENERIC_FACTOR: &str = "The code or passkey was not accepted.";

type DiscoveredClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A registered client, configured from the server's discovery document.
struct RelyingParty {
    client: DiscoveredClient,
    http: openidconnect::reqwest::Client,
}

/// An authorization request on its way: its URL, and what the relying party keeps to redeem
/// the code it brings back.
struct Request {
    url: String,
    state: CsrfToken,
    nonce: Nonce,
    verifier: PkceCodeVerifier,
}

/// What the verified ID token says about the sign-in.
#[derive(Debug)]
struct SignIn {
    subject: String,
    amr: Vec<String>,
    acr: Option<String>,
    auth_time: i64,
}

impl SignIn {
    fn has_amr(&self, method: &str) -> bool {
        self.amr.iter().any(|m| m == method)
    }

    /// Password and a one-time code: `pwd`, `otp` and `mfa` (RFC 8176), at the MFA level.
    fn assert_password_and_code(&self) {
        for method in ["pwd", "otp", "mfa"] {
            assert!(self.has_amr(method), "no {method} in {self:?}");
        }
        assert_eq!(self.acr.as_deref(), Some(ACR_MFA), "{self:?}");
    }
}

impl RelyingParty {
    async fn discover(app: &TestApp, rp: &TestClient) -> Self {
        let http = rp_http();
        let metadata = CoreProviderMetadata::discover_async(
            IssuerUrl::new(app.base_url.clone()).unwrap(),
            &http,
        )
        .await
        .expect("discovery and JWKS");
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(rp.id.clone()),
            rp.secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(RedirectUrl::new(rp.redirect_uri.clone()).unwrap());
        Self { client, http }
    }

    /// An authorization request for `openid profile`; `acr` is sent as `acr_values`, `extra`
    /// are further parameters.
    fn request(&self, acr: Option<&str>, prompt_none: bool, extra: &[(&str, &str)]) -> Request {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge);
        if let Some(acr) = acr {
            request = request.add_auth_context_value(AuthenticationContextClass::new(acr.into()));
        }
        if prompt_none {
            request = request.add_prompt(CoreAuthPrompt::None);
        }
        for (name, value) in extra {
            request = request.add_extra_param(name.to_string(), value.to_string());
        }
        let (url, state, nonce) = request.url();
        Request {
            url: url.to_string(),
            state,
            nonce,
            verifier,
        }
    }

    /// Redeems the code of `redirect` (where the browser was sent back to us) and verifies the
    /// ID token.
    async fn redeem(&self, redirect: &str, request: Request) -> SignIn {
        assert_eq!(
            query_param(redirect, "state").as_deref(),
            Some(request.state.secret().as_str()),
            "{redirect}"
        );
        let code = query_param(redirect, "code").unwrap_or_else(|| panic!("no code: {redirect}"));
        let tokens = self
            .client
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(request.verifier)
            .request_async(&self.http)
            .await
            .expect("code exchange");
        let claims = tokens
            .id_token()
            .expect("an ID token for openid")
            .claims(&self.client.id_token_verifier(), &request.nonce)
            .expect("the ID token verifies against the JWKS");
        SignIn {
            subject: claims.subject().as_str().to_owned(),
            amr: claims
                .auth_method_refs()
                .map(|methods| methods.iter().map(|m| m.as_str().to_owned()).collect())
                .unwrap_or_default(),
            acr: claims.auth_context_ref().map(|acr| acr.as_str().to_owned()),
            auth_time: claims.auth_time().expect("auth_time").timestamp(),
        }
    }
}

/// A page with its step's hidden values blanked, to compare two answers of one form.
fn without_step(html: &str) -> String {
    let mut page = html.to_owned();
    for name in ["csrf_token", "interaction_id"] {
        let value = hidden(html, name);
        page = page.replace(&value, name);
    }
    page
}

/// What a user set up on the enrolment page: the authenticator app, and the recovery codes
/// shown once.
pub(crate) struct Enrolled {
    pub(crate) authenticator: Authenticator,
    pub(crate) recovery_codes: Vec<String>,
}

/// Completes the enrolment page at `enrol_url` as a person would: reads the secret, proves it
/// with the current code, reads the ten recovery codes and continues. Returns the enrolment
/// and where the sign-in goes next.
pub(crate) async fn enrol_totp(
    app: &TestApp,
    browser: &Browser,
    enrol_url: &str,
) -> (Enrolled, String) {
    assert!(enrol_url.contains("/login/enrol?"), "{enrol_url}");
    let page = browser.get(enrol_url).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let authenticator = Authenticator::from_page(&html);
    let code = authenticator.code(app, 0);
    let shown = browser
        .post_step(
            enrol_url,
            &html,
            "/login/enrol",
            &[("method", "totp"), ("code", &code), ("name", "Phone")],
        )
        .await;
    assert_eq!(shown.status(), StatusCode::OK);
    let html = shown.text().await.unwrap();
    let recovery_codes = recovery_codes_in(&html);
    assert_eq!(recovery_codes.len(), 10, "ten recovery codes:\n{html}");
    let next = location(
        &browser
            .post_step(enrol_url, &html, "/login/recovery-codes", &[])
            .await,
    );
    let enrolled = Enrolled {
        authenticator,
        recovery_codes,
    };
    (enrolled, next)
}

/// Makes `user` hold a role (`staff`) that requires a second factor, straight in the store.
pub(crate) async fn require_mfa_by_role(app: &TestApp, user: &UserId) {
    let staff = RoleName::parse("staff").unwrap();
    if app.state.sql.find_role(&staff).await.unwrap().is_none() {
        app.state
            .sql
            .insert_role(Role {
                name: staff.clone(),
                description: None,
                require_mfa: false,
            })
            .await
            .unwrap();
        app.state
            .sql
            .set_role_requires_mfa(&staff, true)
            .await
            .unwrap();
    }
    app.state.sql.grant_role(&staff, user).await.unwrap();
}

/// `username`, holding a role that requires a second factor, who enrolled a TOTP app at their
/// first sign-in to `rp` (in a browser since thrown away) and consented to it.
async fn user_with_totp(app: &TestApp, rp: &TestClient, username: &str) -> (UserId, Enrolled) {
    let user = create_user(app, username).await;
    require_mfa_by_role(app, &user).await;
    let browser = Browser::new();
    let (_, challenge) = pkce_pair();
    let login = location(&browser.get(&authorize_url(app, rp, &challenge, &[])).await);
    let enrol = location(&browser.log_in(&login, username, PASSWORD).await);
    let (enrolled, consent) = enrol_totp(app, &browser, &enrol).await;
    let back = location(&browser.consent(&consent, "allow").await);
    assert!(query_param(&back, "code").is_some(), "{back}");
    (user, enrolled)
}

/// A browser that has passed the password and stands on the second-factor page; the page's
/// URL.
async fn at_factor_page(app: &TestApp, rp: &TestClient, username: &str) -> (Browser, String) {
    let browser = Browser::new();
    let (_, challenge) = pkce_pair();
    let login = location(&browser.get(&authorize_url(app, rp, &challenge, &[])).await);
    let factor = location(&browser.log_in(&login, username, PASSWORD).await);
    assert!(factor.contains("/login/factor?"), "{factor}");
    (browser, factor)
}

/// Posts a refused answer to the factor form that `html` shows: the form comes back (200, no
/// redirect, no cookie) for another try. Returns the page.
async fn refused(
    browser: &Browser,
    factor_url: &str,
    html: &str,
    method: &str,
    code: &str,
) -> String {
    let res = browser
        .post_step(
            factor_url,
            html,
            "/login/factor",
            &[("method", method), ("code", code)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{method} {code} was accepted");
    assert!(res.headers().get("location").is_none());
    assert!(res.headers().get("set-cookie").is_none(), "no session");
    let page = res.text().await.unwrap();
    assert!(page.contains(GENERIC_FACTOR), "{page}");
    assert!(
        !hidden(&page, "interaction_id").is_empty(),
        "the form is shown again"
    );
    page
}

async fn page_of(browser: &Browser, url: &str) -> String {
    let page = browser.get(url).await;
    assert_eq!(page.status(), StatusCode::OK, "{url}");
    page.text().await.unwrap()
}

#[tokio::test]
async fn a_role_that_requires_mfa_leads_its_holder_through_enrolment_and_the_id_token_says_so() {
    let app = spawn_app().await;
    let rp_client = register_client(&app, ClientSpec::default()).await;
    let rp = RelyingParty::discover(&app, &rp_client).await;
    let carol = create_user(&app, "carol").await;

    // Carol signs in with her password while nothing requires more.
    let before = Browser::new();
    let request = rp.request(None, false, &[]);
    let back = before.authorize(&request.url, "carol").await;
    let first = rp.redeem(&back, request).await;
    assert_eq!(first.amr, ["pwd"]);
    assert_eq!(first.acr.as_deref(), Some(ACR_PWD));

    let cli = |args: &[&str]| {
        let out = crate::cli::palisade(&app.database, app.data_dir.path(), args, "");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            crate::cli::stderr(&out)
        );
    };
    cli(&["role", "add", "finance"]);
    cli(&["role", "require-mfa", "finance"]);
    cli(&["role", "grant", "finance", "carol"]);

    // Her password-only session no longer does, and a silent request cannot enrol her.
    let silent = rp.request(None, true, &[]);
    let to = location(&before.get(&silent.url).await);
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("interaction_required"),
        "{to}"
    );

    // A new sign-in: the password, then the enrolment page, not the client.
    let browser = Browser::new();
    let request = rp.request(None, false, &[]);
    let login = location(&browser.get(&request.url).await);
    let enrol = location(&browser.log_in(&login, "carol", PASSWORD).await);
    assert!(enrol.contains("/login/enrol?"), "{enrol}");
    let (enrolled, next) = enrol_totp(&app, &browser, &enrol).await;
    let back = if next.contains("/consent?") {
        location(&browser.consent(&next, "allow").await)
    } else {
        next
    };
    let signed_in = rp.redeem(&back, request).await;
    assert_eq!(signed_in.subject, carol.0);
    signed_in.assert_password_and_code();

    // What is stored: one TOTP factor whose secret is sealed, and ten recovery codes.
    let factors = app.state.sql.list_factors(&carol).await.unwrap();
    assert_eq!(factors.len(), 1);
    assert_eq!(factors[0].kind, FactorKind::Totp);
    assert_eq!(factors[0].name, "Phone");
    assert!(factors[0].master_key_id.is_some());
    let base32 = &enrolled.authenticator.base32;
    assert!(
        !factors[0].credential.contains(base32.as_str())
            && !factors[0].credential.contains(&base32.to_ascii_lowercase()),
        "the TOTP secret is stored in clear"
    );
    assert_eq!(
        app.state
            .sql
            .remaining_recovery_codes(&carol)
            .await
            .unwrap(),
        10
    );
}

#[tokio::test]
async fn a_password_and_a_totp_code_sign_in_and_a_code_is_accepted_once() {
    let app = spawn_app().await;
    let rp_client = register_client(&app, ClientSpec::default()).await;
    let rp = RelyingParty::discover(&app, &rp_client).await;
    // The enrolment spent the current step's code.
    let (erin, enrolled) = user_with_totp(&app, &rp_client, "erin").await;
    let app_codes = &enrolled.authenticator;

    // The next step's code (the server accepts one step either side), in a fresh browser.
    let next_step = app_codes.code(&app, 1);
    let request = rp.request(None, false, &[]);
    let back = Browser::new()
        .authorize_with_factor(&request.url, "erin", Some(("totp", &next_step)))
        .await;
    let signed_in = rp.redeem(&back, request).await;
    assert_eq!(signed_in.subject, erin.0);
    signed_in.assert_password_and_code();

    // RFC 6238 §5.2: that code, and any of an earlier step, is refused from now on; the answer
    // is the one a wrong code gets.
    let (browser, factor) = at_factor_page(&app, &rp_client, "erin").await;
    let html = page_of(&browser, &factor).await;
    let wrong = refused(
        &browser,
        &factor,
        &html,
        "totp",
        &app_codes.wrong_code(&app),
    )
    .await;
    let replayed = refused(&browser, &factor, &wrong, "totp", &next_step).await;
    assert_eq!(without_step(&replayed), without_step(&wrong));
    let earlier = refused(
        &browser,
        &factor,
        &replayed,
        "totp",
        &app_codes.code(&app, 0),
    )
    .await;
    assert_eq!(without_step(&earlier), without_step(&wrong));

    // Half a minute later, the step after the spent one signs in.
    app.clock.advance(Span::seconds(30));
    let res = browser
        .post_step(
            &factor,
            &earlier,
            "/login/factor",
            &[("method", "totp"), ("code", &app_codes.code(&app, 1))],
        )
        .await;
    let back = location(&res);
    assert!(
        back.starts_with(&rp_client.redirect_uri) && back.contains("code="),
        "{back}"
    );
}

#[tokio::test]
async fn a_recovery_code_signs_in_once_and_is_refused_the_second_time() {
    let app = spawn_app().await;
    let rp_client = register_client(&app, ClientSpec::default()).await;
    let rp = RelyingParty::discover(&app, &rp_client).await;
    let (frank, enrolled) = user_with_totp(&app, &rp_client, "frank").await;
    let spent = enrolled.recovery_codes[0].as_str();

    let request = rp.request(None, false, &[]);
    let back = Browser::new()
        .authorize_with_factor(&request.url, "frank", Some(("recovery", spent)))
        .await;
    let signed_in = rp.redeem(&back, request).await;
    assert_eq!(signed_in.subject, frank.0);
    // A recovery code is a one-time code (RFC 8176 `otp`), the second factor after `pwd`.
    signed_in.assert_password_and_code();
    assert_eq!(
        app.state
            .sql
            .remaining_recovery_codes(&frank)
            .await
            .unwrap(),
        9
    );

    // The same code again: refused as a code never issued is, still on the factor page.
    let (browser, factor) = at_factor_page(&app, &rp_client, "frank").await;
    let html = page_of(&browser, &factor).await;
    let unknown = refused(&browser, &factor, &html, "recovery", "aaaa-bbbb-cccc-dddd").await;
    let reused = refused(&browser, &factor, &unknown, "recovery", spent).await;
    assert_eq!(without_step(&reused), without_step(&unknown));

    // Another code works, typed in capitals with spaces for dashes.
    let typed = enrolled.recovery_codes[1]
        .to_ascii_uppercase()
        .replace('-', " ");
    let res = browser
        .post_step(
            &factor,
            &reused,
            "/login/factor",
            &[("method", "recovery"), ("code", &typed)],
        )
        .await;
    assert!(location(&res).contains("code="));
    assert_eq!(
        app.state
            .sql
            .remaining_recovery_codes(&frank)
            .await
            .unwrap(),
        8
    );
}

/// Posts an `/account/security` form with the session's CSRF token from `html`; the page that
/// answers (following a redirect to it, if the route redirects after the POST).
async fn account_action(
    app: &TestApp,
    browser: &Browser,
    html: &str,
    fields: &[(&str, &str)],
) -> String {
    let csrf = hidden(html, "csrf_token");
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    let res = browser
        .post_form(&app.url("/account/security"), &form)
        .await;
    match res.status() {
        StatusCode::OK => res.text().await.unwrap(),
        StatusCode::SEE_OTHER => page_of(browser, &location(&res)).await,
        other => panic!("{fields:?}: {other}: {}", res.text().await.unwrap()),
    }
}

#[tokio::test]
async fn acr_values_steps_a_password_session_up_with_the_second_factor_and_amr_shows_it() {
    let app = spawn_app().await;
    let rp_client = register_client(&app, ClientSpec::default()).await;
    let rp = RelyingParty::discover(&app, &rp_client).await;
    let dave = create_user(&app, "dave").await;

    let browser = Browser::new();
    let request = rp.request(None, false, &[]);
    let back = browser.authorize(&request.url, "dave").await;
    let first = rp.redeem(&back, request).await;
    assert_eq!(first.amr, ["pwd"]);
    assert_eq!(first.acr.as_deref(), Some(ACR_PWD));

    // Dave sets up an authenticator app on his account page, in the same session.
    let account = page_of(&browser, &app.url("/account/security")).await;
    let setup = account_action(&app, &browser, &account, &[("action", "totp-start")]).await;
    let authenticator = Authenticator::from_page(&setup);
    let code = authenticator.code(&app, 0);
    account_action(
        &app,
        &browser,
        &setup,
        &[
            ("action", "totp-confirm"),
            ("code", &code),
            ("name", "Phone"),
        ],
    )
    .await;
    let factors = app.state.sql.list_factors(&dave).await.unwrap();
    assert_eq!(factors.len(), 1, "{factors:?}");

    // His session is still password-only: a silent request for MFA cannot be met.
    let silent = rp.request(Some(ACR_MFA), true, &[]);
    let to = location(&browser.get(&silent.url).await);
    assert!(to.starts_with(&rp_client.redirect_uri), "{to}");
    assert_eq!(query_param(&to, "error").as_deref(), Some("login_required"));
    assert_eq!(
        query_param(&to, "state").as_deref(),
        Some(silent.state.secret().as_str())
    );

    // Asked for MFA, the server asks him for the second factor only, not the password.
    app.clock.advance(Span::seconds(5));
    let request = rp.request(Some(ACR_MFA), false, &[]);
    let factor = location(&browser.get(&request.url).await);
    assert!(factor.contains("/login/factor?"), "{factor}");
    let mut back = location(
        &browser
            .answer_factor(&factor, "totp", &authenticator.code(&app, 1))
            .await,
    );
    if back.contains("/consent?") {
        back = location(&browser.consent(&back, "allow").await);
    }
    let stepped_up = rp.redeem(&back, request).await;
    assert_eq!(stepped_up.subject, first.subject);
    stepped_up.assert_password_and_code();
    assert!(
        stepped_up.auth_time > first.auth_time,
        "auth_time is the step-up's: {stepped_up:?} after {first:?}"
    );

    // The stepped-up session now meets the level silently.
    let silent = rp.request(Some(ACR_MFA), true, &[]);
    let back = location(&browser.get(&silent.url).await);
    let again = rp.redeem(&back, silent).await;
    again.assert_password_and_code();
}

#[tokio::test]
async fn max_age_asks_a_user_with_a_factor_for_the_password_and_the_second_factor_again() {
    let app = spawn_app().await;
    let rp_client = register_client(&app, ClientSpec::default()).await;
    let rp = RelyingParty::discover(&app, &rp_client).await;
    let (_, enrolled) = user_with_totp(&app, &rp_client, "kate").await;
    let codes = &enrolled.authenticator;

    let browser = Browser::new();
    let request = rp.request(None, false, &[]);
    let back = browser
        .authorize_with_factor(&request.url, "kate", Some(("totp", &codes.code(&app, 1))))
        .await;
    let first = rp.redeem(&back, request).await;

    // OIDC Core §3.1.2.1: the session is older than max_age, so the sign-in starts afresh, and
    // a fresh sign-in of a user with a factor is the password and the factor.
    app.clock.advance(Span::seconds(60));
    let request = rp.request(None, false, &[("max_age", "30")]);
    let login = location(&browser.get(&request.url).await);
    assert!(login.contains("/login?"), "{login}");
    let factor = location(&browser.log_in(&login, "kate", PASSWORD).await);
    assert!(factor.contains("/login/factor?"), "{factor}");
    let back = location(
        &browser
            .answer_factor(&factor, "totp", &codes.code(&app, 0))
            .await,
    );
    let again = rp.redeem(&back, request).await;
    again.assert_password_and_code();
    assert!(
        again.auth_time >= first.auth_time + 60,
        "{again:?} after {first:?}"
    );
}

#[tokio::test]
async fn an_essential_acr_claim_leads_a_user_without_a_factor_through_enrolment() {
    let app = spawn_app().await;
    let rp_client = register_client(&app, ClientSpec::default()).await;
    let rp = RelyingParty::discover(&app, &rp_client).await;
    create_user(&app, "grace").await;

    let claims = format!(r#"{{"id_token":{{"acr":{{"essential":true,"values":["{ACR_MFA}"]}}}}}}"#);
    let browser = Browser::new();
    let request = rp.request(None, false, &[("claims", &claims)]);
    let login = location(&browser.get(&request.url).await);
    let enrol = location(&browser.log_in(&login, "grace", PASSWORD).await);
    let (_, next) = enrol_totp(&app, &browser, &enrol).await;
    let back = location(&browser.consent(&next, "allow").await);
    rp.redeem(&back, request).await.assert_password_and_code();
}

async fn lockout_of(app: &TestApp, user: &UserId) -> Option<palisade_core::model::AccountLockout> {
    app.state.sql.find_account_lockout(user).await.unwrap()
}

#[tokio::test]
async fn guessing_totp_codes_locks_the_account_as_wrong_passwords_do() {
    let app = spawn_app().await;
    let rp_client = register_client(&app, ClientSpec::default()).await;
    let (gina, enrolled) = user_with_totp(&app, &rp_client, "gina").await;
    let codes = &enrolled.authenticator;
    let threshold = app.state.settings.attempt_limits.lockout_threshold;

    let (browser, factor) = at_factor_page(&app, &rp_client, "gina").await;
    let mut html = page_of(&browser, &factor).await;
    for _ in 2..threshold {
        html = refused(&browser, &factor, &html, "totp", &codes.wrong_code(&app)).await;
    }
    assert!(lockout_of(&app, &gina).await.is_none(), "not locked yet");
    let wrong = refused(&browser, &factor, &html, "totp", &codes.wrong_code(&app)).await;
    // One guess short of the threshold, the attacker signs in again with the right password.
    // That must not wipe the streak, or whoever holds the password would get four guesses per
    // sign-in for ever: the next wrong code locks (or the password's own attempt already did).
    let again = Browser::new();
    let (_, challenge) = pkce_pair();
    let login = location(
        &again
            .get(&authorize_url(&app, &rp_client, &challenge, &[]))
            .await,
    );
    let res = again.log_in(&login, "gina", PASSWORD).await;
    if res.status() == StatusCode::SEE_OTHER {
        let second = location(&res);
        assert!(second.contains("/login/factor?"), "{second}");
        let html = page_of(&again, &second).await;
        refused(&again, &second, &html, "totp", &codes.wrong_code(&app)).await;
    } else {
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains(GENERIC_LOGIN));
    }
    let lock = lockout_of(&app, &gina)
        .await
        .expect("at most `threshold` wrong codes lock the account, across sign-ins");
    assert_eq!(lock.lock_count, 1);
    assert_eq!(lock.locked_until, Some(app.clock.now() + Span::minutes(15)));

    // Locked: the right code is refused with the same page, and so is the right password.
    let right = refused(&browser, &factor, &wrong, "totp", &codes.code(&app, 1)).await;
    assert_eq!(without_step(&right), without_step(&wrong));
    let other = Browser::new();
    let (_, challenge) = pkce_pair();
    let login = location(
        &other
            .get(&authorize_url(&app, &rp_client, &challenge, &[]))
            .await,
    );
    let res = other.log_in(&login, "gina", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains(GENERIC_LOGIN));

    let events = app
        .state
        .sql
        .query(AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let target = format!("user:{gina}");
    let count = |action: &str, outcome: &str| {
        events
            .iter()
            .filter(|e| {
                e.action == action
                    && e.outcome.as_str() == outcome
                    && e.target.as_deref() == Some(target.as_str())
            })
            .count()
    };
    assert!(
        count("login.second_factor", "failure") >= usize::try_from(threshold).unwrap(),
        "{events:?}"
    );
    assert_eq!(count("user.lockout", "success"), 1);

    // When the lock is over, the password and a code sign in.
    app.clock.advance(Span::minutes(15) + Span::seconds(1));
    let (browser, factor) = at_factor_page(&app, &rp_client, "gina").await;
    let back = location(
        &browser
            .answer_factor(&factor, "totp", &codes.code(&app, 0))
            .await,
    );
    assert!(back.contains("code="), "{back}");
    assert!(lockout_of(&app, &gina).await.is_none());
}

#[tokio::test]
async fn guessing_totp_codes_from_one_address_gets_429_with_retry_after() {
    let app = spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        // Only the address's limit is under test: the account would lock only much later.
        s.attempt_limits.per_ip = 3;
        s.attempt_limits.per_prefix = 100;
        s.attempt_limits.lockout_threshold = 100;
    })
    .await;
    let rp_client = register_client(&app, ClientSpec::default()).await;
    let (hana, enrolled) = user_with_totp(&app, &rp_client, "hana").await;
    let codes = &enrolled.authenticator;

    let (browser, factor) = at_factor_page(&app, &rp_client, "hana").await;
    let mut html = page_of(&browser, &factor).await;
    for _ in 0..3 {
        html = refused(&browser, &factor, &html, "totp", &codes.wrong_code(&app)).await;
    }
    let res = browser
        .post_step(
            &factor,
            &html,
            "/login/factor",
            &[("method", "totp"), ("code", &codes.code(&app, 1))],
        )
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=1800).contains(&retry_after), "{retry_after}");
    assert!(res.headers().get("set-cookie").is_none());
    let body = res.text().await.unwrap();
    assert!(
        body.contains("Too many failed sign-in attempts. Try again in"),
        "{body}"
    );
    assert!(lockout_of(&app, &hana).await.is_none());

    // Two windows later the address starts afresh, and the right code signs in.
    app.clock.advance(Span::minutes(30));
    let (browser, factor) = at_factor_page(&app, &rp_client, "hana").await;
    let back = location(
        &browser
            .answer_factor(&factor, "totp", &codes.code(&app, 0))
            .await,
    );
    assert!(back.contains("code="), "{back}");
}

#[tokio::test]
async fn an_operator_resets_the_factors_of_a_user_who_lost_the_device_and_they_enrol_again() {
    let app = spawn_app().await;
    let rp_client = register_client(&app, ClientSpec::default()).await;
    let (ivan, _lost) = user_with_totp(&app, &rp_client, "ivan").await;

    let out = crate::cli::palisade(
        &app.database,
        app.data_dir.path(),
        &["user", "mfa", "reset", "ivan"],
        "",
    );
    assert!(out.status.success(), "{}", crate::cli::stderr(&out));
    assert!(app.state.sql.list_factors(&ivan).await.unwrap().is_empty());
    assert_eq!(
        app.state.sql.remaining_recovery_codes(&ivan).await.unwrap(),
        0
    );

    // His role still requires a factor: the next sign-in enrols a new one. The command ended
    // his sessions as of the wall clock's now; a sign-in must come after that to count.
    app.clock
        .set(chrono::Utc::now().max(app.clock.now()) + Span::seconds(1));
    let browser = Browser::new();
    let (_, challenge) = pkce_pair();
    let login = location(
        &browser
            .get(&authorize_url(&app, &rp_client, &challenge, &[]))
            .await,
    );
    let enrol = location(&browser.log_in(&login, "ivan", PASSWORD).await);
    let (_, mut back) = enrol_totp(&app, &browser, &enrol).await;
    if back.contains("/consent?") {
        back = location(&browser.consent(&back, "allow").await);
    }
    assert!(back.contains("code="), "{back}");
    assert_eq!(app.state.sql.list_factors(&ivan).await.unwrap().len(), 1);
}

#[tokio::test]
async fn discovery_lists_both_acr_values_and_the_claims_parameter() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["acr_values_supported"],
        serde_json::json!([ACR_PWD, ACR_MFA])
    );
    assert_eq!(doc["claims_parameter_supported"], true);
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(app.base_url.clone()).unwrap(),
        &rp_http(),
    )
    .await
    .unwrap();
    let acrs: Vec<&str> = metadata
        .acr_values_supported()
        .unwrap()
        .iter()
        .map(|acr| acr.as_str())
        .collect();
    assert_eq!(acrs, [ACR_PWD, ACR_MFA]);
}
