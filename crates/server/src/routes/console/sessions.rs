//! The account console's sessions page (`/account/sessions`), and the session list the admin console shows for a user.
//!
//! `GET` lists where the user is signed in; `POST` (through [`BrowserForm`]) ends one session
//! (`action=end`, `handle`) or every other one (`action=end-others`), and answers with the page
//! and a notice ([`palisade_flow::console::sessions`]).

use crate::app::AppState;
use crate::browser::{BrowserForm, browser_of, page, respond};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use palisade_flow::console::sessions::{
    SessionsAction, SessionsNotice, SessionsSubmission, SessionsView,
};
use palisade_pages::catalogue::sessions::{EN, SessionsText};
use palisade_pages::console::sessions::{SessionRow, SessionsPage};

fn text() -> &'static SessionsText {
    &EN
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let outcome = state.engine.show_sessions(&browser).await;
    respond(&state, outcome)
}

pub async fn submit(
    req: HttpRequest,
    form: BrowserForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let submission = SessionsSubmission {
        csrf_token: form.get("csrf_token"),
        action: SessionsAction::from_form(|name| form.get(name)),
    };
    let outcome = state.engine.sessions_action(submission, &browser).await;
    respond(&state, outcome)
}

/// Renders a page of this area.
pub fn render(state: &AppState, view: SessionsView) -> HttpResponse {
    let t = text();
    match view {
        SessionsView::List(list) => {
            let notice = list.notice.map(|n| match n {
                SessionsNotice::Ended => t.ended.to_owned(),
                SessionsNotice::NotFound => t.not_found.to_owned(),
                SessionsNotice::EndedOthers(n) => (t.ended_others)(n),
            });
            let form_action = state.endpoint("/account/sessions");
            let rows: Vec<SessionRow> = list
                .sessions
                .iter()
                .map(|s| {
                    let browser = s
                        .user_agent
                        .as_deref()
                        .map(browser_name)
                        .unwrap_or_else(|| t.unknown_browser.to_owned());
                    SessionRow {
                        handle: s.handle.clone(),
                        sign_out_label: (t.sign_out_label)(&browser),
                        browser,
                        user_agent: s.user_agent.clone().unwrap_or_default(),
                        address: s
                            .client_ip
                            .clone()
                            .unwrap_or_else(|| t.unknown_address.to_owned()),
                        signed_in_at: s.created_at.to_rfc3339(),
                        signed_in_shown: shown(s.created_at),
                        last_seen_at: s.last_seen_at.to_rfc3339(),
                        last_seen_shown: shown(s.last_seen_at),
                        is_current: s.is_current,
                    }
                })
                .collect();
            let has_others = rows.iter().any(|r| !r.is_current);
            page(
                askama::Template::render(&SessionsPage {
                    frame: super::frame(state, &list.frame, None, notice.as_deref(), None),
                    text: t,
                    csrf_token: &list.frame.csrf_token,
                    form_action: &form_action,
                    rows,
                    has_others,
                }),
                false,
            )
        }
    }
}

/// An instant as the consoles show it: `2026-12-05 14:03 UTC`.
pub fn shown(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A short name for a user agent: "Firefox on Linux", or the agent's first word. Order
/// matters: Edge and Opera say "Chrome" too, Chrome says "Safari", Android says "Linux".
pub fn browser_name(user_agent: &str) -> String {
    let has = |needle: &str| user_agent.contains(needle);
    let browser = if has("Edg/") || has("Edge/") {
        Some("Edge")
    } else if has("OPR/") || has("Opera") {
        Some("Opera")
    } else if has("Firefox/") || has("FxiOS/") {
        Some("Firefox")
    } else if has("Chrome/") || has("CriOS/") || has("Chromium/") {
        Some("Chrome")
    } else if has("Safari/") && has("Version/") {
        Some("Safari")
    } else {
        None
    };
    let system = if has("iPhone") || has("iPad") || has("iPod") {
        Some("iOS")
    } else if has("Android") {
        Some("Android")
    } else if has("Windows") {
        Some("Windows")
    } else if has("Mac OS X") || has("Macintosh") {
        Some("macOS")
    } else if has("CrOS") {
        Some("ChromeOS")
    } else if has("Linux") || has("X11") {
        Some("Linux")
    } else {
        None
    };
    match (browser, system) {
        (Some(b), Some(s)) => (text().browser_on_system)(b, s),
        (Some(b), None) => b.to_owned(),
        _ => user_agent
            .split(['/', ' '])
            .next()
            .filter(|w| !w.is_empty())
            .map_or_else(
                || text().unknown_browser.to_owned(),
                |w| w.chars().take(40).collect(),
            ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_get_short_names() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            (
                "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
                "Firefox on Linux",
            ),
            ("curl/8.4.0", "curl"),
            ("", "Unknown browser"),
        ];
        for (agent, name) in cases {
            assert_eq!(browser_name(agent), name, "{agent}");
        }
    }
}
