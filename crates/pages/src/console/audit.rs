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
