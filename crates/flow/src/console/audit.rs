//! The audit trail as people read it: the user's own activity (`/account/activity`) and the admin console's audit log (`/admin/audit`, with its export).
//!
//! The activity page shows the events that name the user as their *target*: sign-ins and their
//! failures (`login`, `login.second_factor`, `login.passkey`), lockouts (`user.lockout`,
//! `user.unlock`), factor changes (`factor.*`), sessions ended (`account.session.end`) and what
//! administrators did to the account (`admin.user.*`). Sign-in events name the user as actor
//! and target alike; events the user did *to others* (as an administrator) name the other
//! party as target, so they never appear on the user's page, and a failed sign-in with an
//! unknown username names no user at all.
//!
//! The audit log filters by user (actor or target), client, action prefix and a range of days,
//! newest first, a fixed page size; the export writes the same filter as CSV or JSON lines, at
//! most [`EXPORT_MAX_ROWS`] rows, and is itself audited (`admin.audit.export`).

use super::admin::AdminViewer;
use super::admin_refusal;
use super::{Frame, Section};
use crate::admin::Caller;
use crate::interaction::{Browser, Outcome, Refusal, Step, View};
use crate::server::AuthorizationServer;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use palisade_core::model::{AuditEvent, AuditOutcome, AuditQuery, Permission, UserId, Username};
use palisade_core::{OAuthError, StoreError};
use serde_json::json;
use std::collections::HashMap;

/// Events per page of the activity page.
pub const ACTIVITY_PAGE_SIZE: i64 = 25;
/// Events per page of the audit log.
pub const AUDIT_PAGE_SIZE: i64 = 50;
/// The most rows one export writes; a wider filter is cut here and the export says so (a
/// header, `X-Palisade-Export-Truncated`, and the last line).
pub const EXPORT_MAX_ROWS: usize = 100_000;
/// The furthest page a list goes to (deeper: narrow the filter, or export).
pub const MAX_PAGE: u32 = 10_000;

/// The actions the activity page shows (prefixes).
const ACTIVITY_ACTIONS: [&str; 5] = ["login", "user.", "factor.", "account.", "admin.user."];

/// A page of this area.
#[derive(Debug)]
pub enum AuditView {
    /// The user's own security events.
    Activity(ActivityPage),
    /// The admin console's audit log.
    Log(AuditLogPage),
}

/// `/account/activity`.
#[derive(Debug)]
pub struct ActivityPage {
    pub frame: Frame,
    pub events: Vec<AuditLine>,
    pub paging: Paging,
}

/// `/admin/audit`.
#[derive(Debug)]
pub struct AuditLogPage {
    pub frame: Frame,
    /// The filter as typed, to fill the form again and build the page and export links.
    pub filter: AuditFilterInput,
    pub events: Vec<AuditLine>,
    pub paging: Paging,
    pub problem: Option<AuditProblem>,
}

/// Where a list is: its page (from 1) and whether there is one after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub page: u32,
    pub has_next: bool,
}

/// Why the audit log shows nothing for a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditProblem {
    /// A date is not `YYYY-MM-DD`.
    BadDate,
    /// No user has this username.
    UnknownUser,
}

/// One event as the pages and the export show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLine {
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    /// The username behind `actor` when it is `user:<id>` of a user that still exists.
    pub actor_name: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub target_name: Option<String>,
    pub outcome: AuditOutcome,
    pub client_ip: Option<String>,
    /// The event's facts, JSON text.
    pub details: Option<String>,
    /// `details.reason` (why a sign-in failed), for the activity page.
    pub reason: Option<String>,
    /// `details.method` (which factor proved a sign-in).
    pub method: Option<String>,
}

/// The audit log's filter as typed (every field may be empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilterInput {
    pub user: String,
    pub client: String,
    pub action: String,
    /// `YYYY-MM-DD`, the first day shown (UTC).
    pub from: String,
    /// `YYYY-MM-DD`, the last day shown (UTC), inclusive.
    pub to: String,
}

impl AuditFilterInput {
    /// From a query string's fields; each is trimmed and cut to a sane length.
    pub fn from_query<'a>(field: impl Fn(&str) -> Option<&'a str>) -> Self {
        let get = |name: &str| -> String {
            field(name)
                .map(str::trim)
                .unwrap_or("")
                .chars()
                .take(200)
                .collect()
        };
        Self {
            user: get("user"),
            client: get("client"),
            action: get("action"),
            from: get("from"),
            to: get("to"),
        }
    }
}

/// The export's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    JsonLines,
}

impl ExportFormat {
    pub fn parse(raw: Option<&str>) -> Option<Self> {
        match raw {
            None | Some("csv") => Some(Self::Csv),
            Some("jsonl") => Some(Self::JsonLines),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::JsonLines => "jsonl",
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::JsonLines => "application/jsonl; charset=utf-8",
        }
    }
}

/// A finished export.
#[derive(Debug)]
pub struct AuditExport {
    pub format: ExportFormat,
    pub body: String,
    pub rows: usize,
    /// The filter matched more than [`EXPORT_MAX_ROWS`] events; the newest were written.
    pub truncated: bool,
}

/// The parts of a filter that select events (names resolved, dates parsed).
struct Selection {
    query: AuditQuery,
    /// The filter names a user who does not exist: nothing matches.
    matches_nothing: bool,
}

impl AuthorizationServer {
    /// `GET /account/activity?page=`.
    pub async fn show_activity(&self, browser: &Browser, page: Option<&str>) -> Outcome {
        let viewer = match self.console_viewer(browser).await {
            Ok(viewer) => viewer,
            Err(refusal) => return refusal.into(),
        };
        let page_number = parse_page(page);
        let shown = async {
            let frame = self.account_frame(&viewer, Section::Activity).await?;
            let query = AuditQuery {
                target: Some(format!("user:{}", viewer.user.id)),
                action_prefixes: ACTIVITY_ACTIONS.iter().map(|a| (*a).to_owned()).collect(),
                ..AuditQuery::default()
            };
            let (events, paging) = self
                .audit_page(query, page_number, ACTIVITY_PAGE_SIZE)
                .await?;
            Ok::<_, OAuthError>(ActivityPage {
                frame,
                events,
                paging,
            })
        };
        match shown.await {
            Ok(page) => Step::Show(View::Audit(AuditView::Activity(page))).into(),
            Err(error) => Refusal::page(error).into(),
        }
    }

    /// `GET /admin/audit?user=&client=&action=&from=&to=&page=`.
    pub async fn show_audit_log(
        &self,
        browser: &Browser,
        filter: AuditFilterInput,
        page: Option<&str>,
    ) -> Outcome {
        let admin = match self.admin_viewer(browser).await {
            Ok(admin) => admin,
            Err(refusal) => return refusal.into(),
        };
        if let Err(refusal) = admin.may_open(Section::Audit) {
            return refusal.into();
        }
        let page_number = parse_page(page);
        let shown = async {
            let frame = admin.frame(Section::Audit);
            let (events, paging, problem) = match self.select(&filter).await? {
                Err(problem) => (Vec::new(), no_more(page_number), Some(problem)),
                Ok(Selection {
                    matches_nothing: true,
                    ..
                }) => (
                    Vec::new(),
                    no_more(page_number),
                    Some(AuditProblem::UnknownUser),
                ),
                Ok(selection) => {
                    let (events, paging) = self
                        .audit_page(selection.query, page_number, AUDIT_PAGE_SIZE)
                        .await?;
                    (events, paging, None)
                }
            };
            Ok::<_, OAuthError>(AuditLogPage {
                frame,
                filter: filter.clone(),
                events,
                paging,
                problem,
            })
        };
        match shown.await {
            Ok(page) => Step::Show(View::Audit(AuditView::Log(page))).into(),
            Err(error) => Refusal::page(error).into(),
        }
    }

    /// `GET /admin/audit/export?format=csv|jsonl&…filter`: the events the filter selects up
    /// to the second the export started, at most [`EXPORT_MAX_ROWS`], newest first. Needs `audit:read`; recorded as
    /// `admin.audit.export` with the filter and the row count.
    pub async fn export_audit(
        &self,
        browser: &Browser,
        filter: AuditFilterInput,
        format: ExportFormat,
    ) -> Result<AuditExport, Refusal> {
        let admin = self.admin_viewer(browser).await?;
        admin.may_open(Section::Audit)?;
        self.must_read_audit(&admin.caller)?;
        let selection = match self.select(&filter).await.map_err(store_refusal)? {
            Ok(selection) => selection,
            Err(_) => {
                return Err(Refusal::page(OAuthError::invalid_request(
                    "the dates must be written as YYYY-MM-DD",
                )));
            }
        };
        let mut events = Vec::new();
        let mut truncated = false;
        // Pages are read by offset, newest first: an event recorded meanwhile would shift them
        // and repeat a row. Stopping before the second the export started keeps them still.
        let started = self.clock.now().timestamp();
        let pinned = DateTime::from_timestamp(started, 0).unwrap_or_else(|| self.clock.now());
        let mut selection = selection;
        selection.query.until = Some(selection.query.until.map_or(pinned, |u| u.min(pinned)));
        if !selection.matches_nothing {
            let batch = 1000_i64;
            let mut offset = 0_i64;
            loop {
                let found = self
                    .audit_log
                    .query(AuditQuery {
                        limit: batch,
                        offset,
                        ..selection.query.clone()
                    })
                    .await
                    .map_err(store_refusal)?;
                let got = found.len();
                events.extend(found);
                if events.len() > EXPORT_MAX_ROWS {
                    events.truncate(EXPORT_MAX_ROWS);
                    truncated = true;
                    break;
                }
                if (got as i64) < batch {
                    break;
                }
                offset += batch;
            }
        }
        let lines = self.lines(events).await.map_err(store_refusal)?;
        let body = match format {
            ExportFormat::Csv => to_csv(&lines, truncated),
            ExportFormat::JsonLines => to_json_lines(&lines, truncated),
        };
        self.record_export(&admin, &filter, format, lines.len(), truncated)
            .await;
        Ok(AuditExport {
            format,
            body,
            rows: lines.len(),
            truncated,
        })
    }

    fn must_read_audit(&self, caller: &Caller) -> Result<(), Refusal> {
        caller
            .must_hold_all([Permission::AuditRead], "exporting the audit log")
            .map_err(admin_refusal)
    }

    async fn record_export(
        &self,
        admin: &AdminViewer,
        filter: &AuditFilterInput,
        format: ExportFormat,
        rows: usize,
        truncated: bool,
    ) {
        // Through the one writer of administrative events, as every other admin action.
        crate::admin::Auditor::new(self.audit_log.clone(), self.clock.clone())
            .success(
                &admin.caller,
                crate::admin::Action::ExportAudit,
                "audit",
                Some(json!({
                    "format": format.extension(),
                    "rows": rows,
                    "truncated": truncated,
                    "filter": {
                        "user": filter.user, "client": filter.client, "action": filter.action,
                        "from": filter.from, "to": filter.to,
                    },
                })),
            )
            .await;
    }

    /// The query a filter stands for, or why it cannot be read.
    async fn select(
        &self,
        filter: &AuditFilterInput,
    ) -> Result<Result<Selection, AuditProblem>, StoreError> {
        let day = |raw: &str| -> Result<Option<NaiveDate>, AuditProblem> {
            if raw.is_empty() {
                return Ok(None);
            }
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| AuditProblem::BadDate)
        };
        let (from, to) = match (day(&filter.from), day(&filter.to)) {
            (Ok(from), Ok(to)) => (from, to),
            _ => return Ok(Err(AuditProblem::BadDate)),
        };
        let start_of = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        let mut query = AuditQuery {
            since: from.and_then(start_of),
            until: to
                .and_then(|d| d.checked_add_signed(Duration::days(1)))
                .and_then(start_of),
            ..AuditQuery::default()
        };
        if !filter.action.is_empty() {
            query.action_prefixes = vec![filter.action.clone()];
        }
        let client = (!filter.client.is_empty()).then(|| format!("client:{}", filter.client));
        if !filter.user.is_empty() {
            let user = match Username::parse(&filter.user) {
                Ok(name) => self.users.find_user_by_username(&name).await?,
                Err(_) => None,
            };
            let Some(user) = user else {
                return Ok(Ok(Selection {
                    query,
                    matches_nothing: true,
                }));
            };
            query.involving = Some(format!("user:{}", user.id));
            // A user and a client: what that client did for (or to) the user.
            query.actor = client;
        } else {
            query.involving = client;
        }
        Ok(Ok(Selection {
            query,
            matches_nothing: false,
        }))
    }

    /// One page of events (page numbers from 1), and whether another follows.
    async fn audit_page(
        &self,
        query: AuditQuery,
        page: u32,
        size: i64,
    ) -> Result<(Vec<AuditLine>, Paging), StoreError> {
        let mut found = self
            .audit_log
            .query(AuditQuery {
                limit: size + 1,
                offset: i64::from(page - 1) * size,
                ..query
            })
            .await?;
        let has_next = found.len() as i64 > size && page < MAX_PAGE;
        found.truncate(size as usize);
        Ok((self.lines(found).await?, Paging { page, has_next }))
    }

    /// Events as lines, with the usernames of the users they name.
    async fn lines(&self, events: Vec<AuditEvent>) -> Result<Vec<AuditLine>, StoreError> {
        let mut names: HashMap<String, Option<String>> = HashMap::new();
        let mut lines = Vec::with_capacity(events.len());
        for event in events {
            let actor_name = self.username_of(&mut names, Some(&event.actor)).await?;
            let target_name = self
                .username_of(&mut names, event.target.as_deref())
                .await?;
            let facts: Option<serde_json::Value> = event
                .details
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok());
            let fact = |name: &str| {
                facts
                    .as_ref()
                    .and_then(|f| f.get(name))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            lines.push(AuditLine {
                reason: fact("reason"),
                method: fact("method"),
                occurred_at: event.occurred_at,
                actor: event.actor,
                actor_name,
                action: event.action,
                target: event.target,
                target_name,
                outcome: event.outcome,
                client_ip: event.client_ip,
                details: event.details,
            });
        }
        Ok(lines)
    }

    async fn username_of(
        &self,
        known: &mut HashMap<String, Option<String>>,
        party: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let Some(id) = party.and_then(|p| p.strip_prefix("user:")) else {
            return Ok(None);
        };
        if let Some(name) = known.get(id) {
            return Ok(name.clone());
        }
        let name = self
            .users
            .find_user_by_id(&UserId(id.to_owned()))
            .await?
            .map(|u| u.username.as_str().to_owned());
        known.insert(id.to_owned(), name.clone());
        Ok(name)
    }
}

fn parse_page(raw: Option<&str>) -> u32 {
    raw.and_then(|p| p.trim().parse::<u32>().ok())
        .filter(|p| *p >= 1)
        .map_or(1, |p| p.min(MAX_PAGE))
}

fn no_more(page: u32) -> Paging {
    Paging {
        page,
        has_next: false,
    }
}

fn store_refusal(e: StoreError) -> Refusal {
    Refusal::page(e.into())
}

/// A CSV cell: quoted when it holds a quote, a separator or a line break (RFC 4180), and
/// with a leading `'` when a spreadsheet would read it as a formula (OWASP "CSV Injection":
/// a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return).
pub fn csv_cell(value: &str) -> String {
    let neutral = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if neutral.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", neutral.replace('"', "\"\""))
    } else {
        neutral
    }
}

/// The CSV export's columns.
pub const CSV_HEADER: [&str; 9] = [
    "occurred_at",
    "actor",
    "actor_name",
    "action",
    "target",
    "target_name",
    "outcome",
    "client_ip",
    "details",
];

fn to_csv(lines: &[AuditLine], truncated: bool) -> String {
    let mut out = CSV_HEADER.join(",");
    out.push_str("\r\n");
    for line in lines {
        let cells = [
            line.occurred_at.to_rfc3339(),
            line.actor.clone(),
            line.actor_name.clone().unwrap_or_default(),
            line.action.clone(),
            line.target.clone().unwrap_or_default(),
            line.target_name.clone().unwrap_or_default(),
            line.outcome.as_str().to_owned(),
            line.client_ip.clone().unwrap_or_default(),
            line.details.clone().unwrap_or_default(),
        ];
        let row: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    if truncated {
        out.push_str(&csv_cell(&format!(
            "# truncated: only the newest {EXPORT_MAX_ROWS} events were exported; narrow the filter"
        )));
        out.push_str("\r\n");
    }
    out
}

fn to_json_lines(lines: &[AuditLine], truncated: bool) -> String {
    let mut out = String::new();
    for line in lines {
        let details: serde_json::Value = line
            .details
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or(serde_json::Value::Null);
        out.push_str(
            &json!({
                "occurred_at": line.occurred_at.to_rfc3339(),
                "actor": line.actor,
                "actor_name": line.actor_name,
                "action": line.action,
                "target": line.target,
                "target_name": line.target_name,
                "outcome": line.outcome.as_str(),
                "client_ip": line.client_ip,
                "details": details,
            })
            .to_string(),
        );
        out.push('\n');
    }
    if truncated {
        out.push_str(&json!({ "truncated": true, "max_rows": EXPORT_MAX_ROWS }).to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_cell_is_quoted_when_it_must_be_and_never_starts_a_formula() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-2"), "'-2");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("\tx"), "'\tx");
        assert_eq!(csv_cell("a=b"), "a=b");
    }

    #[test]
    fn pages_are_numbered_from_one_and_bounded() {
        assert_eq!(parse_page(None), 1);
        assert_eq!(parse_page(Some("0")), 1);
        assert_eq!(parse_page(Some("-3")), 1);
        assert_eq!(parse_page(Some("x")), 1);
        assert_eq!(parse_page(Some("7")), 7);
        assert_eq!(parse_page(Some("99999999")), MAX_PAGE);
    }
}
