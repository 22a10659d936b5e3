//! The administrative audit trail: one event shape for every admin action, whichever face
//! (command line or admin API) it came through.
//!
//! An event names who (`user:<id>`, `client:<id>`, `cli`), what ([`Action`], e.g.
//! `admin.user.create`), on what (`user:<id>`, `role:<name>`, `client:<id>`, `key:<kid>`), the
//! outcome and the peer address; `details` holds non-secret facts only (role names,
//! permission names, changed fields) — never a password, a secret, a hash or a token. Each
//! event is also a tracing line with target `audit`, so a log pipeline sees it even if the
//! database write fails.

use super::{AdminError, AdminResult, Caller};
use crate::guard::log_audit_event;
use palisade_core::Clock;
use palisade_core::model::{AuditEvent, AuditOutcome, AuditQuery};
use palisade_core::ports::AuditLog;
use serde_json::{Value, json};
use std::sync::Arc;

/// Every administrative action, named `admin.<resource>.<verb>` in the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The first administrator, made at the command line.
    Init,
    ListUsers,
    CreateUser,
    ReadUser,
    DisableUser,
    EnableUser,
    UnlockUser,
    ResetPassword,
    SignOutUser,
    DeleteUser,
    /// Every second factor and recovery code of a user deleted (a lost authenticator).
    ResetUserMfa,
    GrantRole,
    RevokeRole,
    /// An access review kept a user's grant of a role.
    ConfirmRole,
    /// A user's grant of a role reached its expiry and was removed (actor `system`).
    LapseRole,
    /// Who holds a role, or which grants a review finds stale; and a review's decisions.
    ReviewRoles,
    ListPermissions,
    ListRoles,
    CreateRole,
    GrantPermission,
    RevokePermission,
    /// Whether holding a role requires a second factor.
    SetRoleMfa,
    ListClients,
    CreateClient,
    ReadClient,
    UpdateClient,
    RotateClientSecret,
    DeleteClient,
    ListKeys,
    RotateKey,
    RevokeKey,
    RewrapKeys,
    CreateInitialAccessToken,
    RevokeInitialAccessToken,
    QueryAudit,
    /// The audit log exported from the admin console (CSV or JSON lines).
    ExportAudit,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        use Action as A;
        match self {
            A::Init => "admin.init",
            A::ListUsers => "admin.user.list",
            A::CreateUser => "admin.user.create",
            A::ReadUser => "admin.user.read",
            A::DisableUser => "admin.user.disable",
            A::EnableUser => "admin.user.enable",
            A::UnlockUser => "admin.user.unlock",
            A::ResetPassword => "admin.user.password_reset",
            A::SignOutUser => "admin.user.signout",
            A::DeleteUser => "admin.user.delete",
            A::ResetUserMfa => "admin.user.mfa.reset",
            A::GrantRole => "admin.user.role_grant",
            A::RevokeRole => "admin.user.role_revoke",
            A::ConfirmRole => "admin.user.role_confirm",
            A::LapseRole => "admin.user.role_lapse",
            A::ReviewRoles => "admin.role.review",
            A::ListPermissions => "admin.permission.list",
            A::ListRoles => "admin.role.list",
            A::CreateRole => "admin.role.create",
            A::GrantPermission => "admin.role.permission_grant",
            A::RevokePermission => "admin.role.permission_revoke",
            A::SetRoleMfa => "admin.role.mfa",
            A::ListClients => "admin.client.list",
            A::CreateClient => "admin.client.create",
            A::ReadClient => "admin.client.read",
            A::UpdateClient => "admin.client.update",
            A::RotateClientSecret => "admin.client.secret_rotate",
            A::DeleteClient => "admin.client.delete",
            A::ListKeys => "admin.key.list",
            A::RotateKey => "admin.key.rotate",
            A::RevokeKey => "admin.key.revoke",
            A::RewrapKeys => "admin.key.rewrap",
            A::CreateInitialAccessToken => "admin.initial_access_token.create",
            A::RevokeInitialAccessToken => "admin.initial_access_token.revoke",
            A::QueryAudit => "admin.audit.query",
            A::ExportAudit => "admin.audit.export",
        }
    }
}

/// Writes administrative audit events. Cheap to clone.
#[derive(Clone)]
pub struct Auditor {
    log: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
}

impl Auditor {
    pub fn new(log: Arc<dyn AuditLog>, clock: Arc<dyn Clock>) -> Self {
        Self { log, clock }
    }

    /// Records what `caller` did to `target`. A failure to write is logged, not returned: the
    /// change it describes has already been made, and the log line still carries it.
    pub async fn record(
        &self,
        caller: &Caller,
        action: Action,
        target: &str,
        outcome: AuditOutcome,
        details: Option<Value>,
    ) {
        let event = AuditEvent {
            occurred_at: self.clock.now(),
            actor: caller.actor.clone(),
            action: action.as_str().to_owned(),
            target: Some(target.to_owned()),
            outcome,
            client_ip: caller.client_ip.clone(),
            details: details.map(|d| d.to_string()),
        };
        log_audit_event(&event);
        if let Err(e) = self.log.record(event).await {
            tracing::error!(error = %e, action = action.as_str(), "could not write the audit event");
        }
    }

    /// A change made.
    pub async fn success(
        &self,
        caller: &Caller,
        action: Action,
        target: &str,
        details: Option<Value>,
    ) {
        self.record(caller, action, target, AuditOutcome::Success, details)
            .await;
    }

    /// A change refused because the caller does not hold what it needs; returns the refusal.
    pub async fn refused(
        &self,
        caller: &Caller,
        action: Action,
        target: &str,
        error: AdminError,
    ) -> AdminError {
        let reason = json!({ "reason": error.to_string() });
        self.record(caller, action, target, AuditOutcome::Failure, Some(reason))
            .await;
        error
    }

    /// Events matching `query`, newest first.
    pub async fn query(&self, query: AuditQuery) -> AdminResult<Vec<AuditEvent>> {
        Ok(self.log.query(query).await?)
    }
}

impl Caller {
    /// [`Caller::must_hold_all`], with a refusal written to the audit trail.
    pub(crate) async fn must_hold_all_audited(
        &self,
        auditor: &Auditor,
        needed: impl IntoIterator<Item = palisade_core::model::Permission>,
        why: &str,
        action: Action,
        target: &str,
    ) -> AdminResult<()> {
        match self.must_hold_all(needed, why) {
            Ok(()) => Ok(()),
            Err(e) => Err(auditor.refused(self, action, target, e).await),
        }
    }
}
