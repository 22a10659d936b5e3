//! The audit trail as people read it: the user's own activity (`/account/activity`) and the admin console's audit log (`/admin/audit`, with its export).

use super::ConsoleFrame;
use crate::Layout;
use crate::catalogue::audit::AuditText;
use askama::Template;

/// Links to the neighbouring pages of a list.
#[derive(Debug, Default)]
pub struct Pager {
    pub previous_href: Option<String>,
    pub next_href: Option<String>,
    /// "Page 3".
    pub label: String,
}

/// `/account/activity`.
#[derive(Template, Debug)]
#[template(path = "account/activity.html")]
pub struct ActivityPage<'a> {
    pub frame: ConsoleFrame<'a>,
    pub text: &'static AuditText,
    pub rows: Vec<ActivityRow>,
    pub pager: Pager,
}

/// One event on the activity page.
#[derive(Debug)]
pub struct ActivityRow {
    pub at: String,
    pub at_shown: String,
    /// The sentence for the event, with its reason when it failed.
    pub what: String,
    pub outcome: &'static str,
    pub is_failure: bool,
    pub address: String,
}

/// `/admin/audit`: the filter (a GET form), the events, the pager and the export links.
#[derive(Template, Debug)]
#[template(path = "admin/audit.html")]
pub struct AuditLogPage<'a> {
    pub frame: ConsoleFrame<'a>,
    pub text: &'static AuditText,
    pub form_action: &'a str,
    pub user: &'a str,
    pub client: &'a str,
    pub action: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub rows: Vec<AuditRow>,
    pub pager: Pager,
    pub export_csv_href: String,
    pub export_jsonl_href: String,
}

/// One event in the audit log.
#[derive(Debug)]
pub struct AuditRow {
    pub at: String,
    pub at_shown: String,
    /// The username when the party is a user that exists, else the party as recorded.
    pub actor: String,
    /// The party as recorded (`user:<id>`), as a tooltip.
    pub actor_id: String,
    pub target: String,
    pub target_id: String,
    pub action: String,
    /// Shown as a badge when the event is a failure.
    pub outcome: &'static str,
    pub is_failure: bool,
    pub address: String,
    pub details: String,
}

impl Layout for ActivityPage<'_> {}
impl Layout for AuditLogPage<'_> {}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::catalogue::CONSOLE_EN;
    use crate::catalogue::audit::EN;

    pub(crate) fn frame(heading: &'static str) -> ConsoleFrame<'static> {
        ConsoleFrame {
            text: &CONSOLE_EN,
            console_name: CONSOLE_EN.admin_console,
            heading,
            user_display: "root",
            nav: Vec::new(),
            other_console: None,
            sign_out_href: "/logout".into(),
            notice: None,
            problem: None,
        }
    }

    /// Every visible field has a `<label for>`, and no id is used twice.
    pub(crate) fn assert_every_field_is_labelled(html: &str) {
        for tag in html.split("<input").skip(1) {
            let tag = &tag[..tag.find('>').unwrap()];
            if tag.contains(r#"type="hidden""#) {
                continue;
            }
            let id = tag
                .split(r#"id=""#)
                .nth(1)
                .map(|r| &r[..r.find('"').unwrap()]);
            let id = id.unwrap_or_else(|| panic!("a field without an id: {tag}"));
            assert!(
                html.contains(&format!(r#"<label for="{id}">"#)),
                "#{id}: {html}"
            );
        }
        let mut ids: Vec<&str> = html
            .split(" id=\"")
            .skip(1)
            .map(|rest| &rest[..rest.find('"').unwrap()])
            .collect();
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "an id is used twice: {html}");
    }

    #[test]
    fn the_audit_log_labels_its_filter_escapes_what_it_shows_and_links_its_pages() {
        let html = AuditLogPage {
            frame: frame("Audit log"),
            text: &EN,
            form_action: "/admin/audit",
            user: "\"><script>",
            client: "",
            action: "login",
            from: "",
            to: "",
            rows: vec![AuditRow {
                at: "2026-12-05T04:00:00+00:00".into(),
                at_shown: "2026-12-05 04:00 UTC".into(),
                actor: "<img src=x>".into(),
                actor_id: "user:1".into(),
                target: String::new(),
                target_id: String::new(),
                action: "login".into(),
                outcome: "Failed",
                is_failure: true,
                address: "192.0.2.1".into(),
                details: r#"{"reason":"<b>"}"#.into(),
            }],
            pager: Pager {
                previous_href: None,
                next_href: Some("/admin/audit?action=login&page=2".into()),
                label: "Page 1".into(),
            },
            export_csv_href: "/admin/audit/export?format=csv&action=login".into(),
            export_jsonl_href: "/admin/audit/export?format=jsonl&action=login".into(),
        }
        .render()
        .unwrap();
        assert_every_field_is_labelled(&html);
        assert!(!html.contains("<script>") && !html.contains("<img") && !html.contains("<b>"));
        assert!(html.contains(r#"<time datetime="2026-12-05T04:00:00+00:00">"#));
        assert!(html.contains(r#"rel="next""#) && !html.contains(r#"rel="prev""#));
        assert!(html.contains(r#"class="badge warn">Failed<"#));
        assert!(html.contains(r#"data-label="When""#), "phone-width labels");
    }
}
