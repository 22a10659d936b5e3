//! The account pages of the consoles.

use crate::app::AppState;
use actix_web::HttpResponse;
use palisade_flow::console::account::AccountView;

/// Renders a page of this area.
pub fn render(_state: &AppState, view: AccountView) -> HttpResponse {
    match view {}
}
