//! The device flow in the engine, on the stores the environment selects. The HTTP walk (polling,
//! `slow_down`, the limiter's 429, the pages) is in crates/server/tests/api/device_flow.rs.

use super::*;
use crate::interaction::{
    Browser, ConsentDecision, ConsentSubmission, ConsentView, InteractionPage, LoginSubmission,
    Outcome, Step, View,
};
use crate::test_server::{PASSWORD, TestServer};
use palisade_core::Secret;
use palisade_core::model::{Client, GrantType};
use std::sync::Arc;

fn browser(binding: &str) -> Browser {
    Browser {
        binding: Some(binding.to_owned()),
        session: None,
        client_ip: Some("203.0.113.9".parse().expect("ip")),
        user_agent: None,
    }
}

/// A public client registered for the device grant.
async fn device_client(server: &TestServer) -> Client {
    let mut client = server.client().await;
    client.grant_types = vec![GrantType::DeviceCode, GrantType::RefreshToken];
    client.redirect_uris = vec![];
    server
        .engine
        .clients
        .update_client(client.clone())
        .await
        .expect("update client");
    client
}

async fn start(server: &TestServer, client: &Client) -> DeviceAuthorizationResponse {
    let form = vec![
        ("client_id".to_owned(), client.id.0.clone()),
        ("scope".to_owned(), "openid offline_access".to_owned()),
    ];
    server
        .engine
        .device_authorization(None, &form, None)
        .await
        .expect("device authorization")
}

fn step_to(outcome: &Outcome, page: InteractionPage) -> String {
    match &outcome.step {
        Step::Continue { page: p, step_id } if *p == page => step_id.clone(),
        other => panic!("expected to continue to {page:?}, got {other:?}"),
    }
}

/// Enters `user_code` at `/device` in `browser` (signed in or not); the outcome.
async fn enter(server: &TestServer, browser: &Browser, user_code: &str) -> Outcome {
    let shown = server.engine.show_device_entry(None, browser).await;
    let Step::Show(View::DeviceEntry(form)) = shown.step else {
        panic!("expected the user-code form, got {shown:?}");
    };
    server
        .engine
        .submit_device_entry(
            DeviceEntrySubmission {
                user_code: Some(user_code),
                csrf_token: Some(&form.csrf_token),
            },
            browser,
        )
        .await
}

/// Enters the code in a new browser, signs alice in; the browser (with its session) at the
/// consent page.
async fn at_consent(server: &TestServer, binding: &str, user_code: &str) -> (Browser, ConsentView) {
    let mut browser = browser(binding);
    let entered = enter(server, &browser, user_code).await;
    let login_step = step_to(&entered, InteractionPage::Login);
    let shown = server.engine.show_login(Some(&login_step), &browser).await;
    let Step::Show(View::Login(form)) = shown.step else {
        panic!("expected the login form, got {shown:?}");
    };
    let signed_in = server
        .engine
        .submit_login(
            LoginSubmission {
                step_id: Some(&form.step_id),
                csrf_token: Some(&form.csrf_token),
                username: "alice",
                password: Secret::new(PASSWORD),
            },
            &browser,
        )
        .await;
    let consent_step = step_to(&signed_in, InteractionPage::Consent);
    browser.session = signed_in.cookies.session.clone();
    consent_page(server, &browser, &consent_step).await
}

async fn consent_page(
    server: &TestServer,
    browser: &Browser,
    step: &str,
) -> (Browser, ConsentView) {
    let shown = server.engine.show_consent(Some(step), browser).await;
    let Step::Show(View::Consent(view)) = shown.step else {
        panic!("expected the consent page, got {shown:?}");
    };
    (browser.clone(), view)
}

async fn allow(server: &TestServer, browser: &Browser, view: &ConsentView) -> Outcome {
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

fn is_approved(outcome: &Outcome) -> bool {
    matches!(&outcome.step, Step::Show(View::DeviceDone(done)) if done.is_approved)
}

#[tokio::test]
async fn only_hashes_of_the_device_and_user_codes_are_at_rest() {
    let server = TestServer::start().await;
    let client = device_client(&server).await;
    let started = start(&server, &client).await;
    let at_rest = server.everything_at_rest().await;
    assert!(!at_rest.contains(&started.device_code));
    let normal = started.user_code.replace('-', "");
    assert!(!at_rest.contains(&normal), "{at_rest}");
    assert!(!at_rest.contains(&started.user_code), "{at_rest}");
}

#[tokio::test]
async fn two_browsers_holding_one_user_code_decide_it_once() {
    let server = Arc::new(TestServer::start().await);
    let client = device_client(&server).await;
    server.user("alice").await;
    let started = start(&server, &client).await;
    let (first, first_view) = at_consent(&server, "b-first", &started.user_code).await;
    let (second, second_view) = at_consent(&server, "b-second", &started.user_code).await;
    assert_eq!(
        first_view.user_code.as_deref(),
        Some(started.user_code.as_str())
    );

    let (a, b) = tokio::join!(
        allow(&server, &first, &first_view),
        allow(&server, &second, &second_view)
    );
    let approvals = [&a, &b].into_iter().filter(|o| is_approved(o)).count();
    assert_eq!(approvals, 1, "{a:?} {b:?}");
    let refused = [&a, &b]
        .into_iter()
        .filter(|o| matches!(o.step, Step::Refuse(_)))
        .count();
    assert_eq!(
        refused, 1,
        "the other one hears the code is used: {a:?} {b:?}"
    );
}

#[tokio::test]
async fn a_signed_in_user_who_consented_before_is_still_asked_for_the_next_device() {
    let server = TestServer::start().await;
    let client = device_client(&server).await;
    server.user("alice").await;
    let first = start(&server, &client).await;
    let (browser, view) = at_consent(&server, "b-alice", &first.user_code).await;
    assert!(is_approved(&allow(&server, &browser, &view).await));

    // Same user, same session, same client and scopes: RFC 8628 §5.4 still wants a look at the
    // code before a device is connected.
    let second = start(&server, &client).await;
    let entered = enter(&server, &browser, &second.user_code).await;
    let step = step_to(&entered, InteractionPage::Consent);
    let (_, view) = consent_page(&server, &browser, &step).await;
    assert_eq!(view.user_code.as_deref(), Some(second.user_code.as_str()));
}

#[tokio::test]
async fn a_user_code_is_accepted_however_it_is_typed_and_refused_when_unknown() {
    let server = TestServer::start().await;
    let client = device_client(&server).await;
    let started = start(&server, &client).await;
    let sloppy = started.user_code.replace('-', " ").to_lowercase();
    let entered = enter(&server, &browser("b-1"), &sloppy).await;
    step_to(&entered, InteractionPage::Login);

    let unknown = enter(&server, &browser("b-2"), "BBBB-BBBB").await;
    assert!(
        matches!(
            &unknown.step,
            Step::Show(View::DeviceEntry(form))
                if matches!(form.problem, Some(crate::interaction::DeviceEntryProblem::UnknownCode))
        ),
        "{unknown:?}"
    );
}
