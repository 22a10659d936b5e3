//! `/admin/v1/keys`: the signing keys and their schedule (public facts only: never a private
//! part), staging new keys, and the emergency revocation of one (docs/keys.md, docs/threat-model.md
//! KR-03..KR-05). The same operations as `palisade keys`, through this node's key manager.

use super::error::{ApiError, ok_json};
use super::{Caller, audit, input};
use crate::app::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use palisade_core::model::StoredSigningKey;
use palisade_core::ports::{SigningAlgorithm, SigningKeyRepository};
use palisade_keys::KeyError;
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

fn key_error(e: KeyError) -> ApiError {
    match e {
        KeyError::Store(e) => e.into(),
        KeyError::UnknownKid(_) => ApiError::NotFound("no signing key with this kid"),
        KeyError::AlgorithmDisabled(_) => {
            ApiError::bad_request("this algorithm is not enabled (PALISADE_KEYS__ALGORITHMS)")
        }
        other => ApiError::Internal(other.to_string()),
    }
}

/// `GET /admin/v1/keys`.
pub async fn list(_caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let keys: Vec<Value> = state
        .sql
        .list_signing_keys()
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
    let algorithms = match b.alg.as_deref() {
        Some(raw) => vec![
            SigningAlgorithm::parse(raw)
                .ok_or_else(|| ApiError::bad_request("alg must be RS256, ES256 or EdDSA"))?,
        ],
        None => state.key_manager.policy().enabled_algorithms.clone(),
    };
    let mut staged = Vec::new();
    for alg in algorithms {
        let kid = state.key_manager.rotate_now(alg).await.map_err(key_error)?;
        audit::success(
            &state,
            &caller,
            &format!("key:{kid}"),
            Some(json!({ "alg": alg.as_str() })),
        )
        .await;
        staged.push(kid);
    }
    let keys: Vec<Value> = state
        .sql
        .list_signing_keys()
        .await?
        .iter()
        .filter(|k| staged.contains(&k.kid))
        .map(view)
        .collect();
    Ok(ok_json(200, &json!({ "keys": keys })))
}

/// `POST /admin/v1/keys/{kid}/revoke`: unpublished at once, tokens it signed refused.
pub async fn revoke(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let kid = input::path(&req, "kid")?.to_owned();
    state.key_manager.revoke(&kid).await.map_err(key_error)?;
    audit::success(&state, &caller, &format!("key:{kid}"), None).await;
    let key = state
        .sql
        .list_signing_keys()
        .await?
        .into_iter()
        .find(|k| k.kid == kid)
        .ok_or(ApiError::NotFound("no signing key with this kid"))?;
    Ok(ok_json(200, &view(&key)))
}
