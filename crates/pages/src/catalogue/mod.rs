//! Every string the consoles show, in one place: a struct of texts per console area, and one
//! value of it per language (English only, for now). A page takes its texts from here and
//! never writes a sentence in its template, so a translation is one more value of each struct,
//! checked by the compiler for completeness.
//!
//! Text that carries data ("3 sessions ended") is a function of that data here too, because
//! word order and plurals differ between languages.
//!
//! The sign-in pages, which came before the consoles, still have their English in their
//! templates; moving them here is a mechanical change left for when a second language comes.

pub mod account;
pub mod admin;
pub mod audit;
pub mod keys;
pub mod roles;
pub mod sessions;

/// The frame around every console page.
#[derive(Debug)]
pub struct ConsoleText {
    pub skip_to_content: &'static str,
    /// The name of the account console, in its header and title.
    pub account_console: &'static str,
    /// The name of the admin console.
    pub admin_console: &'static str,
    /// The accessible name of the console navigation.
    pub navigation: &'static str,
    pub signed_in_as: &'static str,
    pub sign_out: &'static str,
    /// Pagination.
    pub previous_page: &'static str,
    pub next_page: &'static str,
    /// Shown where a list has nothing in it.
    pub nothing_here: &'static str,
    /// The sections of the navigation (and their pages' headings).
    pub profile: &'static str,
    pub security: &'static str,
    pub sessions: &'static str,
    pub applications: &'static str,
    pub activity: &'static str,
    pub users: &'static str,
    pub roles: &'static str,
    pub reviews: &'static str,
    pub clients: &'static str,
    pub keys: &'static str,
    pub audit: &'static str,
}

pub static CONSOLE_EN: ConsoleText = ConsoleText {
    skip_to_content: "Skip to content",
    account_console: "Your account",
    admin_console: "Administration",
    navigation: "Console",
    signed_in_as: "Signed in as",
    sign_out: "Sign out",
    previous_page: "Previous page",
    next_page: "Next page",
    nothing_here: "Nothing here yet.",
    profile: "Profile",
    security: "Security",
    sessions: "Sessions",
    applications: "Connected applications",
    activity: "Activity",
    users: "Users",
    roles: "Roles",
    reviews: "Access reviews",
    clients: "Clients",
    keys: "Signing keys",
    audit: "Audit log",
};
