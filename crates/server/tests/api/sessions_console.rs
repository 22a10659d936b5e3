//! The account console's sessions page (`/account/sessions`), walked as a person does: sign
//! in from two browsers (two cookie jars), see both, sign the other out, and find the other
//! browser signed out at its next page. Also the helpers the other console tests share: a
//! signed-in user, and an administrator signed in with a TOTP code.

use crate::authorize_rules::authorize_url;
use crate::harness::{TestApp, spawn_app};
use crate::support::{
    Browser, ClientSpec, TestClient, create_user, hidden, pkce_pair, query_param, register_client,
};
use palisade_core::model::{AuditQuery, UserId};
use palisade_core::ports::AuditLog;
use reqwest::StatusCode;

/// A browser with a `User-Agent` of its own (the sessions page names it).
pub(crate) fn browser_as(user_agent: &str) -> Browser {
    Browser {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .user_agent(user_agent)
            .build()
            .unwrap(),
    }
}

/// Signs `browser` in as `username` through `/authorize` with the password (and consent).
pub(crate) async fn sign_in(app: &TestApp, rp: &TestClient, browser: &Browser, username: &str) {
    let (_, challenge) = pkce_pair();
    let back = browser
        .authorize(&authorize_url(app, rp, &challenge, &[]), username)
        .await;
    assert!(query_param(&back, "code").is_some(), "{back}");
}

/// A new user holding `role` (`admin`, `auditor`, …), signed in with a second factor in a
/// fresh browser, as the admin console needs ([`crate::admin_console::admin_session`]).
pub(crate) async fn admin_browser(
    app: &TestApp,
    rp: &TestClient,
    username: &str,
    role: &str,
) -> (UserId, Browser) {
    crate::admin_console::admin_session(app, rp, username, &[role]).await
}

pub(crate) async fn page(browser: &Browser, url: &str) -> (StatusCode, String) {
    let res = browser.get(url).await;
    (res.status(), res.text().await.unwrap())
}

pub(crate) async fn rp(app: &TestApp) -> TestClient {
    register_client(app, ClientSpec::default()).await
}

const FIREFOX: &str =
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

/// The session handles a sessions page offers to sign out.
fn handles(html: &str) -> Vec<String> {
    html.split(r#"name="handle" value=""#)
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

#[tokio::test]
async fn two_browsers_see_two_sessions_and_one_signs_the_other_out() {
    let app = spawn_app().await;
    let rp = rp(&app).await;
    let alice = create_user(&app, "alice").await;
    let laptop = browser_as(FIREFOX);
    let phone = browser_as(CHROME);
    sign_in(&app, &rp, &laptop, "alice").await;
    sign_in(&app, &rp, &phone, "alice").await;

    let url = app.url("/account/sessions");
    let (status, html) = page(&laptop, &url).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Firefox on Linux"), "{html}");
    assert!(html.contains("Chrome on Windows"), "{html}");
    assert!(html.contains("This browser"), "{html}");
    assert!(html.contains("127.0.0.1"), "{html}");
    assert!(html.contains("<time datetime=\""), "{html}");
    // The laptop's own session has no sign-out button there: one handle, the phone's.
    let others = handles(&html);
    assert_eq!(others.len(), 1, "{html}");

    let (status, phone_page) = page(&phone, &url).await;
    assert_eq!(status, StatusCode::OK);
    assert!(phone_page.contains("Firefox on Linux") && phone_page.contains("Chrome on Windows"));

    let ended = laptop
        .post_form(
            &url,
            &[
                ("csrf_token", &hidden(&html, "csrf_token")),
                ("action", "end"),
                ("handle", &others[0]),
            ],
        )
        .await;
    assert_eq!(ended.status(), StatusCode::OK);
    let html = ended.text().await.unwrap();
    assert!(html.contains("The session was signed out."), "{html}");
    assert!(!html.contains("Chrome on Windows"), "{html}");
    assert!(handles(&html).is_empty());

    // The phone's next page finds it signed out (sent to sign in again); the laptop is still
    // signed in.
    let res = phone.get(&url).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"].to_str().unwrap(),
        app.url("/account/sign-in?return=%2Faccount%2Fsessions")
    );
    assert_eq!(page(&laptop, &url).await.0, StatusCode::OK);

    let events = app
        .state
        .sql
        .query(AuditQuery {
            action: Some("account.session.end".into()),
            target: Some(format!("user:{alice}")),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor, format!("user:{alice}"));
}

#[tokio::test]
async fn ending_someone_elses_session_or_a_made_up_one_does_nothing() {
    let app = spawn_app().await;
    let rp = rp(&app).await;
    create_user(&app, "alice").await;
    create_user(&app, "mallory").await;
    let alice = browser_as(FIREFOX);
    let alice_phone = browser_as(CHROME);
    let mallory = Browser::new();
    sign_in(&app, &rp, &alice, "alice").await;
    sign_in(&app, &rp, &alice_phone, "alice").await;
    sign_in(&app, &rp, &mallory, "mallory").await;
    // A second browser of hers, so her page has a form (and its token) to copy.
    sign_in(&app, &rp, &Browser::new(), "mallory").await;
    let url = app.url("/account/sessions");
    let alice_handles = handles(&page(&alice, &url).await.1);
    let phone_handles = handles(&page(&alice_phone, &url).await.1);
    let mut every_handle = alice_handles.clone();
    every_handle.extend(phone_handles);
    assert_eq!(every_handle.len(), 2);

    let (_, html) = page(&mallory, &url).await;
    let csrf = hidden(&html, "csrf_token");
    for handle in every_handle
        .iter()
        .map(String::as_str)
        .chain(["made-up", ""])
    {
        let res = mallory
            .post_form(
                &url,
                &[("csrf_token", &csrf), ("action", "end"), ("handle", handle)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(html.contains("That session had already ended."), "{html}");
    }
    // Both of alice's browsers are still signed in, and nothing was recorded.
    assert_eq!(page(&alice, &url).await.0, StatusCode::OK);
    assert_eq!(page(&alice_phone, &url).await.0, StatusCode::OK);
    assert_eq!(handles(&page(&alice, &url).await.1).len(), 1);
    let events = app
        .state
        .sql
        .query(AuditQuery {
            action: Some("account.session.end".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(events.is_empty(), "{events:?}");
}

#[tokio::test]
async fn signing_out_every_other_session_keeps_this_one() {
    let app = spawn_app().await;
    let rp = rp(&app).await;
    create_user(&app, "alice").await;
    let browsers: Vec<Browser> = (0..3).map(|_| Browser::new()).collect();
    for b in &browsers {
        sign_in(&app, &rp, b, "alice").await;
    }
    let url = app.url("/account/sessions");
    let (_, html) = page(&browsers[0], &url).await;
    assert_eq!(handles(&html).len(), 2);
    let res = browsers[0]
        .post_form(
            &url,
            &[
                ("csrf_token", &hidden(&html, "csrf_token")),
                ("action", "end-others"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("2 other sessions were signed out."), "{html}");
    assert_eq!(page(&browsers[0], &url).await.0, StatusCode::OK);
    for b in &browsers[1..] {
        assert_ne!(page(b, &url).await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_form_without_the_sessions_token_or_from_another_site_changes_nothing() {
    let app = spawn_app().await;
    let rp = rp(&app).await;
    create_user(&app, "alice").await;
    let (a, b) = (Browser::new(), Browser::new());
    sign_in(&app, &rp, &a, "alice").await;
    sign_in(&app, &rp, &b, "alice").await;
    let url = app.url("/account/sessions");
    let (_, html) = page(&a, &url).await;
    let handle = handles(&html).remove(0);
    for csrf in ["", "wrong"] {
        let res = a
            .post_form(
                &url,
                &[("csrf_token", csrf), ("action", "end"), ("handle", &handle)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    let cross_site = a
        .http
        .post(&url)
        .header("origin", "https://evil.example")
        .form(&[
            ("csrf_token", hidden(&html, "csrf_token").as_str()),
            ("action", "end-others"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    let unknown = a
        .post_form(
            &url,
            &[
                ("csrf_token", &hidden(&html, "csrf_token")),
                ("action", "explode"),
            ],
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        page(&b, &url).await.0,
        StatusCode::OK,
        "the other session stands"
    );
    // Signed out: no page, no action.
    let stranger = Browser::new();
    assert_ne!(page(&stranger, &url).await.0, StatusCode::OK);
}

#[tokio::test]
async fn logging_out_removes_the_session_from_the_list() {
    let app = spawn_app().await;
    let rp = rp(&app).await;
    let alice = create_user(&app, "alice").await;
    let (a, b) = (Browser::new(), Browser::new());
    sign_in(&app, &rp, &a, "alice").await;
    sign_in(&app, &rp, &b, "alice").await;
    let logout = b.get(&app.url("/logout")).await;
    let html = logout.text().await.unwrap();
    let confirmed = b
        .post_form(
            &app.url("/logout/confirm"),
            &[("csrf_token", &hidden(&html, "csrf_token"))],
        )
        .await;
    assert!(confirmed.status().is_success() || confirmed.status().is_redirection());
    let user = app
        .state
        .engine
        .users
        .find_user_by_id(&alice)
        .await
        .unwrap()
        .unwrap();
    let listed = app
        .state
        .engine
        .sessions_of_user(&user, None)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let (_, html) = page(&a, &app.url("/account/sessions")).await;
    assert!(handles(&html).is_empty(), "{html}");
}
