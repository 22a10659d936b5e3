//! The consoles' pages (`/account/...`, `/admin/...`): each area parses its forms, calls the
//! engine's console module of the same name ([`palisade_flow::console`]) and renders the view
//! it answers with `palisade-pages`' console module of the same name.

use crate::app::AppState;
use palisade_flow::console::{Frame, Section};
use palisade_pages::catalogue::{CONSOLE_EN, ConsoleText};
use palisade_pages::console::{ConsoleFrame, NavLink};

pub mod account;
pub mod admin;
pub mod audit;
pub mod keys;
pub mod roles;
pub mod sessions;
pub mod sign_in;

/// The strings of the console frame (one language for now: see the catalogue).
pub fn text() -> &'static ConsoleText {
    &CONSOLE_EN
}

/// A section's name in the navigation and as its page's heading.
pub fn section_label(section: Section) -> &'static str {
    let t = text();
    match section {
        Section::Profile => t.profile,
        Section::Security => t.security,
        Section::Sessions => t.sessions,
        Section::Applications => t.applications,
        Section::Activity => t.activity,
        Section::Users => t.users,
        Section::Roles => t.roles,
        Section::Reviews => t.reviews,
        Section::Clients => t.clients,
        Section::Keys => t.keys,
        Section::Audit => t.audit,
    }
}

/// The frame around a console page: `heading` defaults to the section's name.
pub fn frame<'a>(
    state: &AppState,
    frame: &'a Frame,
    heading: Option<&'a str>,
    notice: Option<&'a str>,
    problem: Option<&'a str>,
) -> ConsoleFrame<'a> {
    let is_admin = Section::ADMIN.contains(&frame.current);
    let link = |section: Section| NavLink {
        href: state.endpoint(section.path()),
        label: section_label(section),
        is_current: section == frame.current,
    };
    let t = text();
    ConsoleFrame {
        text: t,
        console_name: if is_admin {
            t.admin_console
        } else {
            t.account_console
        },
        heading: heading.unwrap_or_else(|| section_label(frame.current)),
        user_display: &frame.user_display,
        nav: frame.nav.iter().map(|s| link(*s)).collect(),
        other_console: frame.may_administer.then(|| NavLink {
            href: state.endpoint(if is_admin { "/account" } else { "/admin" }),
            label: if is_admin {
                t.account_console
            } else {
                t.admin_console
            },
            is_current: false,
        }),
        sign_out_href: state.endpoint("/logout"),
        notice,
        problem,
    }
}
