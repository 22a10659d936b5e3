//! The account console's sessions page (`/account/sessions`), and the session list the admin console shows for a user.

use crate::app::AppState;
use actix_web::HttpResponse;
use palisade_flow::console::sessions::SessionsView;

/// Renders a page of this area.
pub fn render(_state: &AppState, view: SessionsView) -> HttpResponse {
    match view {}
}
