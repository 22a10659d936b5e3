//! The roles pages of the consoles.

use crate::app::AppState;
use actix_web::HttpResponse;
use palisade_flow::console::roles::RolesView;

/// Renders a page of this area.
pub fn render(_state: &AppState, view: RolesView) -> HttpResponse {
    match view {}
}
