//! The consoles' pages (`/account/...`, `/admin/...`): one frame around all of them
//! (`templates/console/base.html`: header, navigation, the page's notice or problem) and a
//! module of view models per area. Every string comes from [`crate::catalogue`].
//!
//! A page struct carries its [`ConsoleFrame`] as the field `frame` and extends
//! `console/base.html`, filling the `content` block.

use crate::catalogue::ConsoleText;

pub mod account;
pub mod admin;
pub mod audit;
pub mod keys;
pub mod roles;
pub mod sessions;

/// One entry of the console navigation.
#[derive(Debug, Clone)]
pub struct NavLink {
    pub href: String,
    pub label: &'static str,
    /// The page being shown is this entry (`aria-current="page"`).
    pub is_current: bool,
}

/// What every console page shows around its content.
#[derive(Debug)]
pub struct ConsoleFrame<'a> {
    pub text: &'static ConsoleText,
    /// The console's name (`text.account_console` or `text.admin_console`).
    pub console_name: &'static str,
    /// The page's heading, also the start of its title.
    pub heading: &'a str,
    pub user_display: &'a str,
    pub nav: Vec<NavLink>,
    /// A link to the other console, when the viewer may use it.
    pub other_console: Option<NavLink>,
    /// Where "Sign out" leads (the logout confirmation page).
    pub sign_out_href: String,
    /// What the last action did, or why it failed.
    pub notice: Option<&'a str>,
    pub problem: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Layout;
    use crate::catalogue::CONSOLE_EN;
    use askama::Template;

    #[derive(Template)]
    #[template(
        source = "{% extends \"console/base.html\" %}{% block content %}<p>{{ body }}</p>{% endblock %}",
        ext = "html"
    )]
    struct SamplePage<'a> {
        frame: ConsoleFrame<'a>,
        body: &'a str,
    }
    impl Layout for SamplePage<'_> {}

    fn frame(problem: Option<&'static str>) -> ConsoleFrame<'static> {
        ConsoleFrame {
            text: &CONSOLE_EN,
            console_name: CONSOLE_EN.account_console,
            heading: "Profile",
            user_display: "<ada>",
            nav: vec![
                NavLink {
                    href: "/account".into(),
                    label: "Profile",
                    is_current: true,
                },
                NavLink {
                    href: "/account/sessions".into(),
                    label: "Sessions",
                    is_current: false,
                },
            ],
            other_console: None,
            sign_out_href: "/logout".into(),
            notice: None,
            problem,
        }
    }

    #[test]
    fn the_frame_marks_the_current_page_escapes_what_it_shows_and_names_the_problem() {
        let html = SamplePage {
            frame: frame(Some("That did not work")),
            body: "<b>",
        }
        .render()
        .unwrap();
        assert!(html.contains(r#"<a href="/account" aria-current="page">Profile</a>"#));
        assert!(html.contains(r#"<a href="/account/sessions">Sessions</a>"#));
        assert!(html.contains("&#60;ada&#62;") || html.contains("&lt;ada&gt;"));
        assert!(!html.contains("<ada>") && !html.contains("<b>"));
        assert!(html.contains(r#"role="alert">That did not work<"#));
        assert!(html.contains("<title>Profile · Your account · Palisade</title>"));
        assert!(html.contains(r##"<a class="skip" href="#main">Skip to content</a>"##));
    }
}
