//! The audit trail as people read it: the user's own activity (`/account/activity`) and the admin console's audit log (`/admin/audit`, with its export).

use crate::app::AppState;
use actix_web::HttpResponse;
use palisade_flow::console::audit::AuditView;

/// Renders a page of this area.
pub fn render(_state: &AppState, view: AuditView) -> HttpResponse {
    match view {}
}
