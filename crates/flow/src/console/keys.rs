//! The admin console's signing keys (`/admin/keys`): the lifecycle as a timeline, rotate and revoke.
//!
//! `keys:read` shows the timeline per algorithm (next, current, retired, revoked, with their
//! dates); `keys:write` offers the two actions, each in two steps: the form asks, a page states
//! what will happen (docs/keys.md) and only its own form, posted with `confirmed=yes`, does it.
//! Both go through [`KeyAdmin`], which records them (`admin.key.rotate`, `admin.key.revoke`);
//! a caller without `keys:write` is refused here, and the refusal is recorded too.

use super::admin::AdminViewer;
use super::admin_refusal;
use super::{Frame, Section};
use crate::admin::{AdminError, KeyAdmin};
use crate::interaction::{Browser, Outcome, Refusal, Step, View, forged_form};
use crate::server::AuthorizationServer;
use chrono::{DateTime, Utc};
use palisade_core::OAuthError;
use palisade_core::model::{AuditEvent, AuditOutcome, KeyState, Permission, StoredSigningKey};
use palisade_core::ports::SigningAlgorithm;
use serde_json::json;

/// A page of this area.
#[derive(Debug)]
pub enum KeysView {
    /// Every key, by algorithm.
    Timeline(KeysPage),
    /// What an action will do, and the form that does it.
    Confirm(KeyConfirmPage),
}

/// `/admin/keys`.
#[derive(Debug)]
pub struct KeysPage {
    pub frame: Frame,
    pub algorithms: Vec<AlgorithmTimeline>,
    /// The viewer holds `keys:write`: the page offers rotate and revoke.
    pub may_write: bool,
    pub notice: Option<KeysNotice>,
}

/// The keys of one algorithm, in lifecycle order: next, current, retired, revoked (newest
/// first within a state).
#[derive(Debug, Clone)]
pub struct AlgorithmTimeline {
    pub alg: String,
    pub keys: Vec<KeyLine>,
}

/// One key's public facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLine {
    pub kid: String,
    pub alg: String,
    pub state: KeyState,
    pub created_at: DateTime<Utc>,
    /// When it may start (or started to be allowed to) sign.
    pub activates_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
    /// When it leaves the JWKS.
    pub remove_after: Option<DateTime<Utc>>,
}

impl KeyLine {
    fn of(key: &StoredSigningKey) -> Self {
        Self {
            kid: key.kid.clone(),
            alg: key.alg.clone(),
            state: key.state,
            created_at: key.created_at,
            activates_at: key.activates_at,
            activated_at: key.activated_at,
            retired_at: key.retired_at,
            remove_after: key.remove_after,
        }
    }
}

/// The confirmation step.
#[derive(Debug)]
pub struct KeyConfirmPage {
    pub frame: Frame,
    pub action: KeyConfirmation,
}

/// What is about to be done.
#[derive(Debug, Clone)]
pub enum KeyConfirmation {
    /// A new `next` key for `alg`: published now, signs after the publish-ahead delay.
    Rotate { alg: String },
    /// Withdraw `key` at once.
    Revoke {
        key: KeyLine,
        /// The key signs now: a replacement takes over at once.
        is_current: bool,
        /// The replacement of a current key: the staged `next` key (if any; otherwise a fresh
        /// one is generated).
        replacement: Option<String>,
    },
}

/// What the timeline says after an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeysNotice {
    Staged {
        kid: String,
        alg: String,
    },
    Revoked {
        kid: String,
        was: KeyState,
    },
    /// A revoked key revoked again: nothing changed.
    AlreadyRevoked {
        kid: String,
    },
}

/// A posted keys form.
#[derive(Debug)]
pub struct KeysSubmission<'a> {
    pub csrf_token: Option<&'a str>,
    pub action: KeysAction<'a>,
    /// Posted by the confirmation page's form (`confirmed=yes`): do it.
    pub confirmed: bool,
}

#[derive(Debug)]
pub enum KeysAction<'a> {
    Rotate { alg: &'a str },
    Revoke { kid: &'a str },
    Unknown,
}

impl<'a> KeysAction<'a> {
    pub fn from_form(field: impl Fn(&str) -> Option<&'a str>) -> Self {
        match (field("action"), field("alg"), field("kid")) {
            (Some("rotate"), Some(alg), _) => Self::Rotate { alg },
            (Some("revoke"), _, Some(kid)) => Self::Revoke { kid },
            _ => Self::Unknown,
        }
    }
}

fn unknown_action() -> Refusal {
    Refusal::page(OAuthError::invalid_request(
        "the form asked for something this page does not do",
    ))
}

impl AuthorizationServer {
    /// `GET /admin/keys`.
    pub async fn show_keys(&self, browser: &Browser, keys: &KeyAdmin) -> Outcome {
        let admin = match self.keys_viewer(browser).await {
            Ok(admin) => admin,
            Err(refusal) => return refusal.into(),
        };
        self.keys_page(&admin, keys, None).await
    }

    /// `POST /admin/keys`: `action=rotate&alg=` or `action=revoke&kid=`, then the same with
    /// `confirmed=yes` from the confirmation page.
    pub async fn keys_action(
        &self,
        browser: &Browser,
        keys: &KeyAdmin,
        form: KeysSubmission<'_>,
    ) -> Outcome {
        let admin = match self.keys_viewer(browser).await {
            Ok(admin) => admin,
            Err(refusal) => return refusal.into(),
        };
        if !admin.viewer.posted_by_its_page(form.csrf_token) {
            return forged_form().into();
        }
        let (action, target) = match &form.action {
            KeysAction::Rotate { alg } => ("admin.key.rotate", format!("alg:{alg}")),
            KeysAction::Revoke { kid } => ("admin.key.revoke", crate::admin::keys::target(kid)),
            KeysAction::Unknown => return unknown_action().into(),
        };
        if let Err(e) = admin
            .caller
            .must_hold_all([Permission::KeysWrite], "changing signing keys")
        {
            self.record_key_refusal(&admin, action, &target, &e).await;
            return admin_refusal(e).into();
        }
        match form.action {
            KeysAction::Rotate { alg } => {
                let Some(alg) = SigningAlgorithm::parse(alg) else {
                    return Refusal::page(OAuthError::invalid_request("no such signing algorithm"))
                        .into();
                };
                if !form.confirmed {
                    return self
                        .confirm_page(
                            &admin,
                            KeyConfirmation::Rotate {
                                alg: alg.as_str().to_owned(),
                            },
                        )
                        .into();
                }
                match keys.rotate_keys(&admin.caller, Some(alg)).await {
                    Ok(staged) => {
                        let notice = staged.first().map(|k| KeysNotice::Staged {
                            kid: k.kid.clone(),
                            alg: k.alg.clone(),
                        });
                        self.keys_page(&admin, keys, notice).await
                    }
                    Err(e) => admin_refusal(e).into(),
                }
            }
            KeysAction::Revoke { kid } => {
                let all = match keys.list_keys().await {
                    Ok(all) => all,
                    Err(e) => return admin_refusal(e).into(),
                };
                let Some(key) = all.iter().find(|k| k.kid == kid) else {
                    return admin_refusal(AdminError::NotFound("no signing key with this kid"))
                        .into();
                };
                if key.state == KeyState::Revoked {
                    let notice = KeysNotice::AlreadyRevoked {
                        kid: key.kid.clone(),
                    };
                    return self.keys_page(&admin, keys, Some(notice)).await;
                }
                if !form.confirmed {
                    let replacement = all
                        .iter()
                        .filter(|k| k.alg == key.alg && k.state == KeyState::Next)
                        .max_by_key(|k| k.created_at)
                        .map(|k| k.kid.clone());
                    return self
                        .confirm_page(
                            &admin,
                            KeyConfirmation::Revoke {
                                key: KeyLine::of(key),
                                is_current: key.state == KeyState::Current,
                                replacement,
                            },
                        )
                        .into();
                }
                match keys.revoke_key(&admin.caller, kid).await {
                    Ok(revoked) => {
                        let notice = KeysNotice::Revoked {
                            kid: revoked.key.kid,
                            was: revoked.was,
                        };
                        self.keys_page(&admin, keys, Some(notice)).await
                    }
                    Err(e) => admin_refusal(e).into(),
                }
            }
            KeysAction::Unknown => unknown_action().into(),
        }
    }

    async fn keys_viewer(&self, browser: &Browser) -> Result<AdminViewer, Refusal> {
        let admin = self.admin_viewer(browser).await?;
        admin.may_open(Section::Keys)?;
        Ok(admin)
    }

    fn confirm_page(&self, admin: &AdminViewer, action: KeyConfirmation) -> Step {
        Step::Show(View::Keys(KeysView::Confirm(KeyConfirmPage {
            frame: admin.frame(Section::Keys),
            action,
        })))
    }

    async fn keys_page(
        &self,
        admin: &AdminViewer,
        keys: &KeyAdmin,
        notice: Option<KeysNotice>,
    ) -> Outcome {
        match keys.list_keys().await {
            Ok(all) => Step::Show(View::Keys(KeysView::Timeline(KeysPage {
                frame: admin.frame(Section::Keys),
                algorithms: timelines(&all),
                may_write: admin.caller.holds(Permission::KeysWrite),
                notice,
            })))
            .into(),
            Err(e) => admin_refusal(e).into(),
        }
    }

    async fn record_key_refusal(
        &self,
        admin: &AdminViewer,
        action: &str,
        target: &str,
        error: &AdminError,
    ) {
        self.guard
            .record(AuditEvent {
                occurred_at: self.clock.now(),
                actor: admin.caller.actor.clone(),
                action: action.to_owned(),
                target: Some(target.to_owned()),
                outcome: AuditOutcome::Failure,
                client_ip: admin.caller.client_ip.clone(),
                details: Some(json!({ "reason": error.to_string() }).to_string()),
            })
            .await;
    }
}

/// The keys grouped by algorithm (in [`SigningAlgorithm::ALL`] order, then any other), each in
/// lifecycle order.
pub fn timelines(keys: &[StoredSigningKey]) -> Vec<AlgorithmTimeline> {
    let rank = |s: KeyState| match s {
        KeyState::Next => 0,
        KeyState::Current => 1,
        KeyState::Retired => 2,
        KeyState::Revoked => 3,
    };
    let mut algs: Vec<String> = SigningAlgorithm::ALL
        .iter()
        .map(|a| a.as_str().to_owned())
        .filter(|a| keys.iter().any(|k| &k.alg == a))
        .collect();
    for key in keys {
        if !algs.contains(&key.alg) {
            algs.push(key.alg.clone());
        }
    }
    algs.into_iter()
        .map(|alg| {
            let mut lines: Vec<KeyLine> = keys
                .iter()
                .filter(|k| k.alg == alg)
                .map(KeyLine::of)
                .collect();
            lines.sort_by(|a, b| {
                rank(a.state)
                    .cmp(&rank(b.state))
                    .then(b.created_at.cmp(&a.created_at))
            });
            AlgorithmTimeline { alg, keys: lines }
        })
        .collect()
}
