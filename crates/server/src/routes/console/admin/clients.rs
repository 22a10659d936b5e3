//! `/admin/clients` (the list, registering a client, registration tokens) and
//! `/admin/clients/{client_id}` (edit, rotate the secret, remove), through
//! [`palisade_flow::console::admin`].

use crate::app::AppState;
use crate::browser::{BrowserForm, browser_of, respond};
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_flow::console::admin::{ClientAction, ClientForm, ClientsAction, Posted};

/// The client form's fields (`grant_types` repeats, one per ticked box).
fn client_form(form: &BrowserForm) -> ClientForm<'_> {
    ClientForm {
        name: form.get("client_name").unwrap_or_default(),
        client_type: form.get("client_type").unwrap_or_default(),
        redirect_uris: form.get("redirect_uris").unwrap_or_default(),
        scope: form.get("scope").unwrap_or_default(),
        grant_types: form
            .fields
            .iter()
            .filter(|(k, _)| k == "grant_types")
            .map(|(_, v)| v.as_str())
            .collect(),
    }
}

/// `GET /admin/clients`.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let outcome = state
        .engine
        .show_admin_clients(&state.admin, &browser)
        .await;
    respond(&state, outcome)
}

/// `POST /admin/clients`: `csrf_token` and `action`: `create` (`client_name`, `client_type`,
/// `redirect_uris`, `scope`, `grant_types`...), `mint-token` (`expires_in_days`, `max_uses`)
/// or `revoke-token` (`token_id`).
pub async fn act_on_list(
    req: HttpRequest,
    form: BrowserForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let action = match form.get("action") {
        Some("create") => Some(ClientsAction::Create(client_form(&form))),
        Some("mint-token") => Some(ClientsAction::MintToken {
            expires_in_days: form.get("expires_in_days").unwrap_or_default(),
            max_uses: form.get("max_uses").unwrap_or_default(),
        }),
        Some("revoke-token") => Some(ClientsAction::RevokeToken {
            id: form.get("token_id").unwrap_or_default(),
        }),
        _ => None,
    };
    let posted = Posted {
        csrf_token: form.get("csrf_token").map(str::to_owned),
        action,
    };
    let outcome = state
        .engine
        .admin_clients_action(&state.admin, &browser, posted)
        .await;
    respond(&state, outcome)
}

/// `GET /admin/clients/{client_id}`.
pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let id = req.match_info().get("client_id").unwrap_or_default();
    let outcome = state
        .engine
        .show_admin_client(&state.admin, &browser, id)
        .await;
    respond(&state, outcome)
}

/// `POST /admin/clients/{client_id}`: `csrf_token` and `action`: `update` (`redirect_uris`,
/// `scope`, `grant_types`...), `rotate-secret`, or `remove` (`confirm_client_id`).
pub async fn act(req: HttpRequest, form: BrowserForm, state: web::Data<AppState>) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let id = req.match_info().get("client_id").unwrap_or_default();
    let action = match form.get("action") {
        Some("update") => Some(ClientAction::Update(client_form(&form))),
        Some("rotate-secret") => Some(ClientAction::RotateSecret),
        Some("remove") => Some(ClientAction::Remove {
            confirmation: form.get("confirm_client_id").unwrap_or_default(),
        }),
        _ => None,
    };
    let posted = Posted {
        csrf_token: form.get("csrf_token").map(str::to_owned),
        action,
    };
    let outcome = state
        .engine
        .admin_client_action(&state.admin, &browser, id, posted)
        .await;
    respond(&state, outcome)
}
