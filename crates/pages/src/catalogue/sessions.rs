//! Strings of: account console's sessions page (`/account/sessions`), and the session list the admin console shows for a user.

#[derive(Debug)]
pub struct SessionsText {
    pub intro: &'static str,
    /// The table's accessible name and its columns.
    pub caption: &'static str,
    pub browser: &'static str,
    pub address: &'static str,
    pub signed_in: &'static str,
    pub last_seen: &'static str,
    pub actions: &'static str,
    /// Marks the session of the browser looking at the page.
    pub this_browser: &'static str,
    pub unknown_browser: &'static str,
    pub unknown_address: &'static str,
    pub sign_out: &'static str,
    pub sign_out_others: &'static str,
    pub sign_out_others_help: &'static str,
    pub ended: &'static str,
    pub not_found: &'static str,
    /// "Chrome on Linux": browser, then system.
    pub browser_on_system: fn(&str, &str) -> String,
    /// "3 other sessions were signed out."
    pub ended_others: fn(usize) -> String,
    /// The accessible name of a session's sign-out button.
    pub sign_out_label: fn(&str) -> String,
}

pub static EN: SessionsText = SessionsText {
    intro: "These are the browsers where you are signed in to Palisade. If you do not recognise one, sign it out and change your password.",
    caption: "Where you are signed in",
    browser: "Browser",
    address: "Address",
    signed_in: "Signed in",
    last_seen: "Last seen",
    actions: "Actions",
    this_browser: "This browser",
    unknown_browser: "Unknown browser",
    unknown_address: "Unknown",
    sign_out: "Sign out",
    sign_out_others: "Sign out all other sessions",
    sign_out_others_help: "Every browser but this one will have to sign in again.",
    ended: "The session was signed out.",
    not_found: "That session had already ended.",
    browser_on_system: |browser, system| format!("{browser} on {system}"),
    ended_others: |n| match n {
        0 => "There were no other sessions to sign out.".to_owned(),
        1 => "1 other session was signed out.".to_owned(),
        n => format!("{n} other sessions were signed out."),
    },
    sign_out_label: |browser| format!("Sign out {browser}"),
};
