//! The audit trail as people read it: the user's own activity (`/account/activity`) and the admin console's audit log (`/admin/audit`, with its export).

/// A page of this area.
#[derive(Debug)]
pub enum AuditView {}
