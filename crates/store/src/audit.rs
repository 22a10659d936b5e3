//! `AuditLog` on SQL: an append-only trail of who did what, read back newest first.
//!
//! Filters are exact matches, but for the action prefixes (`LIKE 'prefix%'`, wildcards
//! escaped) and `involving` (actor or target); `since` is inclusive and `until` exclusive, so consecutive
//! windows neither overlap nor miss an event. Ties on the second are broken by insertion order.

use crate::convert::{from_secs, to_secs};
use crate::error::internal;
use crate::pool::{AnyConnection, SqlStore, on_backend, write_transaction};
use crate::schema::audit_events;
use async_trait::async_trait;
use diesel::prelude::*;
use palisade_core::model::{AuditEvent, AuditOutcome, AuditQuery};
use palisade_core::ports::{AuditLog, StoreResult};

/// Rows per multi-row INSERT: 7 binds each, far below PostgreSQL's 65,535 and SQLite's 32,766.
const ROWS_PER_INSERT: usize = 512;

#[derive(Insertable)]
#[diesel(table_name = audit_events)]
struct NewEventRow {
    occurred_at: i64,
    actor: String,
    action: String,
    target: Option<String>,
    outcome: &'static str,
    client_ip: Option<String>,
    details: Option<String>,
}

impl NewEventRow {
    fn from_event(event: AuditEvent) -> Self {
        Self {
            occurred_at: to_secs(event.occurred_at),
            actor: event.actor,
            action: event.action,
            target: event.target,
            outcome: event.outcome.as_str(),
            client_ip: event.client_ip,
            details: event.details,
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_events)]
struct EventRow {
    occurred_at: i64,
    actor: String,
    action: String,
    target: Option<String>,
    outcome: String,
    client_ip: Option<String>,
    details: Option<String>,
}

impl EventRow {
    fn into_model(self) -> StoreResult<AuditEvent> {
        let outcome = match self.outcome.as_str() {
            "success" => AuditOutcome::Success,
            "failure" => AuditOutcome::Failure,
            other => return Err(internal(format!("stored audit outcome {other:?}"))),
        };
        Ok(AuditEvent {
            occurred_at: from_secs(self.occurred_at)?,
            actor: self.actor,
            action: self.action,
            target: self.target,
            outcome,
            client_ip: self.client_ip,
            details: self.details,
        })
    }
}

#[async_trait]
impl AuditLog for SqlStore {
    async fn record_batch(&self, events: Vec<AuditEvent>) -> StoreResult<()> {
        let rows: Vec<NewEventRow> = events.into_iter().map(NewEventRow::from_event).collect();
        // Multi-row INSERTs, one transaction: one round trip (PostgreSQL) or one commit
        // (SQLite) per batch. Row by row, PostgreSQL round trips capped the token endpoint at
        // about 4,000 tokens/s (docs/benchmarks.md). The multi-connection has no multi-row
        // insert (docs/dependencies.md, diesel), so each backend's connection does it.
        self.run(move |conn| {
            write_transaction(conn, |conn| {
                for chunk in rows.chunks(ROWS_PER_INSERT) {
                    on_backend!(conn, |c| diesel::insert_into(audit_events::table)
                        .values(chunk)
                        .execute(c))?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn record(&self, event: AuditEvent) -> StoreResult<()> {
        let row = NewEventRow::from_event(event);
        self.run(move |conn| {
            diesel::insert_into(audit_events::table)
                .values(&row)
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    async fn query(&self, query: AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let limit = query.limit.clamp(1, 1000);
        let offset = query.offset.max(0);
        self.run(move |conn| {
            let mut q = audit_events::table
                .select(EventRow::as_select())
                .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
                .limit(limit)
                .offset(offset)
                .into_boxed();
            if let Some(party) = query.involving {
                q = q.filter(
                    audit_events::actor
                        .eq(party.clone())
                        .or(audit_events::target.eq(party)),
                );
            }
            // One OR of prefixes, grouped so it ANDs with the other filters.
            let mut prefixes = query.action_prefixes.iter().map(|p| like_prefix(p));
            if let Some(first) = prefixes.next() {
                let mut any: Box<
                    dyn BoxableExpression<
                            audit_events::table,
                            <AnyConnection as diesel::Connection>::Backend,
                            SqlType = diesel::sql_types::Bool,
                        >,
                > = Box::new(audit_events::action.like(first).escape('\\'));
                for pattern in prefixes {
                    any = Box::new(any.or(audit_events::action.like(pattern).escape('\\')));
                }
                q = q.filter(any);
            }
            if let Some(actor) = query.actor {
                q = q.filter(audit_events::actor.eq(actor));
            }
            if let Some(target) = query.target {
                q = q.filter(audit_events::target.eq(target));
            }
            if let Some(action) = query.action {
                q = q.filter(audit_events::action.eq(action));
            }
            if let Some(since) = query.since {
                q = q.filter(audit_events::occurred_at.ge(to_secs(since)));
            }
            if let Some(until) = query.until {
                q = q.filter(audit_events::occurred_at.lt(to_secs(until)));
            }
            let rows = q.load(conn)?;
            Ok(rows
                .into_iter()
                .map(EventRow::into_model)
                .collect::<StoreResult<_>>()?)
        })
        .await
    }
}

/// `prefix%` with LIKE's wildcards in `prefix` escaped (escape character `\`).
fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
