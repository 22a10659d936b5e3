//! Strings of: audit trail as people read it: the user's own activity (`/account/activity`) and the admin console's audit log (`/admin/audit`, with its export).

#[derive(Debug)]
pub struct AuditText {}

pub static EN: AuditText = AuditText {};
