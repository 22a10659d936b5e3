//! The admin console's signing keys (`/admin/keys`): the lifecycle as a timeline, rotate and revoke.

use crate::app::AppState;
use actix_web::HttpResponse;
use palisade_flow::console::keys::KeysView;

/// Renders a page of this area.
pub fn render(_state: &AppState, view: KeysView) -> HttpResponse {
    match view {}
}
