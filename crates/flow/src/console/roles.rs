//! The admin console's roles and access reviews (`/admin/roles`, `/admin/reviews`).
//!
//! - `GET /admin/roles`: every role with its permissions; `?role=NAME[&page=N]`: one role and
//!   a page of its holders (granted by whom and when, expiry, last confirmed, last sign-in),
//!   with a form to grant the role to a username (optionally until a date) and one to revoke
//!   each grant. `POST /admin/roles` (`action=grant|revoke`).
//! - `GET /admin/reviews?stale_after_days=N[&page=N]` (default 90): the stale grants, each with
//!   a checkbox, in one form with "Confirm selected" and "Revoke selected".
//!   `POST /admin/reviews` (`decision=confirm|revoke`, `grant=<user id>:<role>` repeated).
//!
//! Opening either needs `roles:read` ([`Section::needs`]). The forms are shown to those the
//! administration service would let act — granting and revoking one grant need `users:write`
//! (as in the admin API), review decisions `roles:write` — and the service decides again on
//! every post: a refusal is a 403 page and changes nothing. An action answers with the page
//! and a notice saying what it did.

use super::Frame;
use super::Section;
use super::admin::AdminViewer;
use crate::admin::reviews::{
    self, DEFAULT_STALE_AFTER_DAYS, Decisions, GrantKey, GrantPage, RoleHolders,
};
use crate::admin::roles::RoleDetails;
use crate::admin::{Admin, AdminError};
use crate::interaction::{Browser, Outcome, Refusal, Step, View};
use crate::server::AuthorizationServer;
use chrono::{DateTime, Utc};
use palisade_core::model::{HeldGrant, Permission, UserId, Username};
use palisade_core::{ErrorCode, OAuthError};
use std::collections::BTreeMap;

/// A page of the roles console (boxed: a view is moved through every step's outcome, and
/// these are large).
#[derive(Debug)]
pub enum RolesView {
    /// Every role with its permissions.
    Overview(Box<RolesOverview>),
    /// One role and a page of its holders.
    Holders(Box<HoldersPage>),
    /// The access review.
    Review(Box<ReviewPage>),
}

#[derive(Debug)]
pub struct RolesOverview {
    pub frame: Frame,
    /// Each role with how many hold it now.
    pub roles: Vec<(RoleDetails, i64)>,
}

#[derive(Debug)]
pub struct HoldersPage {
    pub frame: Frame,
    pub role: RoleHolders,
    /// Show the grant form and the revoke buttons (the viewer holds `users:write`).
    pub may_change: bool,
    /// What was typed into the grant form, shown again after a problem.
    pub username: String,
    pub expires: String,
    pub outcome: Option<RolesOutcome>,
    /// The username behind each `user:<id>` that granted a role on the page.
    pub actor_names: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct ReviewPage {
    pub frame: Frame,
    pub stale_after_days: u32,
    pub grants: GrantPage,
    /// Show the checkboxes and the decision buttons (the viewer holds `roles:write`).
    pub may_decide: bool,
    pub outcome: Option<RolesOutcome>,
    /// The username behind each `user:<id>` that granted a role on the page.
    pub actor_names: BTreeMap<String, String>,
}

/// What the last action did, or why it did nothing; the pages' catalogue words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolesOutcome {
    Granted {
        username: String,
        role: String,
        expires_at: Option<DateTime<Utc>>,
    },
    Revoked {
        username: String,
        role: String,
    },
    Decided {
        confirmed: usize,
        revoked: usize,
        /// Selected grants that had lapsed or been revoked meanwhile.
        not_held: usize,
    },
    /// A problem: no such user.
    UnknownUser,
    /// A problem: a decision with no grant selected.
    NothingSelected,
    /// A problem the administration service named (an expiry in the past, a bad date...).
    Invalid(String),
}

impl RolesOutcome {
    pub fn is_problem(&self) -> bool {
        matches!(
            self,
            Self::UnknownUser | Self::NothingSelected | Self::Invalid(_)
        )
    }
}

/// The query of `GET /admin/roles`.
#[derive(Debug, Default)]
pub struct RolesQuery<'a> {
    pub role: Option<&'a str>,
    pub page: Option<&'a str>,
}

/// A post to `/admin/roles`.
#[derive(Debug, Default)]
pub struct RolesSubmission<'a> {
    pub csrf_token: Option<&'a str>,
    /// `grant` or `revoke`.
    pub action: Option<&'a str>,
    pub role: Option<&'a str>,
    /// For `grant`: the username typed.
    pub username: Option<&'a str>,
    /// For `grant`: a date `YYYY-MM-DD` (through that day, UTC), or empty.
    pub expires: Option<&'a str>,
    /// For `revoke`: the holder's user id.
    pub user_id: Option<&'a str>,
}

/// The query of `GET /admin/reviews`.
#[derive(Debug, Default)]
pub struct ReviewQuery<'a> {
    pub stale_after_days: Option<&'a str>,
    pub page: Option<&'a str>,
}

/// A post to `/admin/reviews`.
#[derive(Debug, Default)]
pub struct ReviewSubmission<'a> {
    pub csrf_token: Option<&'a str>,
    /// `confirm` or `revoke` (the button pressed).
    pub decision: Option<&'a str>,
    pub stale_after_days: Option<&'a str>,
    /// `<user id>:<role>` of each grant ticked.
    pub grants: Vec<&'a str>,
}

/// An administration error as a console answers it: a refusal of the viewer (403), a lookup
/// that found nothing or an input the service refused (the page, with the problem), or a
/// failure of storage (the error page).
enum Failure {
    Refused(Refusal),
    Problem(RolesOutcome),
}

fn failure(e: AdminError) -> Failure {
    match e {
        AdminError::NotFound(_) => Failure::Problem(RolesOutcome::UnknownUser),
        AdminError::Invalid(message) | AdminError::Conflict(message) => {
            Failure::Problem(RolesOutcome::Invalid(message))
        }
        other => Failure::Refused(super::admin_refusal(other)),
    }
}

fn refused(e: AdminError) -> Refusal {
    match failure(e) {
        Failure::Refused(refusal) => refusal,
        Failure::Problem(RolesOutcome::UnknownUser) => Refusal::page(OAuthError::new(
            ErrorCode::InvalidRequest,
            "there is no such role",
        )),
        Failure::Problem(other) => Refusal::page(OAuthError::invalid_request(match other {
            RolesOutcome::Invalid(message) => message,
            _ => "the request is not valid".into(),
        })),
    }
}

fn forged() -> Outcome {
    Refusal::forbidden(OAuthError::new(
        ErrorCode::AccessDenied,
        "the form was not sent by this page; reload the page and try again",
    ))
    .into()
}

fn show(view: RolesView) -> Outcome {
    Step::Show(View::Roles(view)).into()
}

impl AuthorizationServer {
    /// The viewer of a roles page, allowed to open `section`.
    async fn roles_viewer(
        &self,
        browser: &Browser,
        section: Section,
    ) -> Result<AdminViewer, Refusal> {
        let viewer = self.admin_viewer(browser).await?;
        viewer.may_open(section)?;
        Ok(viewer)
    }

    /// Who `user:<id>` actors are, by username (a user deleted since stays `user:<id>`).
    async fn actor_names(&self, grants: &[HeldGrant]) -> BTreeMap<String, String> {
        let mut names = BTreeMap::new();
        for by in grants.iter().filter_map(|g| g.grant.granted_by.as_deref()) {
            let Some(id) = by.strip_prefix("user:") else {
                continue;
            };
            if names.contains_key(by) {
                continue;
            }
            if let Ok(Some(user)) = self.users.find_user_by_id(&UserId(id.to_owned())).await {
                names.insert(by.to_owned(), user.username.as_str().to_owned());
            }
        }
        names
    }

    /// `GET /admin/roles[?role=&page=]`.
    pub async fn show_roles(
        &self,
        admin: &Admin,
        browser: &Browser,
        query: RolesQuery<'_>,
    ) -> Outcome {
        let viewer = match self.roles_viewer(browser, Section::Roles).await {
            Ok(viewer) => viewer,
            Err(refusal) => return refusal.into(),
        };
        let Some(role) = query.role.filter(|r| !r.is_empty()) else {
            let listed = match admin.list_roles().await {
                Ok(roles) => roles,
                Err(e) => return refused(e).into(),
            };
            let counts = match admin.role_holder_counts(&viewer.caller).await {
                Ok(counts) => counts,
                Err(e) => return refused(e).into(),
            };
            let roles = listed
                .into_iter()
                .map(|details| {
                    let held = counts
                        .iter()
                        .find(|(name, _)| *name == details.role.name)
                        .map_or(0, |(_, n)| *n);
                    (details, held)
                })
                .collect();
            return show(RolesView::Overview(Box::new(RolesOverview {
                frame: viewer.frame(Section::Roles),
                roles,
            })));
        };
        let page = match reviews::parse_page(query.page) {
            Ok(page) => page,
            Err(e) => return refused(e).into(),
        };
        self.holders_page(admin, &viewer, role, page, None, "", "")
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn holders_page(
        &self,
        admin: &Admin,
        viewer: &AdminViewer,
        role: &str,
        page: u32,
        outcome: Option<RolesOutcome>,
        username: &str,
        expires: &str,
    ) -> Outcome {
        match admin.role_holders(&viewer.caller, role, page).await {
            Ok(found) => show(RolesView::Holders(Box::new(HoldersPage {
                actor_names: self.actor_names(&found.holders.grants).await,
                frame: viewer.frame(Section::Roles),
                role: found,
                may_change: viewer.caller.holds(Permission::UsersWrite),
                username: username.to_owned(),
                expires: expires.to_owned(),
                outcome,
            }))),
            Err(e) => refused(e).into(),
        }
    }

    /// `POST /admin/roles`: grant the role to a username (optionally until a date), or revoke
    /// one holder's grant.
    pub async fn roles_action(
        &self,
        admin: &Admin,
        browser: &Browser,
        form: RolesSubmission<'_>,
    ) -> Outcome {
        let viewer = match self.roles_viewer(browser, Section::Roles).await {
            Ok(viewer) => viewer,
            Err(refusal) => return refusal.into(),
        };
        if !viewer.viewer.posted_by_its_page(form.csrf_token) {
            return forged();
        }
        let Some(role) = form.role.filter(|r| !r.is_empty()) else {
            return Refusal::page(OAuthError::invalid_request("the form names no role")).into();
        };
        let caller = &viewer.caller;
        let (username, expires) = (
            form.username.unwrap_or("").trim(),
            form.expires.unwrap_or("").trim(),
        );
        let result = match form.action {
            Some("grant") => {
                self.console_grant_role(admin, caller, role, username, expires)
                    .await
            }
            Some("revoke") => {
                let user_id = form.user_id.unwrap_or("");
                self.console_revoke_role(admin, caller, role, user_id).await
            }
            _ => {
                return Refusal::page(OAuthError::invalid_request("unknown action")).into();
            }
        };
        match result {
            Ok(done) => {
                self.holders_page(admin, &viewer, role, 0, Some(done), "", "")
                    .await
            }
            Err(Failure::Refused(refusal)) => refusal.into(),
            Err(Failure::Problem(problem)) => {
                self.holders_page(admin, &viewer, role, 0, Some(problem), username, expires)
                    .await
            }
        }
    }

    async fn console_grant_role(
        &self,
        admin: &Admin,
        caller: &crate::admin::Caller,
        role: &str,
        username: &str,
        expires: &str,
    ) -> Result<RolesOutcome, Failure> {
        // The permission first: a viewer who may not grant learns nothing of who exists.
        caller
            .must_hold_all([Permission::UsersWrite], "granting a role")
            .map_err(failure)?;
        if Username::parse(username).is_err() {
            return Err(Failure::Problem(RolesOutcome::UnknownUser));
        }
        let expires_at = if expires.is_empty() {
            None
        } else {
            Some(reviews::parse_expiry(expires).map_err(failure)?)
        };
        let user = admin
            .find_user_by_username(username)
            .await
            .map_err(failure)?;
        admin
            .grant_role(caller, &user, role, expires_at)
            .await
            .map_err(|e| match e {
                // The user was found: a NotFound now is the role.
                AdminError::NotFound(_) => Failure::Refused(refused(e)),
                other => failure(other),
            })?;
        Ok(RolesOutcome::Granted {
            username: user.username.as_str().to_owned(),
            role: role.to_owned(),
            expires_at,
        })
    }

    async fn console_revoke_role(
        &self,
        admin: &Admin,
        caller: &crate::admin::Caller,
        role: &str,
        user_id: &str,
    ) -> Result<RolesOutcome, Failure> {
        caller
            .must_hold_all([Permission::UsersWrite], "revoking a role")
            .map_err(failure)?;
        let user = admin
            .find_user(&palisade_core::model::UserId(user_id.to_owned()))
            .await
            .map_err(failure)?;
        admin
            .revoke_role(caller, &user, role)
            .await
            .map_err(|e| match e {
                AdminError::NotFound(_) => Failure::Refused(refused(e)),
                other => failure(other),
            })?;
        Ok(RolesOutcome::Revoked {
            username: user.username.as_str().to_owned(),
            role: role.to_owned(),
        })
    }

    /// `GET /admin/reviews[?stale_after_days=&page=]`.
    pub async fn show_review(
        &self,
        admin: &Admin,
        browser: &Browser,
        query: ReviewQuery<'_>,
    ) -> Outcome {
        let viewer = match self.roles_viewer(browser, Section::Reviews).await {
            Ok(viewer) => viewer,
            Err(refusal) => return refusal.into(),
        };
        let parsed = reviews::parse_stale_after_days(query.stale_after_days)
            .and_then(|days| Ok((days, reviews::parse_page(query.page)?)));
        match parsed {
            Ok((days, page)) => self.review_page(admin, &viewer, days, page, None).await,
            Err(e) => {
                self.review_page(
                    admin,
                    &viewer,
                    DEFAULT_STALE_AFTER_DAYS,
                    0,
                    Some(match failure(e) {
                        Failure::Problem(problem) => problem,
                        Failure::Refused(refusal) => return refusal.into(),
                    }),
                )
                .await
            }
        }
    }

    async fn review_page(
        &self,
        admin: &Admin,
        viewer: &AdminViewer,
        stale_after_days: u32,
        page: u32,
        outcome: Option<RolesOutcome>,
    ) -> Outcome {
        match admin.review(&viewer.caller, stale_after_days, page).await {
            Ok(grants) => show(RolesView::Review(Box::new(ReviewPage {
                actor_names: self.actor_names(&grants.grants).await,
                frame: viewer.frame(Section::Reviews),
                stale_after_days,
                grants,
                may_decide: viewer.caller.holds(Permission::RolesWrite),
                outcome,
            }))),
            Err(e) => refused(e).into(),
        }
    }

    /// `POST /admin/reviews`: confirm or revoke the ticked grants.
    pub async fn review_action(
        &self,
        admin: &Admin,
        browser: &Browser,
        form: ReviewSubmission<'_>,
    ) -> Outcome {
        let viewer = match self.roles_viewer(browser, Section::Reviews).await {
            Ok(viewer) => viewer,
            Err(refusal) => return refusal.into(),
        };
        if !viewer.viewer.posted_by_its_page(form.csrf_token) {
            return forged();
        }
        let days = reviews::parse_stale_after_days(form.stale_after_days)
            .unwrap_or(DEFAULT_STALE_AFTER_DAYS);
        let keys: Result<Vec<GrantKey>, AdminError> =
            form.grants.iter().map(|g| GrantKey::parse(g)).collect();
        let keys = match keys {
            Ok(keys) => keys,
            Err(e) => return refused(e).into(),
        };
        let decided = match form.decision {
            Some("confirm") => admin.decide_grants(&viewer.caller, &keys, &[]).await,
            Some("revoke") => admin.decide_grants(&viewer.caller, &[], &keys).await,
            _ => return Refusal::page(OAuthError::invalid_request("unknown decision")).into(),
        };
        let outcome = match decided {
            // The permission is checked before an empty selection is pointed out.
            Ok(_) if keys.is_empty() => RolesOutcome::NothingSelected,
            Ok((confirmed, revoked)) => decided_outcome(&confirmed, &revoked),
            Err(e) => match failure(e) {
                Failure::Refused(refusal) => return refusal.into(),
                Failure::Problem(problem) => problem,
            },
        };
        self.review_page(admin, &viewer, days, 0, Some(outcome))
            .await
    }
}

fn decided_outcome(confirmed: &Decisions, revoked: &Decisions) -> RolesOutcome {
    RolesOutcome::Decided {
        confirmed: confirmed.decided.len(),
        revoked: revoked.decided.len(),
        not_held: confirmed.not_held.len() + revoked.not_held.len(),
    }
}
