//! An automated accessibility check in the browser: axe-core (from the npm registry, pinned by
//! `crates/server/tests/a11y/package-lock.json`) is injected into the page Chromium shows and
//! run against WCAG 2.0, 2.1 and 2.2 A/AA rules (labels, names, contrast, landmarks, heading
//! order, ARIA use...). Any violation fails the test, with the rule, its impact and the elements.
//!
//! axe-core is installed on first use with `npm ci` into `crates/server/tests/a11y/node_modules`
//! (`.ci/run` does the same up front). Without npm the check fails rather than skips.
//!
//! WebDriver runs injected scripts outside the page's Content-Security-Policy, so the pages
//! keep their `script-src` as served.
//!
//! Also here: [`screenshot_at_widths`], the desktop and phone pictures of a page, written to
//! `target/browser-artifacts/`, or to `$PALISADE_SCREENSHOT_DIR` when it is set (how
//! `docs/images/` is refreshed: docs/console.md).

use crate::headless_chromium::Chromium;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Desktop and phone viewport widths of the screenshots (a common laptop, an iPhone 12-15).
pub(crate) const DESKTOP: (u32, u32) = (1280, 900);
pub(crate) const PHONE: (u32, u32) = (390, 844);

fn package_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/a11y")
}

/// axe-core's source, installed on first use. One test binary runs every test, so a process-wide
/// once is enough to keep two tests from installing at the same time.
fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let script = package_dir().join("node_modules/axe-core/axe.min.js");
        if !script.exists() {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(package_dir())
                .status()
                .unwrap_or_else(|e| {
                    panic!(
                        "the accessibility check needs npm to install axe-core ({e}); \
                         install Node.js and npm, or run `npm ci` in {}",
                        package_dir().display()
                    )
                });
            assert!(status.success(), "npm ci for axe-core failed: {status}");
        }
        std::fs::read_to_string(&script)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", script.display()))
    })
}

/// The WCAG rules checked (axe tags).
const STANDARDS: [&str; 5] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];

/// The violations axe finds on the page shown now, as readable lines.
pub(crate) async fn accessibility_violations(browser: &Chromium) -> Vec<String> {
    browser
        .client
        .execute(axe_source(), vec![])
        .await
        .expect("axe-core did not load into the page");
    let found = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { runOnly: { type: 'tag', values: arguments[0] },
                                 resultTypes: ['violations'] })
               .then(r => done(r.violations.map(v => ({
                   id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ')) }))))
               .catch(e => done([{ id: 'axe-failed', impact: 'critical', help: String(e), nodes: [] }]));",
            vec![json!(STANDARDS)],
        )
        .await
        .expect("axe-core did not run");
    found
        .as_array()
        .expect("axe answers a list")
        .iter()
        .map(|v: &Value| {
            format!(
                "{} ({}): {} at {}",
                v["id"].as_str().unwrap_or_default(),
                v["impact"].as_str().unwrap_or("?"),
                v["help"].as_str().unwrap_or_default(),
                v["nodes"]
            )
        })
        .collect()
}

/// Fails the test when the page shown now breaks a WCAG A/AA rule axe can check, at desktop
/// width and at phone width (a layout that hides or overlaps things on a phone shows there).
pub(crate) async fn assert_accessible(browser: &Chromium, page: &str) {
    for (width, height) in [DESKTOP, PHONE] {
        browser.client.set_window_size(width, height).await.unwrap();
        let violations = accessibility_violations(browser).await;
        assert!(
            violations.is_empty(),
            "{page} at {width} px breaks accessibility rules:\n{}",
            violations.join("\n")
        );
    }
    browser
        .client
        .set_window_size(DESKTOP.0, DESKTOP.1)
        .await
        .unwrap();
}

/// What every console page must pass in the browser tests: axe-core's WCAG A/AA rules at
/// desktop and phone width, no sideways scrolling on a phone (where the lists become cards);
/// then it is saved at both widths ([`screenshot_at_widths`]).
pub(crate) async fn check_and_picture(browser: &Chromium, name: &str) {
    assert_accessible(browser, name).await;
    browser
        .client
        .set_window_size(PHONE.0, PHONE.1)
        .await
        .unwrap();
    let overflow = browser
        .js("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        .await;
    assert!(
        overflow.as_i64().unwrap_or(0) <= 0,
        "{name} scrolls sideways at phone width"
    );
    screenshot_at_widths(browser, name).await;
}

/// Saves the page shown now as `{name}-desktop.png` and `{name}-phone.png`, whole pages (the
/// window grows to the document's height, capped), then restores the desktop window.
pub(crate) async fn screenshot_at_widths(browser: &Chromium, name: &str) {
    // Relative to the workspace root, where the README's commands run (cargo runs the tests
    // in the crate's folder).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = std::env::var_os("PALISADE_SCREENSHOT_DIR")
        .map(|dir| root.join(dir))
        .unwrap_or_else(|| root.join("target/browser-artifacts"));
    std::fs::create_dir_all(&dir).unwrap();
    for (label, (width, height)) in [("desktop", DESKTOP), ("phone", PHONE)] {
        browser.client.set_window_size(width, height).await.unwrap();
        let full = browser
            .js("return Math.ceil(document.documentElement.scrollHeight)")
            .await
            .as_u64()
            .unwrap_or(u64::from(height));
        let tall = u32::try_from(full).unwrap_or(height).clamp(height, 2400);
        browser.client.set_window_size(width, tall).await.unwrap();
        let png = browser.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(dir.join(format!("{name}-{label}.png")), png).unwrap();
    }
    browser
        .client
        .set_window_size(DESKTOP.0, DESKTOP.1)
        .await
        .unwrap();
}

#[cfg(test)]
mod sign_in_pages {
    use super::*;
    use crate::authorize_rules::authorize_url;
    use crate::harness::spawn_app;
    use crate::headless_chromium::{RelyingParty, client_of};
    use crate::support::{PASSWORD, create_user, pkce_pair};

    /// The pages every user meets (sign-in, its error, consent, their own security page) pass
    /// the check at both widths. The consoles' pages are checked in their own browser tests.
    #[tokio::test]
    async fn the_sign_in_consent_and_security_pages_pass_the_accessibility_check() {
        let app = spawn_app().await;
        let rp = RelyingParty::start();
        let client = client_of(&app, &rp).await;
        create_user(&app, "alice").await;
        let browser = Chromium::launch().await;
        let (_, challenge) = pkce_pair();
        browser
            .client
            .goto(&authorize_url(&app, &client, &challenge, &[]))
            .await
            .unwrap();
        browser.wait_for("#username").await;
        assert_accessible(&browser, "login").await;

        browser.sign_in("alice", "not the password").await;
        browser.wait_for("#login-error").await;
        assert_accessible(&browser, "login with an error").await;

        browser.sign_in("alice", PASSWORD).await;
        browser
            .wait_for("button[name=decision][value=allow]")
            .await
            .click()
            .await
            .unwrap();
        browser.wait_for_url_starting_with(&rp.callback).await;

        browser
            .client
            .goto(&app.url("/account/security"))
            .await
            .unwrap();
        browser.wait_for("h1").await;
        assert_accessible(&browser, "account security").await;

        // A check that cannot fail proves nothing: a field without a label is caught.
        browser
            .js(
                "const i = document.createElement('input'); i.type = 'text'; \
                 document.querySelector('main').append(i); return true",
            )
            .await;
        let violations = accessibility_violations(&browser).await;
        assert!(
            violations.iter().any(|v| v.starts_with("label ")),
            "an unlabelled field went unnoticed: {violations:?}"
        );
        browser.close().await;
    }
}
