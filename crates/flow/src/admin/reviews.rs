//! Access reviews of role grants: who holds a role (granted by whom and when, until when, last
//! confirmed, their last sign-in), which grants are stale, and a reviewer's bulk decisions to
//! confirm or revoke them; and the sweep that removes grants past their expiry.
//!
//! A grant is stale after N days when its holder has not signed in for N days (or not since
//! records began), or when it was neither granted nor confirmed in the last N days. Confirming
//! a grant restarts the second clock; only signing in restarts the first, so a confirmed grant
//! of someone who never signs in comes back at the next review, as it should.
//!
//! Deciding needs `roles:write` and, for each grant, every permission its role carries: a
//! reviewer keeps or takes away only what they could hand out. Revoking is also an action on
//! the user, so it needs every permission the user holds ([`Admin::may_change_role`] without
//! `users:write`, which is the right to grant, not to review). A batch is checked whole before
//! anything changes: one grant the reviewer may not decide refuses them all. Each decision is
//! an audit event of its own (`admin.user.role_confirm`, `admin.user.role_revoke`), and the
//! decision as a whole one more (`admin.role.review`, with the counts).
//!
//! Expiry is enforced where permissions are resolved (a lapsed grant gives nothing from its
//! expiry on, swept or not); the sweep only tidies up, and records each lapse as
//! `admin.user.role_lapse` by the actor `system`.

use super::roles::{RoleDetails, parse_role_name};
use super::users;
use super::{Action, Admin, AdminError, AdminResult, Caller};
use chrono::{DateTime, Utc};
use palisade_core::model::{HeldGrant, Permission, Role, RoleName, User, UserId};
use serde_json::json;
use std::collections::BTreeSet;
use std::fmt;

/// Grants on one page of holders or of a review.
pub const PAGE_SIZE: i64 = 50;
/// What a review calls stale when not told otherwise.
pub const DEFAULT_STALE_AFTER_DAYS: u32 = 90;
/// The longest look back a review takes (ten years).
pub const MAX_STALE_AFTER_DAYS: u32 = 3650;
/// The most grants one decision may name.
pub const MAX_DECISIONS: usize = 500;
/// Lapsed grants read per round of the sweep.
const SWEEP_BATCH: i64 = 100;

/// One user's grant of one role, as a decision names it: `<user id>:<role>` (a user id has no
/// colon; a role name may).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantKey {
    pub user_id: UserId,
    pub role: RoleName,
}

impl GrantKey {
    pub fn parse(raw: &str) -> AdminResult<Self> {
        let (user, role) = raw
            .split_once(':')
            .ok_or_else(|| AdminError::Invalid("a grant is named <user id>:<role>".into()))?;
        if user.is_empty() {
            return Err(AdminError::Invalid(
                "a grant is named <user id>:<role>".into(),
            ));
        }
        Ok(Self {
            user_id: UserId(user.to_owned()),
            role: parse_role_name(role)?,
        })
    }
}

impl fmt::Display for GrantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.user_id, self.role)
    }
}

/// One page of grants, and whether another follows.
#[derive(Debug, Clone)]
pub struct GrantPage {
    pub grants: Vec<HeldGrant>,
    /// Zero-based.
    pub page: u32,
    pub has_next: bool,
}

/// A role, its permissions and one page of its holders.
#[derive(Debug, Clone)]
pub struct RoleHolders {
    pub details: RoleDetails,
    pub holders: GrantPage,
}

/// What a bulk decision did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decisions {
    /// The grants confirmed or revoked.
    pub decided: Vec<GrantKey>,
    /// The grants named that did not exist (any more): lapsed, revoked meanwhile, or never
    /// made. Nothing was done to them.
    pub not_held: Vec<GrantKey>,
}

/// A decision a review takes on a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Confirm,
    Revoke,
}

impl Decision {
    fn action(self) -> Action {
        match self {
            Self::Confirm => Action::ConfirmRole,
            Self::Revoke => Action::RevokeRole,
        }
    }

    fn why(self) -> &'static str {
        match self {
            Self::Confirm => "confirming this grant",
            Self::Revoke => "revoking this grant",
        }
    }
}

/// How many days a review looks back: 1 to [`MAX_STALE_AFTER_DAYS`].
pub fn parse_stale_after_days(raw: Option<&str>) -> AdminResult<u32> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(DEFAULT_STALE_AFTER_DAYS);
    };
    raw.parse::<u32>()
        .ok()
        .filter(|d| (1..=MAX_STALE_AFTER_DAYS).contains(d))
        .ok_or_else(|| {
            AdminError::Invalid(format!(
                "stale_after_days must be a whole number of days from 1 to {MAX_STALE_AFTER_DAYS}"
            ))
        })
}

/// A zero-based page number as typed (`?page=`); absent is the first.
pub fn parse_page(raw: Option<&str>) -> AdminResult<u32> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(0),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|p| *p <= 100_000)
            .ok_or_else(|| AdminError::Invalid("page must be a whole number".into())),
    }
}

/// An expiry as typed: an RFC 3339 instant, or a date `YYYY-MM-DD`, which means through that
/// day: the grant lapses at the start of the next day, UTC.
pub fn parse_expiry(raw: &str) -> AdminResult<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(at.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .filter(|_| raw.len() == 10)
        .and_then(|day| day.succ_opt())
        .and_then(|next| next.and_hms_opt(0, 0, 0))
        .map(|start| start.and_utc())
        .ok_or_else(|| {
            AdminError::Invalid(
                "the expiry must be a date (YYYY-MM-DD) or an RFC 3339 date and time".into(),
            )
        })
}

impl Caller {
    /// The server itself, acting on a rule (a grant reaching its expiry).
    pub fn system() -> Self {
        Self {
            actor: "system".into(),
            permissions: BTreeSet::new(),
            client_ip: None,
        }
    }
}

fn page_of(mut grants: Vec<HeldGrant>, page: u32) -> GrantPage {
    let has_next = grants.len() as i64 > PAGE_SIZE;
    grants.truncate(PAGE_SIZE as usize);
    GrantPage {
        grants,
        page,
        has_next,
    }
}

impl Admin {
    /// A role with its permissions and one page of its holders (live grants, by username).
    pub async fn role_holders(
        &self,
        caller: &Caller,
        role: &str,
        page: u32,
    ) -> AdminResult<RoleHolders> {
        caller.must_hold_all([Permission::RolesRead], "listing who holds a role")?;
        let role = self.find_role(role).await?;
        let grants = self
            .roles
            .role_holders(
                &role.name,
                self.clock.now(),
                PAGE_SIZE + 1,
                i64::from(page) * PAGE_SIZE,
            )
            .await?;
        Ok(RoleHolders {
            details: self.role_details(role).await?,
            holders: page_of(grants, page),
        })
    }

    /// How many hold each role now (roles nobody holds are left out).
    pub async fn role_holder_counts(&self, caller: &Caller) -> AdminResult<Vec<(RoleName, i64)>> {
        caller.must_hold_all([Permission::RolesRead], "listing who holds a role")?;
        Ok(self.roles.role_holder_counts(self.clock.now()).await?)
    }

    /// One page of the grants stale after `stale_after_days` days (see the module comment),
    /// by username then role.
    pub async fn review(
        &self,
        caller: &Caller,
        stale_after_days: u32,
        page: u32,
    ) -> AdminResult<GrantPage> {
        caller.must_hold_all([Permission::RolesRead], "reviewing role grants")?;
        if !(1..=MAX_STALE_AFTER_DAYS).contains(&stale_after_days) {
            return Err(AdminError::Invalid(format!(
                "stale_after_days must be from 1 to {MAX_STALE_AFTER_DAYS}"
            )));
        }
        let now = self.clock.now();
        let stale_before = now - chrono::Duration::days(i64::from(stale_after_days));
        let grants = self
            .roles
            .stale_role_grants(
                now,
                stale_before,
                PAGE_SIZE + 1,
                i64::from(page) * PAGE_SIZE,
            )
            .await?;
        Ok(page_of(grants, page))
    }

    /// Keeps each grant named, recording the confirmation (see the module comment for who may).
    pub async fn confirm_grants(
        &self,
        caller: &Caller,
        grants: &[GrantKey],
    ) -> AdminResult<Decisions> {
        Ok(self.decide_grants(caller, grants, &[]).await?.0)
    }

    /// Takes away each grant named (see the module comment for who may).
    pub async fn revoke_grants(
        &self,
        caller: &Caller,
        grants: &[GrantKey],
    ) -> AdminResult<Decisions> {
        Ok(self.decide_grants(caller, &[], grants).await?.1)
    }

    /// Confirms the grants of `confirm` and revokes those of `revoke`: every grant of both is
    /// checked before any is changed, so a refusal changes nothing. Answers what was confirmed
    /// and what was revoked.
    pub async fn decide_grants(
        &self,
        caller: &Caller,
        confirm: &[GrantKey],
        revoke: &[GrantKey],
    ) -> AdminResult<(Decisions, Decisions)> {
        if confirm.len() + revoke.len() > MAX_DECISIONS {
            return Err(AdminError::Invalid(format!(
                "at most {MAX_DECISIONS} grants in one decision"
            )));
        }
        if confirm.is_empty() && revoke.is_empty() {
            // Nothing to decide, but a caller who may not decide is told so all the same.
            caller.must_hold_all([Permission::RolesWrite], "deciding on grants")?;
        }
        if confirm.iter().any(|k| revoke.contains(k)) {
            return Err(AdminError::Invalid(
                "a grant cannot be both confirmed and revoked".into(),
            ));
        }
        let (to_confirm, confirm_not_held) = self
            .check_decision(caller, confirm, Decision::Confirm)
            .await?;
        let (to_revoke, revoke_not_held) = self
            .check_decision(caller, revoke, Decision::Revoke)
            .await?;
        let confirmed = self
            .apply_decision(caller, to_confirm, confirm_not_held, Decision::Confirm)
            .await?;
        let revoked = self
            .apply_decision(caller, to_revoke, revoke_not_held, Decision::Revoke)
            .await?;
        // The decision as a whole, beside the event of each grant it changed.
        self.auditor
            .success(
                caller,
                Action::ReviewRoles,
                "review",
                Some(json!({
                    "confirmed": confirmed.decided.len(),
                    "revoked": revoked.decided.len(),
                    "not_held": confirmed.not_held.len() + revoked.not_held.len(),
                })),
            )
            .await;
        Ok((confirmed, revoked))
    }

    /// The grants `caller` may decide (with their user and role), and those not held; a
    /// refusal (audited) if any grant is beyond the caller.
    async fn check_decision(
        &self,
        caller: &Caller,
        grants: &[GrantKey],
        decision: Decision,
    ) -> AdminResult<(Vec<(GrantKey, User, Role)>, Vec<GrantKey>)> {
        let mut keys = grants.to_vec();
        keys.sort_by(|a, b| {
            (a.user_id.0.as_str(), a.role.as_str()).cmp(&(b.user_id.0.as_str(), b.role.as_str()))
        });
        keys.dedup();
        let (mut held, mut not_held) = (Vec::new(), Vec::new());
        if keys.is_empty() {
            return Ok((held, not_held));
        }
        let action = decision.action();
        caller
            .must_hold_all_audited(
                &self.auditor,
                [Permission::RolesWrite],
                decision.why(),
                action,
                "review",
            )
            .await?;
        let now = self.clock.now();
        for key in keys {
            let target = users::target(&key.user_id);
            let user = self.users.find_user_by_id(&key.user_id).await?;
            let role = self.roles.find_role(&key.role).await?;
            let (Some(user), Some(role)) = (user, role) else {
                not_held.push(key);
                continue;
            };
            if self
                .roles
                .find_role_grant(&role.name, &user.id, now)
                .await?
                .is_none()
            {
                not_held.push(key);
                continue;
            }
            if decision == Decision::Revoke {
                self.must_manage(caller, &user, action).await?;
            }
            let carried = self.roles.permissions_of_role(&role.name).await?;
            caller
                .must_hold_all_audited(&self.auditor, carried, decision.why(), action, &target)
                .await?;
            held.push((key, user, role));
        }
        Ok((held, not_held))
    }

    async fn apply_decision(
        &self,
        caller: &Caller,
        held: Vec<(GrantKey, User, Role)>,
        not_held: Vec<GrantKey>,
        decision: Decision,
    ) -> AdminResult<Decisions> {
        let mut decisions = Decisions {
            decided: Vec::new(),
            not_held,
        };
        let now = self.clock.now();
        for (key, user, role) in held {
            let done = match decision {
                Decision::Confirm => {
                    self.roles
                        .confirm_role_grant(&role.name, &user.id, now)
                        .await?
                }
                Decision::Revoke => {
                    self.roles.revoke_role(&role.name, &user.id).await?;
                    true
                }
            };
            if !done {
                // Lapsed between the check and the write.
                decisions.not_held.push(key);
                continue;
            }
            self.auditor
                .success(
                    caller,
                    decision.action(),
                    &users::target(&user.id),
                    Some(json!({ "role": role.name, "review": true })),
                )
                .await;
            decisions.decided.push(key);
        }
        Ok(decisions)
    }

    /// Deletes every grant past its expiry, auditing each as `admin.user.role_lapse` by
    /// `system`; returns how many. Idempotent: nodes sweeping at once each delete a grant at
    /// most once between them (the delete is conditional), and a grant renewed meanwhile stays.
    pub async fn sweep_lapsed_grants(&self) -> AdminResult<u64> {
        let system = Caller::system();
        let mut swept = 0;
        loop {
            let now = self.clock.now();
            let lapsed = self.roles.lapsed_role_grants(now, SWEEP_BATCH).await?;
            let mut deleted_this_round = 0;
            for grant in &lapsed {
                if self
                    .roles
                    .delete_lapsed_role_grant(&grant.role, &grant.user_id, now)
                    .await?
                {
                    deleted_this_round += 1;
                    self.auditor
                        .success(
                            &system,
                            Action::LapseRole,
                            &users::target(&grant.user_id),
                            Some(json!({
                                "role": grant.role,
                                "expires_at": grant.expires_at,
                                "granted_by": grant.granted_by,
                            })),
                        )
                        .await;
                }
            }
            swept += deleted_this_round;
            // A short batch was the last; a round that deleted nothing (another node got there
            // first) would only read the same rows again.
            if (lapsed.len() as i64) < SWEEP_BATCH || deleted_this_round == 0 {
                return Ok(swept);
            }
        }
    }
}

#[cfg(test)]
mod tests;
