//! How Diesel and pool failures become `StoreError`s.
//!
//! Reaching the database is `Unavailable` (callers answer 503 and retry later); a uniqueness
//! rule is `Conflict`; a reference to a missing row is `NotFound`; anything else is `Internal`.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use palisade_core::StoreError;

/// The error type inside `interact` closures: Diesel's, or a decision already made.
#[derive(Debug)]
pub(crate) enum DbError {
    Diesel(DieselError),
    Store(StoreError),
}

impl From<DieselError> for DbError {
    fn from(e: DieselError) -> Self {
        Self::Diesel(e)
    }
}

impl From<StoreError> for DbError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Store(e) => e,
            DbError::Diesel(e) => classify(e),
        }
    }
}

pub(crate) type DbResult<T> = Result<T, DbError>;

/// The default mapping, for errors no call site gave a more precise meaning.
pub(crate) fn classify(e: DieselError) -> StoreError {
    match e {
        DieselError::DatabaseError(kind, ref info) => match kind {
            DatabaseErrorKind::UniqueViolation => StoreError::Conflict("unique constraint"),
            DatabaseErrorKind::ForeignKeyViolation => StoreError::NotFound,
            DatabaseErrorKind::ClosedConnection
            | DatabaseErrorKind::UnableToSendCommand
            // Transient contention: the caller may retry, nothing is wrong with the data.
            | DatabaseErrorKind::SerializationFailure => StoreError::Unavailable(Box::new(e)),
            _ if is_sqlite_busy(info.message()) || is_statement_timeout(info.message()) => {
                StoreError::Unavailable(Box::new(e))
            }
            _ => StoreError::Internal(Box::new(e)),
        },
        DieselError::NotFound => StoreError::NotFound,
        other => StoreError::Internal(Box::new(other)),
    }
}

/// SQLite reports lock timeouts (after `busy_timeout`) as a generic error with this text.
fn is_sqlite_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database table is locked")
}

/// PostgreSQL cancelled a statement that ran past `statement_timeout` (SQLSTATE 57014, which
/// Diesel does not expose, so by its text; a server with non-English `lc_messages` reports it
/// as `Internal` instead).
fn is_statement_timeout(message: &str) -> bool {
    message.contains("canceling statement due to statement timeout")
}

/// Maps a unique-constraint violation to `Conflict(rule)`, leaving other errors alone.
pub(crate) fn conflict_on_unique(rule: &'static str) -> impl FnOnce(DieselError) -> DbError {
    move |e| match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            DbError::Store(StoreError::Conflict(rule))
        }
        other => DbError::Diesel(other),
    }
}

pub(crate) fn internal(message: impl Into<String>) -> StoreError {
    StoreError::Internal(message.into().into())
}
