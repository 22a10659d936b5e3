//! Second factors in the interaction, on the stores the environment selects, with the manual
//! clock: the second step after the password, enrolment forced by policy, recovery codes,
//! step-up and `prompt=none`, and guessing under the password's lock. What only HTTP or a
//! browser can show is in crates/server/tests/api/second_factors.rs and passkeys_in_chromium.rs.

use super::tests::{allow, browser, continued_to, has_code, login, login_form, params};
use super::*;
use crate::guard::AttemptLimits;
use crate::mfa::totp::{TotpSecret, code_at, scanned};
use crate::test_server::{PASSWORD, TestServer};
use palisade_core::factor::{Factor, FactorId, FactorKind};
use palisade_core::model::{Client, User};

/// Gives `user` a TOTP factor, as an enrolment would have stored it.
async fn with_totp(server: &TestServer, user: &User) -> TotpSecret {
    let secret = TotpSecret::generate();
    let sealed = server
        .engine
        .sealer
        .seal(crate::mfa::totp::SEAL_PURPOSE, secret.as_bytes())
        .unwrap();
    server
        .engine
        .factors
        .insert_factor(Factor {
            id: FactorId(uuid::Uuid::new_v4().to_string()),
            user_id: user.id.clone(),
            kind: FactorKind::Totp,
            name: "Phone".into(),
            credential: sealed.ciphertext,
            master_key_id: Some(sealed.master_key_id),
            credential_id: None,
            last_used_step: None,
            created_at: server.engine.clock.now(),
            last_used_at: None,
        })
        .await
        .unwrap();
    secret
}

fn now(server: &TestServer) -> i64 {
    server.engine.clock.now().timestamp()
}

fn factor_view(outcome: &Outcome) -> &SecondFactorView {
    match &outcome.step {
        Step::Show(View::SecondFactor(view)) => view,
        other => panic!("expected the second-factor page, got {other:?}"),
    }
}

async fn submit_factor(
    server: &TestServer,
    step: &str,
    csrf: &str,
    answer: FactorAnswer<'_>,
    browser: &Browser,
) -> Outcome {
    server
        .engine
        .submit_second_factor(
            FactorSubmission {
                step_id: Some(step),
                csrf_token: Some(csrf),
                answer,
            },
            browser,
        )
        .await
}

/// Password accepted: the browser goes on to the second-factor page; returns its view.
async fn past_the_password(
    server: &TestServer,
    client: &Client,
    browser: &Browser,
) -> SecondFactorView {
    let form = login_form(server, client, browser).await;
    let outcome = server
        .engine
        .submit_login(login(&form, PASSWORD), browser)
        .await;
    assert!(
        outcome.cookies.session.is_none(),
        "no session before the second factor"
    );
    let step = continued_to(&outcome, InteractionPage::SecondFactor);
    let shown = server.engine.show_second_factor(Some(&step), browser).await;
    let Step::Show(View::SecondFactor(view)) = shown.step else {
        panic!("expected the second-factor page, got {shown:?}");
    };
    view
}

async fn session_amr(server: &TestServer, outcome: &Outcome) -> Vec<String> {
    let raw = outcome.cookies.session.as_deref().expect("a new session");
    server
        .engine
        .find_session(raw)
        .await
        .unwrap()
        .expect("the session is stored")
        .amr
}

#[tokio::test]
async fn a_user_with_a_totp_app_needs_its_code_after_the_password_and_each_code_counts_once() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let secret = with_totp(&server, &alice).await;
    let client = server.client().await;
    let b = browser("b-totp");
    let view = past_the_password(&server, &client, &b).await;
    assert!(view.has_totp);
    assert!(!view.has_recovery_codes);
    assert!(view.passkey_request.is_none(), "alice has no passkey");

    let wrong = format!(
        "{:06}",
        (code_at(&secret, now(&server)).parse::<u32>().unwrap() + 1) % 1_000_000
    );
    let refused = submit_factor(
        &server,
        &view.step_id,
        &view.csrf_token,
        FactorAnswer::Totp(&wrong),
        &b,
    )
    .await;
    assert!(matches!(
        factor_view(&refused).problem,
        Some(FactorProblem::InvalidCode)
    ));
    assert!(refused.cookies.session.is_none());

    let code = code_at(&secret, now(&server));
    let passed = submit_factor(
        &server,
        &view.step_id,
        &view.csrf_token,
        FactorAnswer::Totp(&code),
        &b,
    )
    .await;
    continued_to(&passed, InteractionPage::Consent);
    assert_eq!(session_amr(&server, &passed).await, ["pwd", "otp", "mfa"]);

    // The same code, in a new sign-in within its step: spent (RFC 6238 §5.2).
    let again = browser("b-totp-again");
    let view = past_the_password(&server, &client, &again).await;
    let replayed = submit_factor(
        &server,
        &view.step_id,
        &view.csrf_token,
        FactorAnswer::Totp(&code),
        &again,
    )
    .await;
    assert!(matches!(
        factor_view(&replayed).problem,
        Some(FactorProblem::InvalidCode)
    ));
    // The next step's code (one step of skew) is still good.
    let next = code_at(&secret, now(&server) + 30);
    let passed = submit_factor(
        &server,
        &view.step_id,
        &view.csrf_token,
        FactorAnswer::Totp(&next),
        &again,
    )
    .await;
    continued_to(&passed, InteractionPage::Consent);
}

#[tokio::test]
async fn a_step_is_spent_by_its_second_factor_submission() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let secret = with_totp(&server, &alice).await;
    let client = server.client().await;
    let b = browser("b-spent");
    let view = past_the_password(&server, &client, &b).await;
    let code = code_at(&secret, now(&server));
    let passed = submit_factor(
        &server,
        &view.step_id,
        &view.csrf_token,
        FactorAnswer::Totp(&code),
        &b,
    )
    .await;
    continued_to(&passed, InteractionPage::Consent);
    let next = code_at(&secret, now(&server) + 30);
    let replay = submit_factor(
        &server,
        &view.step_id,
        &view.csrf_token,
        FactorAnswer::Totp(&next),
        &b,
    )
    .await;
    assert!(matches!(replay.step, Step::Refuse(_)), "{replay:?}");
    // A form from another browser is refused before anything is checked.
    let view = past_the_password(&server, &client, &b).await;
    let other = browser("b-other");
    let forged = submit_factor(
        &server,
        &view.step_id,
        &view.csrf_token,
        FactorAnswer::Totp(&next),
        &other,
    )
    .await;
    assert!(matches!(forged.step, Step::Refuse(_)));
}

#[tokio::test]
async fn a_recovery_code_stands_in_for_the_app_once() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    with_totp(&server, &alice).await;
    let codes = server.engine.new_recovery_codes(&alice).await.unwrap();
    let client = server.client().await;
    let b = browser("b-recovery");
    let view = past_the_password(&server, &client, &b).await;
    assert!(view.has_recovery_codes);
    let typed = codes[4].to_uppercase().replace('-', " ");
    let passed = submit_factor(
        &server,
        &view.step_id,
        &view.csrf_token,
        FactorAnswer::RecoveryCode(&typed),
        &b,
    )
    .await;
    continued_to(&passed, InteractionPage::Consent);
    assert_eq!(session_amr(&server, &passed).await, ["pwd", "otp", "mfa"]);
    assert_eq!(
        server
            .engine
            .factors
            .remaining_recovery_codes(&alice.id)
            .await
            .unwrap(),
        9
    );

    let b = browser("b-recovery-again");
    let view = past_the_password(&server, &client, &b).await;
    let refused = submit_factor(
        &server,
        &view.step_id,
        &view.csrf_token,
        FactorAnswer::RecoveryCode(&codes[4]),
        &b,
    )
    .await;
    assert!(matches!(
        factor_view(&refused).problem,
        Some(FactorProblem::InvalidCode)
    ));
}

#[tokio::test]
async fn guessing_codes_locks_the_account_like_guessing_passwords() {
    let limits = AttemptLimits {
        lockout_threshold: 3,
        ..AttemptLimits::default()
    };
    let server = TestServer::with_limits(limits).await;
    let alice = server.user("alice").await;
    let secret = with_totp(&server, &alice).await;
    let client = server.client().await;
    let b = browser("b-guess");
    let view = past_the_password(&server, &client, &b).await;
    let right = code_at(&secret, now(&server));
    // A code that no step within the skew makes.
    let near: Vec<String> = [-30, 0, 30]
        .iter()
        .map(|d| code_at(&secret, now(&server) + d))
        .collect();
    let wrong = (0..4)
        .map(|n| format!("{n:06}"))
        .find(|c| !near.contains(c))
        .unwrap();
    let wrong = wrong.as_str();
    // The password's attempt counts towards the streak too (it is cleared only once the factor
    // is proved), so the streak is full after two wrong codes; the third finds it full.
    for _ in 0..3 {
        let refused = submit_factor(
            &server,
            &view.step_id,
            &view.csrf_token,
            FactorAnswer::Totp(wrong),
            &b,
        )
        .await;
        factor_view(&refused);
    }
    // Locked: the right code fails now, and so does the right password.
    let refused = submit_factor(
        &server,
        &view.step_id,
        &view.csrf_token,
        FactorAnswer::Totp(&right),
        &b,
    )
    .await;
    assert!(matches!(
        factor_view(&refused).problem,
        Some(FactorProblem::InvalidCode)
    ));
    let lockout = server
        .engine
        .guard
        .find_lockout(Some(&alice.id))
        .await
        .unwrap();
    assert!(
        server.engine.guard.is_locked(lockout.as_ref()),
        "the streak locked the account"
    );
    let form = login_form(&server, &client, &browser("b-guess-2")).await;
    let outcome = server
        .engine
        .submit_login(login(&form, PASSWORD), &browser("b-guess-2"))
        .await;
    assert!(matches!(
        outcome.step,
        Step::Show(View::Login(LoginView {
            problem: Some(LoginProblem::InvalidCredentials),
            ..
        }))
    ));
}

#[tokio::test]
async fn a_role_that_requires_mfa_leads_a_user_without_a_factor_through_enrolment() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.grant_role_requiring_mfa(&alice, "finance").await;
    let client = server.client().await;
    let b = browser("b-enrol");
    let form = login_form(&server, &client, &b).await;
    let outcome = server.engine.submit_login(login(&form, PASSWORD), &b).await;
    let step = continued_to(&outcome, InteractionPage::Enrolment);
    let shown = server.engine.show_enrolment(Some(&step), &b).await;
    let Step::Show(View::Enrolment(view)) = shown.step else {
        panic!("expected the enrolment page, got {shown:?}");
    };
    assert!(
        view.totp
            .otpauth_uri
            .starts_with("otpauth://totp/id.example:alice?secret=")
    );
    assert!(
        view.passkey_creation.is_some(),
        "https://id.example can be a relying party"
    );
    // The same step shows the same secret again (a reload must not change the QR code).
    let again = server.engine.show_enrolment(Some(&step), &b).await;
    let Step::Show(View::Enrolment(again)) = again.step else {
        panic!()
    };
    assert_eq!(again.totp.secret, view.totp.secret);

    let secret = scanned(&view.totp);
    let submit = |code: String| {
        let step_id = view.step_id.clone();
        let csrf = view.csrf_token.clone();
        let b = b.clone();
        let engine = server.engine.clone();
        async move {
            engine
                .submit_enrolment(
                    EnrolmentSubmission {
                        step_id: Some(&step_id),
                        csrf_token: Some(&csrf),
                        answer: EnrolmentAnswer::Totp {
                            code: &code,
                            name: Some("Work phone"),
                        },
                    },
                    &b,
                )
                .await
        }
    };
    let wrong = submit("12345x".into()).await;
    assert!(matches!(
        wrong.step,
        Step::Show(View::Enrolment(EnrolmentView {
            problem: Some(_),
            ..
        }))
    ));
    let shown = submit(code_at(&secret, now(&server))).await;
    let Step::Show(View::RecoveryCodes(codes)) = shown.step else {
        panic!("expected the recovery codes, got {shown:?}");
    };
    assert_eq!(codes.codes.len(), 10);
    assert!(
        shown.cookies.session.is_none(),
        "no session until the codes were seen"
    );
    let done = server
        .engine
        .finish_recovery_codes(
            StepSubmission {
                step_id: codes.step_id.as_deref(),
                csrf_token: Some(&codes.csrf_token),
            },
            &b,
        )
        .await;
    continued_to(&done, InteractionPage::Consent);
    assert_eq!(session_amr(&server, &done).await, ["pwd", "otp", "mfa"]);
    let factors = server.engine.factors.list_factors(&alice.id).await.unwrap();
    assert_eq!(factors.len(), 1);
    assert_eq!(factors[0].name, "Work phone");
    assert!(
        !server.everything_at_rest().await.contains(&secret.base32()),
        "sealed at rest"
    );
    assert_eq!(
        server
            .engine
            .factors
            .remaining_recovery_codes(&alice.id)
            .await
            .unwrap(),
        10
    );
}

#[tokio::test]
async fn acr_values_steps_up_a_password_session_and_prompt_none_never_satisfies_it_silently() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let client = server.client().await;
    let (mut b, consent) = super::tests::logged_in_at_consent(&server, &client).await;
    let allowed = allow(&server, &consent, &b).await;
    assert!(matches!(&allowed.step, Step::RedirectToClient(l) if has_code(l)));
    let secret = with_totp(&server, &alice).await;

    // Without acr_values the password session still does.
    let plain = server.engine.authorize(&params(&client, &[]), &b).await;
    assert!(matches!(&plain.step, Step::RedirectToClient(l) if has_code(l)));

    let mfa = [("acr_values", crate::mfa::ACR_MFA)];
    let silent = server
        .engine
        .authorize(&params(&client, &[mfa[0], ("prompt", "none")]), &b)
        .await;
    assert!(
        matches!(&silent.step, Step::RedirectToClient(l) if l.contains("error=login_required")),
        "{silent:?}"
    );

    let stepped = server.engine.authorize(&params(&client, &mfa), &b).await;
    let step = continued_to(&stepped, InteractionPage::SecondFactor);
    let shown = server.engine.show_second_factor(Some(&step), &b).await;
    let view = factor_view(&shown);
    let code = code_at(&secret, now(&server));
    let passed = submit_factor(
        &server,
        &view.step_id,
        &view.csrf_token,
        FactorAnswer::Totp(&code),
        &b,
    )
    .await;
    assert!(
        matches!(&passed.step, Step::RedirectToClient(l) if has_code(l)),
        "{passed:?}"
    );
    let new_session = passed.cookies.session.clone().expect("a new session id");
    assert_ne!(Some(&new_session), b.session.as_ref());
    assert_eq!(session_amr(&server, &passed).await, ["pwd", "otp", "mfa"]);
    let old = b.session.clone().unwrap();
    assert!(
        server.engine.find_session(&old).await.unwrap().is_none(),
        "the old session ended"
    );

    // The stepped-up session meets the same request silently from now on.
    b.session = Some(new_session);
    let silent = server
        .engine
        .authorize(&params(&client, &[mfa[0], ("prompt", "none")]), &b)
        .await;
    assert!(
        matches!(&silent.step, Step::RedirectToClient(l) if has_code(l)),
        "{silent:?}"
    );
}

#[tokio::test]
async fn voluntary_acr_goes_on_at_one_factor_for_a_user_without_one_but_an_essential_one_enrols() {
    let server = TestServer::start().await;
    server.user("alice").await;
    let client = server.client().await;
    let (b, consent) = super::tests::logged_in_at_consent(&server, &client).await;
    allow(&server, &consent, &b).await;
    let voluntary = server
        .engine
        .authorize(&params(&client, &[("acr_values", crate::mfa::ACR_MFA)]), &b)
        .await;
    assert!(
        matches!(&voluntary.step, Step::RedirectToClient(l) if has_code(l)),
        "{voluntary:?}"
    );
    let claims = r#"{"id_token":{"acr":{"essential":true,"values":["urn:palisade:acr:mfa"]}}}"#;
    let essential = server
        .engine
        .authorize(&params(&client, &[("claims", claims)]), &b)
        .await;
    continued_to(&essential, InteractionPage::Enrolment);
    let silent = server
        .engine
        .authorize(
            &params(&client, &[("claims", claims), ("prompt", "none")]),
            &b,
        )
        .await;
    assert!(
        matches!(&silent.step, Step::RedirectToClient(l) if l.contains("error=interaction_required")),
        "{silent:?}"
    );
}

#[tokio::test]
async fn a_password_holder_at_the_second_factor_page_cannot_enrol_a_factor_of_their_own() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    with_totp(&server, &alice).await;
    let client = server.client().await;
    let b = browser("b-attacker");
    let view = past_the_password(&server, &client, &b).await;
    let shown = server.engine.show_enrolment(Some(&view.step_id), &b).await;
    assert!(matches!(shown.step, Step::Refuse(_)), "{shown:?}");
    // Even with a secret of the attacker's own making, the step has nothing to enrol.
    let attacker_secret = TotpSecret::generate();
    let code = code_at(&attacker_secret, now(&server));
    let submitted = server
        .engine
        .submit_enrolment(
            EnrolmentSubmission {
                step_id: Some(&view.step_id),
                csrf_token: Some(&view.csrf_token),
                answer: EnrolmentAnswer::Totp {
                    code: &code,
                    name: None,
                },
            },
            &b,
        )
        .await;
    assert!(matches!(submitted.step, Step::Refuse(_)), "{submitted:?}");
    assert!(submitted.cookies.session.is_none());
    assert_eq!(
        server
            .engine
            .factors
            .list_factors(&alice.id)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_sign_in_counts_for_its_own_session_not_one_swapped_in_from_another_tab() {
    let server = TestServer::start().await;
    let bob = server.user("bob").await;
    let secret = with_totp(&server, &bob).await;
    let alice = server.user("alice").await;
    let client = server.client().await;
    let claims = r#"{"id_token":{"acr":{"essential":true,"values":["urn:palisade:acr:mfa"]}}}"#;
    let mut b = browser("b-swap");
    let started = server
        .engine
        .authorize(&params(&client, &[("claims", claims)]), &b)
        .await;
    let step = continued_to(&started, InteractionPage::Login);
    let shown = server.engine.show_login(Some(&step), &b).await;
    let Step::Show(View::Login(form)) = shown.step else {
        panic!("expected the login form, got {shown:?}");
    };
    let submission = LoginSubmission {
        username: "bob",
        ..login(&form, PASSWORD)
    };
    let outcome = server.engine.submit_login(submission, &b).await;
    let step = continued_to(&outcome, InteractionPage::SecondFactor);
    let shown = server.engine.show_second_factor(Some(&step), &b).await;
    let view = factor_view(&shown);
    let code = code_at(&secret, now(&server));
    let passed = submit_factor(
        &server,
        &view.step_id,
        &view.csrf_token,
        FactorAnswer::Totp(&code),
        &b,
    )
    .await;
    let step = continued_to(&passed, InteractionPage::Consent);
    b.session = passed.cookies.session.clone();
    let shown = server.engine.show_consent(Some(&step), &b).await;
    let Step::Show(View::Consent(consent)) = shown.step else {
        panic!("expected the consent page, got {shown:?}");
    };

    // Another tab signs alice in with her password alone; the consent form is then sent.
    let (alice_session, _) = server
        .engine
        .start_session(&alice, vec!["pwd".into()], &b)
        .await
        .unwrap();
    b.session = Some(alice_session);
    let decided = allow(&server, &consent, &b).await;
    continued_to(&decided, InteractionPage::Enrolment);
}
