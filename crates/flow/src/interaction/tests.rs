//! The interaction as a state machine, on the stores the environment selects, with the manual
//! clock. What only HTTP can show (status codes, cookies, the form opening) is tested in
//! crates/server/tests/api/browser_interaction.rs.

use super::*;
use crate::authorize::AuthorizationParams;
use crate::guard::AttemptLimits;
use crate::pkce::CodeChallenge;
use crate::test_server::{PASSWORD, REDIRECT_URI, TestServer};
use palisade_core::model::Client;
use palisade_core::{OAuthError, Secret};
use std::sync::Arc;

pub(super) const VERIFIER_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

pub(super) fn params(client: &Client, extra: &[(&str, &str)]) -> AuthorizationParams {
    let mut pairs: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", client.id.0.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid profile"),
        ("state", "s1"),
        ("code_challenge", VERIFIER_CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (k, v) in extra {
        pairs.retain(|(name, _)| name != k);
        pairs.push(((*k).to_owned(), (*v).to_owned()));
    }
    AuthorizationParams::new(pairs)
}

pub(super) fn browser(binding: &str) -> Browser {
    Browser {
        binding: Some(binding.to_owned()),
        session: None,
        client_ip: Some("203.0.113.7".parse().expect("ip")),
        user_agent: None,
    }
}

/// The step id of a `Continue` to `page`.
pub(super) fn continued_to(outcome: &Outcome, page: InteractionPage) -> String {
    match &outcome.step {
        Step::Continue { page: p, step_id } if *p == page => step_id.clone(),
        other => panic!("expected to continue to {page:?}, got {other:?}"),
    }
}

pub(super) fn login_view(outcome: &Outcome) -> &LoginView {
    match &outcome.step {
        Step::Show(View::Login(view)) => view,
        other => panic!("expected the login form, got {other:?}"),
    }
}

pub(super) fn consent_view(outcome: &Outcome) -> &ConsentView {
    match &outcome.step {
        Step::Show(View::Consent(view)) => view,
        other => panic!("expected the consent page, got {other:?}"),
    }
}

pub(super) fn refusal(outcome: &Outcome) -> &Refusal {
    match &outcome.step {
        Step::Refuse(refusal) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

pub(super) fn login<'a>(view: &'a LoginView, password: &str) -> LoginSubmission<'a> {
    LoginSubmission {
        step_id: Some(&view.step_id),
        csrf_token: Some(&view.csrf_token),
        username: "alice",
        password: Secret::new(password),
    }
}

/// Starts an interaction in `browser` and returns the login form.
pub(super) async fn login_form(
    server: &TestServer,
    client: &Client,
    browser: &Browser,
) -> LoginView {
    let started = server.engine.authorize(&params(client, &[]), browser).await;
    let step = continued_to(&started, InteractionPage::Login);
    let shown = server.engine.show_login(Some(&step), browser).await;
    let Step::Show(View::Login(view)) = shown.step else {
        panic!("expected the login form, got {shown:?}");
    };
    view
}

/// Logs `alice` in through a new interaction; returns the browser with its session and the
/// consent page.
pub(super) async fn logged_in_at_consent(
    server: &TestServer,
    client: &Client,
) -> (Browser, ConsentView) {
    let mut browser = browser("b-consent");
    let form = login_form(server, client, &browser).await;
    let outcome = server
        .engine
        .submit_login(login(&form, PASSWORD), &browser)
        .await;
    let step = continued_to(&outcome, InteractionPage::Consent);
    browser.session = outcome.cookies.session.clone();
    let shown = server.engine.show_consent(Some(&step), &browser).await;
    let Step::Show(View::Consent(view)) = shown.step else {
        panic!("expected the consent page, got {shown:?}");
    };
    (browser, view)
}

/// Submits "allow" on the consent page `view` shows.
pub(super) async fn allow(server: &TestServer, view: &ConsentView, browser: &Browser) -> Outcome {
    server
        .engine
        .submit_consent(
            ConsentSubmission {
                step_id: Some(&view.step_id),
                csrf_token: Some(&view.csrf_token),
                decision: Some(ConsentDecision::Allow),
            },
            browser,
        )
        .await
}

pub(super) fn has_code(location: &str) -> bool {
    location.starts_with(REDIRECT_URI) && location.contains("code=")
}

#[tokio::test]
async fn twenty_concurrent_consent_submissions_issue_exactly_one_code() {
    let server = Arc::new(TestServer::start().await);
    let client = server.client().await;
    server.user("alice").await;
    let (browser, view) = logged_in_at_consent(&server, &client).await;
    let view = Arc::new(view);
    let submissions = (0..20).map(|_| {
        let (server, browser, view) = (server.clone(), browser.clone(), view.clone());
        tokio::spawn(async move {
            let form = ConsentSubmission {
                step_id: Some(&view.step_id),
                csrf_token: Some(&view.csrf_token),
                decision: Some(ConsentDecision::Allow),
            };
            server.engine.submit_consent(form, &browser).await
        })
    });
    let mut codes = 0;
    for submission in submissions {
        match submission.await.expect("task").step {
            Step::RedirectToClient(location) if has_code(&location) => codes += 1,
            Step::Refuse(refusal) => assert_eq!(refusal.status, RefusalStatus::ByCode),
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(codes, 1, "exactly one submission may issue a code");
}

#[tokio::test]
async fn twenty_concurrent_login_submissions_start_exactly_one_session() {
    let server = Arc::new(TestServer::start().await);
    let client = server.client().await;
    server.user("alice").await;
    let browser = browser("b-login");
    let view = Arc::new(login_form(&server, &client, &browser).await);
    let submissions = (0..20).map(|_| {
        let (server, browser, view) = (server.clone(), browser.clone(), view.clone());
        tokio::spawn(async move {
            server
                .engine
                .submit_login(login(&view, PASSWORD), &browser)
                .await
        })
    });
    let mut sessions = Vec::new();
    for submission in submissions {
        let outcome = submission.await.expect("task");
        match outcome.cookies.session.clone() {
            Some(session) => {
                continued_to(&outcome, InteractionPage::Consent);
                sessions.push(session);
            }
            None => assert_eq!(refusal(&outcome).status, RefusalStatus::ByCode),
        }
    }
    assert_eq!(sessions.len(), 1, "exactly one submission may log in");
    let live = server
        .engine
        .find_session(&sessions[0])
        .await
        .expect("store");
    assert!(live.is_some(), "the one session is live");
}

#[tokio::test]
async fn twenty_concurrent_logout_confirmations_end_the_session_once() {
    let server = Arc::new(TestServer::start().await);
    let client = server.client().await;
    let user = server.user("alice").await;
    let (raw, session) = server
        .engine
        .start_session(&user, vec!["pwd".into()], &Browser::default())
        .await
        .expect("session");
    let browser = Browser {
        session: Some(raw.clone()),
        ..browser("b-logout")
    };
    let params = Arc::new(vec![
        ("client_id".to_owned(), client.id.0.clone()),
        (
            "post_logout_redirect_uri".to_owned(),
            "https://app.example/bye".to_owned(),
        ),
        ("csrf_token".to_owned(), session.csrf_token.clone()),
    ]);
    let asked = server.engine.start_logout(&params, &browser).await;
    assert!(
        matches!(asked.step, Step::Show(View::LogoutConfirm(_))),
        "{asked:?}"
    );
    let confirmations = (0..20).map(|_| {
        let (server, browser, params) = (server.clone(), browser.clone(), params.clone());
        tokio::spawn(async move { server.engine.confirm_logout(&params, &browser).await })
    });
    let mut signed_out = 0;
    for confirmation in confirmations {
        let outcome = confirmation.await.expect("task");
        match &outcome.step {
            Step::RedirectToClient(location) => {
                assert_eq!(location, "https://app.example/bye");
                assert!(outcome.cookies.clear_session);
                signed_out += 1;
            }
            Step::Refuse(refusal) => assert_eq!(refusal.status, RefusalStatus::ByCode),
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(signed_out, 1, "exactly one confirmation may sign out");
    assert!(
        server
            .engine
            .find_session(&raw)
            .await
            .expect("store")
            .is_none()
    );
}

#[tokio::test]
async fn a_failed_login_keeps_its_step_and_a_successful_one_spends_it() {
    let server = TestServer::start().await;
    let client = server.client().await;
    server.user("alice").await;
    let browser = browser("b1");
    let view = login_form(&server, &client, &browser).await;

    let wrong = server
        .engine
        .submit_login(login(&view, "not the password"), &browser)
        .await;
    let again = login_view(&wrong);
    assert!(matches!(
        again.problem,
        Some(LoginProblem::InvalidCredentials)
    ));
    assert_eq!(again.step_id, view.step_id, "the same step, to try again");
    assert!(wrong.cookies.session.is_none());

    let right = server
        .engine
        .submit_login(login(&view, PASSWORD), &browser)
        .await;
    let consent_step = continued_to(&right, InteractionPage::Consent);
    assert_ne!(consent_step, view.step_id, "the next step has a fresh id");

    // The spent login form, replayed with the right password, starts nothing.
    let replayed = server
        .engine
        .submit_login(login(&view, PASSWORD), &browser)
        .await;
    refusal(&replayed);
    assert!(replayed.cookies.session.is_none());
}

#[tokio::test]
async fn a_step_belongs_to_the_browser_that_started_it() {
    let server = TestServer::start().await;
    let client = server.client().await;
    server.user("alice").await;
    let view = login_form(&server, &client, &browser("victim")).await;
    let attacker = browser("attacker");
    refusal(
        &server
            .engine
            .show_login(Some(&view.step_id), &attacker)
            .await,
    );
    let submitted = server
        .engine
        .submit_login(login(&view, PASSWORD), &attacker)
        .await;
    refusal(&submitted);
    // The victim's step is untouched.
    login_view(
        &server
            .engine
            .show_login(Some(&view.step_id), &browser("victim"))
            .await,
    );
}

#[tokio::test]
async fn a_wrong_csrf_token_is_forbidden_and_spends_nothing() {
    let server = TestServer::start().await;
    let client = server.client().await;
    server.user("alice").await;
    let browser = browser("b1");
    let view = login_form(&server, &client, &browser).await;
    let forged = LoginSubmission {
        csrf_token: Some("forged"),
        ..login(&view, PASSWORD)
    };
    let outcome = server.engine.submit_login(forged, &browser).await;
    assert_eq!(refusal(&outcome).status, RefusalStatus::Forbidden);
    let right = server
        .engine
        .submit_login(login(&view, PASSWORD), &browser)
        .await;
    continued_to(&right, InteractionPage::Consent);
}

#[tokio::test]
async fn an_interaction_expires_after_its_lifetime() {
    let server = TestServer::start().await;
    let client = server.client().await;
    server.user("alice").await;
    let browser = browser("b1");
    let view = login_form(&server, &client, &browser).await;
    server
        .clock
        .advance(server.engine.policy.interaction_ttl + chrono::Duration::seconds(1));
    let late = server
        .engine
        .submit_login(login(&view, PASSWORD), &browser)
        .await;
    refusal(&late);
    assert!(late.cookies.session.is_none());
}

#[tokio::test]
async fn a_remembered_consent_skips_the_page_and_prompt_consent_brings_it_back() {
    let server = TestServer::start().await;
    let client = server.client().await;
    server.user("alice").await;
    let (browser, view) = logged_in_at_consent(&server, &client).await;
    assert!(
        view.is_client_verified,
        "an operator-made client is verified"
    );
    let allowed = allow(&server, &view, &browser).await;
    assert!(matches!(&allowed.step, Step::RedirectToClient(l) if has_code(l)));

    let again = server
        .engine
        .authorize(&params(&client, &[]), &browser)
        .await;
    assert!(
        matches!(&again.step, Step::RedirectToClient(l) if has_code(l)),
        "{again:?}"
    );
    let prompted = server
        .engine
        .authorize(&params(&client, &[("prompt", "consent")]), &browser)
        .await;
    let step = continued_to(&prompted, InteractionPage::Consent);
    consent_view(&server.engine.show_consent(Some(&step), &browser).await);
}

#[tokio::test]
async fn prompt_none_without_a_session_goes_back_with_login_required_and_stores_nothing() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let outcome = server
        .engine
        .authorize(&params(&client, &[("prompt", "none")]), &browser("b1"))
        .await;
    match outcome.step {
        Step::RedirectToClient(location) => {
            assert!(location.starts_with(REDIRECT_URI), "{location}");
            assert!(location.contains("error=login_required"), "{location}");
            assert!(location.contains("state=s1"), "{location}");
        }
        other => panic!("expected a redirect, got {other:?}"),
    }
    assert_eq!(outcome.cookies, CookieChanges::default());
}

#[tokio::test]
async fn an_unverified_redirect_uri_is_a_page_never_a_redirect() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let outcome = server
        .engine
        .authorize(
            &params(&client, &[("redirect_uri", "https://evil.example/cb")]),
            &browser("b1"),
        )
        .await;
    refusal(&outcome);
}

#[tokio::test]
async fn the_same_browser_and_request_get_their_open_interaction_back() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let browser = browser("b1");
    let first = server
        .engine
        .authorize(&params(&client, &[]), &browser)
        .await;
    let second = server
        .engine
        .authorize(&params(&client, &[]), &browser)
        .await;
    assert_eq!(
        continued_to(&first, InteractionPage::Login),
        continued_to(&second, InteractionPage::Login)
    );
    let other_state = server
        .engine
        .authorize(&params(&client, &[("state", "s2")]), &browser)
        .await;
    assert_ne!(
        continued_to(&first, InteractionPage::Login),
        continued_to(&other_state, InteractionPage::Login),
        "another request is another interaction"
    );
    // A browser without a binding gets one, and its own interaction.
    let fresh = Browser {
        binding: None,
        ..browser.clone()
    };
    let started = server.engine.authorize(&params(&client, &[]), &fresh).await;
    assert!(started.cookies.browser.is_some());
}

#[tokio::test]
async fn starting_interactions_is_limited_per_address_and_network() {
    let limits = AttemptLimits {
        interactions_per_ip: 3,
        interactions_per_prefix: 5,
        ..AttemptLimits::default()
    };
    let server = TestServer::with_limits(limits).await;
    let client = server.client().await;
    let from = |ip: &str| Browser {
        binding: None,
        session: None,
        client_ip: Some(ip.parse().expect("ip")),
        user_agent: None,
    };
    for _ in 0..3 {
        let started = server
            .engine
            .authorize(&params(&client, &[]), &from("198.51.100.1"))
            .await;
        continued_to(&started, InteractionPage::Login);
    }
    let refused = server
        .engine
        .authorize(&params(&client, &[]), &from("198.51.100.1"))
        .await;
    assert!(matches!(
        refusal(&refused).status,
        RefusalStatus::Throttled(_)
    ));
    // The same network: two more, then refused.
    for _ in 0..2 {
        let started = server
            .engine
            .authorize(&params(&client, &[]), &from("198.51.100.2"))
            .await;
        continued_to(&started, InteractionPage::Login);
    }
    refusal(
        &server
            .engine
            .authorize(&params(&client, &[]), &from("198.51.100.3"))
            .await,
    );
    // Another network is unaffected, and the window slides.
    let other = server
        .engine
        .authorize(&params(&client, &[]), &from("192.0.2.1"))
        .await;
    continued_to(&other, InteractionPage::Login);
    server.clock.advance(chrono::Duration::seconds(
        2 * limits.interaction_window_secs as i64,
    ));
    let later = server
        .engine
        .authorize(&params(&client, &[]), &from("198.51.100.1"))
        .await;
    continued_to(&later, InteractionPage::Login);
}

#[tokio::test]
async fn an_interaction_over_the_size_bound_is_refused() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let request = crate::authorize::AuthorizationRequest {
        client_id: client.id.0.clone(),
        client_name: "x".repeat(MAX_INTERACTION_BYTES),
        redirect_uri: REDIRECT_URI.into(),
        state: None,
        scope: crate::scope::ScopeSet::from_tokens(["openid"]).expect("scope"),
        nonce: None,
        code_challenge: CodeChallenge::parse(Some(VERIFIER_CHALLENGE), Some("S256"))
            .expect("challenge"),
        prompt: crate::prompt::Prompt::parse("").expect("prompt"),
        max_age: None,
        login_hint: None,
        acr: Default::default(),
        client_requires_mfa: false,
        ends_in: Default::default(),
        resources: vec![],
        dpop_jkt: None,
    };
    let interaction = Interaction {
        request,
        csrf_token: "c".into(),
        browser_binding: palisade_core::TokenHash::of("b1"),
        started_at: server.engine.clock.now().timestamp(),
        signed_in_session: None,
        consented_during: false,
        pending: None,
    };
    let error: OAuthError = server
        .engine
        .store_step(interaction)
        .await
        .expect_err("too large");
    assert_eq!(error.code, palisade_core::ErrorCode::InvalidRequest);
}

/// Logs alice in, allows the client once (remembered), and returns the browser: from then on
/// an authorization request gets its code at once while the session stands.
async fn signed_in_with_remembered_consent(server: &TestServer, client: &Client) -> Browser {
    let (browser, view) = logged_in_at_consent(server, client).await;
    let allowed = allow(server, &view, &browser).await;
    assert!(matches!(&allowed.step, Step::RedirectToClient(l) if has_code(l)));
    browser
}

/// Whether the browser's session still carries it past login (`prompt=none` answers with a
/// code only then).
async fn session_stands(server: &TestServer, client: &Client, browser: &Browser) -> bool {
    let silent = server
        .engine
        .authorize(&params(client, &[("prompt", "none")]), browser)
        .await;
    match &silent.step {
        Step::RedirectToClient(location) if has_code(location) => true,
        Step::RedirectToClient(location) if location.contains("error=login_required") => false,
        other => panic!("expected a code or login_required, got {other:?}"),
    }
}

#[tokio::test]
async fn a_session_ends_after_its_idle_lifetime_unless_used() {
    let server = TestServer::start().await;
    let client = server.client().await;
    server.user("alice").await;
    let browser = signed_in_with_remembered_consent(&server, &client).await;
    let idle = server.engine.policy.session_idle_ttl;

    // Used every two thirds of the idle lifetime, it lives well past one idle lifetime.
    for _ in 0..3 {
        server.clock.advance(idle * 2 / 3);
        assert!(session_stands(&server, &client, &browser).await);
    }
    server.clock.advance(idle + chrono::Duration::seconds(1));
    assert!(!session_stands(&server, &client, &browser).await);
}

#[tokio::test]
async fn a_session_in_use_ends_at_its_absolute_lifetime() {
    let server = TestServer::start().await;
    let client = server.client().await;
    server.user("alice").await;
    let browser = signed_in_with_remembered_consent(&server, &client).await;
    let (idle, absolute) = (
        server.engine.policy.session_idle_ttl,
        server.engine.policy.session_ttl,
    );
    let step = idle / 2;
    let mut lived = chrono::Duration::zero();
    while lived + step <= absolute {
        server.clock.advance(step);
        lived += step;
        assert!(
            session_stands(&server, &client, &browser).await,
            "ended after {lived}"
        );
    }
    server
        .clock
        .advance(absolute - lived + chrono::Duration::seconds(1));
    assert!(!session_stands(&server, &client, &browser).await);
}

#[tokio::test]
async fn an_account_event_ends_the_session_and_the_interaction_waiting_at_consent() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let alice = server.user("alice").await;
    let browser = signed_in_with_remembered_consent(&server, &client).await;
    let other_client = server.client().await;
    let (waiting, view) = logged_in_at_consent(&server, &other_client).await;

    crate::account_events::end_every_session(
        server.engine.users.as_ref(),
        server.engine.refresh_tokens.as_ref(),
        &alice.id,
        server.engine.clock.now(),
    )
    .await
    .unwrap();

    assert!(!session_stands(&server, &client, &browser).await);
    let submitted = allow(&server, &view, &waiting).await;
    assert!(
        !matches!(&submitted.step, Step::RedirectToClient(l) if has_code(l)),
        "a code was issued on a voided sign-in: {submitted:?}"
    );
}
