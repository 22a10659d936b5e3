//! The admin pages of the consoles.

use crate::app::AppState;
use actix_web::HttpResponse;
use palisade_flow::console::admin::AdminView;

/// Renders a page of this area.
pub fn render(_state: &AppState, view: AdminView) -> HttpResponse {
    match view {}
}
