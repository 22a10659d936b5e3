//! `/admin/v1/keys`: the signing keys and their schedule (public facts only: never a private
//! part), staging new keys, and the emergency revocation of one (docs/keys.md,
//! docs/threat-model.md KR-03..KR-05). The same operations as `palisade keys`:
//! `palisade_flow::admin::KeyAdmin`, over this node's key manager.

use super::error::{ApiError, ok_json};
use super::{Caller, input};
use crate::app::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use palisade_core::model::StoredSigningKey;
use palisade_core::ports::SigningAlgorithm;
use serde::Deserialize;
use serde_json::{Value, json};

fn time(t: Option<DateTime<Utc>>) -> Value {
    json!(t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)))
}

fn view(k: &StoredSigningKey) -> Value {
    json!({
        "kid": k.kid,
        "alg": k.alg,
        "state": k.state.as_str(),
        "created_at": time(Some(k.created_at)),
        "activates_at": time(Some(k.activates_at)),
        "activated_at": time(k.activated_at),
        "retired_at": time(k.retired_at),
        "remove_after": time(k.remove_after),
        "master_key_id": k.master_key_id,
    })
}

/// `GET /admin/v1/keys`.
pub async fn list(_caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let keys: Vec<Value> = state
        .key_admin
        .list_keys()
        .await?
        .iter()
        .map(view)
        .collect();
    Ok(ok_json(200, &json!({ "keys": keys })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    alg: Option<String>,
}

/// `POST /admin/v1/keys/rotate`: `{alg?}` (default: every enabled algorithm). Each new key is
/// published at once and signs after `publish_ahead`; the answer lists the staged keys.
pub async fn rotate(
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b: RotateBody = if body.is_empty() {
        RotateBody::default()
    } else {
        input::json(&req, &body)?
    };
    let alg = b
        .alg
        .as_deref()
        .map(|raw| {
            SigningAlgorithm::parse(raw)
                .ok_or_else(|| ApiError::bad_request("alg must be RS256, ES256 or EdDSA"))
        })
        .transpose()?;
    let staged = state.key_admin.rotate_keys(&caller, alg).await?;
    let keys: Vec<Value> = staged.iter().map(view).collect();
    Ok(ok_json(200, &json!({ "keys": keys })))
}

/// `POST /admin/v1/keys/{kid}/revoke`: unpublished at once, tokens it signed refused.
pub async fn revoke(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let kid = input::path(&req, "kid")?;
    let revoked = state.key_admin.revoke_key(&caller, kid).await?;
    Ok(ok_json(200, &view(&revoked.key)))
}
