//! `AuditLog` on SQL: an append-only trail of who did what, read back newest first.
//!
//! Filters are exact matches; `since` is inclusive and `until` exclusive, so consecutive
//! windows neither overlap nor miss an event. Ties on the second are broken by insertion order.

use crate::convert::{from_secs, to_secs};
use crate::error::internal;
use crate::pool::{AnyConnection, SqlStore, write_transaction};
use crate::schema::audit_events;
use async_trait::async_trait;
use diesel::prelude::*;
use palisade_core::model::{AuditEvent, AuditOutcome, AuditQuery};
use palisade_core::ports::{AuditLog, StoreResult};

/// Rows per multi-row INSERT on PostgreSQL (7 binds each).
const PG_ROWS_PER_INSERT: usize = 512;

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
        self.run(move |conn| match conn {
            // One multi-row INSERT: one round trip for the whole batch. Row by row, the
            // round trips capped the token endpoint at about 4,000 tokens/s
            // (docs/benchmarks.md). Chunked to stay far below PostgreSQL's 65,535 binds.
            AnyConnection::Postgresql(pg) => {
                for chunk in rows.chunks(PG_ROWS_PER_INSERT) {
                    diesel::insert_into(audit_events::table)
                        .values(chunk)
                        .execute(pg)?;
                }
                Ok(())
            }
            // SQLite has no round trips to save; the multi-connection has no multi-row insert
            // (STACK.md gotcha 8), so one row per statement, one commit for the batch.
            AnyConnection::Sqlite(_) => write_transaction(conn, |conn| {
                for row in &rows {
                    diesel::insert_into(audit_events::table)
                        .values(row)
                        .execute(conn)?;
                }
                Ok(())
            }),
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
        self.run(move |conn| {
            let mut q = audit_events::table
                .select(EventRow::as_select())
                .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
                .limit(limit)
                .into_boxed();
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
