//! The admin console (`/admin/...`): users, clients, signing keys, the audit log.
//!
//! Who may enter: a signed-in user who holds at least one administrative permission through
//! their roles, resolved on every request (a role taken away closes the console at the next
//! click), and — unless the operator turned it off (`admin_console_requires_mfa`) — whose
//! session was signed in with a second factor: the console can hand out every right the
//! server has, so a stolen password alone must not open it.
//!
//! What they may do is decided by the administration service ([`crate::admin`]) with the
//! [`Caller`] built here; the pages only hide what the caller does not hold. The permission a
//! page's action needs (`users:write`, `clients:write`) is demanded here, as the admin API's
//! route table demands it, and a refusal is written to the audit trail as the API writes one.
//!
//! Every action is a POST carrying the session's CSRF token, answered with the page it was
//! posted from, saying what happened (or, for a removal, with the list). A secret — a client's,
//! an initial access token — is in the answer to the action that made it, and in no other.

use super::{Frame, Section, Viewer};
use crate::admin::initial_access_tokens::MintedInitialAccessToken;
use crate::admin::users::NewAccount;
use crate::admin::{Action, Admin, AdminError, Caller};
use crate::interaction::{Browser, Outcome, Refusal, Step, View};
use crate::mfa::assurance::Assurance;
use crate::registration::Registered;
use crate::server::AuthorizationServer;
use chrono::{DateTime, SecondsFormat, Utc};
use palisade_core::factor::FactorKind;
use palisade_core::model::{
    Client, GrantType, InitialAccessToken, Permission, TokenEndpointAuthMethod, User, UserId,
};
use palisade_core::{ErrorCode, OAuthError, Secret};
use serde_json::{Value, json};

/// How many users a page of the list shows.
pub const USERS_PER_PAGE: u32 = 50;
/// The last page number accepted (50 million users is past any deployment of this server).
const MAX_PAGE: u32 = 1_000_000;
/// The grant types the client forms offer, in the order they are shown.
pub const GRANT_CHOICES: [GrantType; 4] = [
    GrantType::AuthorizationCode,
    GrantType::RefreshToken,
    GrantType::ClientCredentials,
    GrantType::DeviceCode,
];
/// The longest lifetime a registration token may be given, in days.
const MAX_TOKEN_DAYS: i64 = 3650;

/// A page of the admin console.
#[derive(Debug)]
pub enum AdminView {
    Users(Box<UsersView>),
    User(Box<UserView>),
    Clients(Box<ClientsView>),
    Client(Box<ClientView>),
    /// The user or client a URL names does not exist (404).
    Missing(Box<MissingView>),
}

/// What the last action did, for the page to say (its words are in the string catalogue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminNotice {
    UserCreated,
    UserDisabled,
    UserEnabled,
    UserUnlocked { was_locked: bool },
    FactorsReset { factors_deleted: u64 },
    UserSignedOut,
    UserDeleted { username: String },
    ClientCreated,
    ClientUpdated,
    SecretRotated,
    ClientRemoved { client_id: String },
    TokenMinted,
    TokenRevoked,
}

/// Why the last action did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminProblem {
    /// The administration service's own words (a rule the input breaks, a conflict).
    Refused(String),
    /// The removal was not confirmed with the client id.
    ConfirmationMismatch,
    /// A registration token's lifetime or use count is not a whole number in range.
    BadTokenLimits,
    /// The client type is neither `public` nor `confidential`.
    BadClientType,
}

/// What a page says above its content.
#[derive(Debug, Clone, Default)]
pub struct Said {
    pub notice: Option<AdminNotice>,
    pub problem: Option<AdminProblem>,
}

impl Said {
    fn notice(notice: AdminNotice) -> Self {
        Self {
            notice: Some(notice),
            problem: None,
        }
    }

    fn problem(problem: AdminProblem) -> Self {
        Self {
            notice: None,
            problem: Some(problem),
        }
    }
}

/// `/admin/users`: one page of users, the search that found them, the create form.
#[derive(Debug)]
pub struct UsersView {
    pub frame: Frame,
    pub said: Said,
    pub search: String,
    /// 1-based.
    pub page: u32,
    pub has_next: bool,
    pub users: Vec<UserLine>,
    /// The viewer holds `users:write`: the create form is shown.
    pub may_write: bool,
    /// What was typed in the create form, shown again after a refusal (never the password).
    pub typed: TypedUser,
}

#[derive(Debug, Clone, Default)]
pub struct TypedUser {
    pub username: String,
    pub email: String,
    pub display_name: String,
}

#[derive(Debug)]
pub struct UserLine {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub is_disabled: bool,
    /// RFC 3339.
    pub created_at: String,
}

/// `/admin/users/{id}`: a user, their roles, factors and lock, and the actions on them.
#[derive(Debug)]
pub struct UserView {
    pub frame: Frame,
    pub said: Said,
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub is_disabled: bool,
    pub created_at: String,
    /// RFC 3339, when a brute-force lock is in force.
    pub locked_until: Option<String>,
    pub roles: Vec<String>,
    pub totp_factors: usize,
    pub passkeys: usize,
    pub recovery_codes_left: u32,
    /// The viewer holds `users:write`: the actions are shown.
    pub may_write: bool,
    /// The user holds a permission the viewer does not: the service refuses every action on
    /// them (nobody acts on more than they hold), so none is shown.
    pub outranks_viewer: bool,
    /// The viewer holds `roles:read`: the roles link to the roles page.
    pub may_read_roles: bool,
    /// The viewer is this user (they cannot delete themselves).
    pub is_viewer: bool,
    /// Where the user is signed in now (the account console's sessions, read-only here:
    /// "sign out everywhere" ends them all).
    pub sessions: Vec<super::sessions::SessionEntry>,
    /// The applications holding a consent or a live refresh-token family of the user.
    pub applications: Vec<super::account::ConnectedApplication>,
}

/// `/admin/clients`: every client, the create form, the registration tokens.
#[derive(Debug)]
pub struct ClientsView {
    pub frame: Frame,
    pub said: Said,
    pub clients: Vec<ClientLine>,
    pub tokens: Vec<TokenLine>,
    /// A registration token just minted: the only time it is shown.
    pub minted: Option<MintedToken>,
    /// The viewer holds `clients:write`: the create and mint forms and revoke buttons.
    pub may_write: bool,
    pub typed: TypedClient,
}

/// What was typed in a client form, shown again after a refusal.
#[derive(Debug, Clone, Default)]
pub struct TypedClient {
    pub name: String,
    pub is_public: bool,
    pub redirect_uris: String,
    pub scope: String,
    /// `grant_types` values, as the checkboxes post them.
    pub grant_types: Vec<String>,
}

#[derive(Debug)]
pub struct ClientLine {
    pub id: String,
    pub name: String,
    pub is_public: bool,
    pub grant_types: Vec<String>,
    pub created_at: String,
}

#[derive(Debug)]
pub struct TokenLine {
    pub id: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub uses: i32,
    pub max_uses: Option<i32>,
}

#[derive(Debug)]
pub struct MintedToken {
    pub token: String,
    pub expires_at: Option<String>,
    pub max_uses: Option<i32>,
}

/// `/admin/clients/{id}`: a client's metadata, the edit form, secret rotation, removal.
#[derive(Debug)]
pub struct ClientView {
    pub frame: Frame,
    pub said: Said,
    pub id: String,
    pub name: String,
    pub is_public: bool,
    pub auth_method: String,
    pub uses_secret: bool,
    pub created_at: String,
    pub registered_dynamically: bool,
    /// The secret this very answer issued: shown once, never stored in the clear.
    pub secret: Option<String>,
    pub may_write: bool,
    /// The client's `admin:` scopes grant a permission the viewer does not hold: the service
    /// refuses every change to it, so none is shown.
    pub outranks_viewer: bool,
    /// What the edit form holds: the stored values, or what was typed after a refusal.
    pub typed: TypedClient,
}

#[derive(Debug)]
pub struct MissingView {
    pub frame: Frame,
    pub what: Missing,
}

/// What a URL or a form named that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    User,
    Client,
    RegistrationToken,
}

impl Missing {
    /// The section whose list the page links back to.
    pub fn section(self) -> Section {
        match self {
            Self::User => Section::Users,
            Self::Client | Self::RegistrationToken => Section::Clients,
        }
    }
}

/// A new user, as the create form posts it.
#[derive(Debug)]
pub struct NewUserForm<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub display_name: &'a str,
    pub password: &'a str,
}

/// What the user page's forms post (`action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserAction {
    Disable,
    Enable,
    Unlock,
    ResetFactors,
    SignOut,
    Delete,
}

impl UserAction {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "disable" => Self::Disable,
            "enable" => Self::Enable,
            "unlock" => Self::Unlock,
            "reset-factors" => Self::ResetFactors,
            "sign-out" => Self::SignOut,
            "delete" => Self::Delete,
            _ => return None,
        })
    }

    fn audited_as(self) -> Action {
        match self {
            Self::Disable => Action::DisableUser,
            Self::Enable => Action::EnableUser,
            Self::Unlock => Action::UnlockUser,
            Self::ResetFactors => Action::ResetUserMfa,
            Self::SignOut => Action::SignOutUser,
            Self::Delete => Action::DeleteUser,
        }
    }
}

/// A client form's fields: the create form has all of them, the edit form the last three.
#[derive(Debug, Default)]
pub struct ClientForm<'a> {
    pub name: &'a str,
    /// `public` or `confidential`.
    pub client_type: &'a str,
    /// One per line.
    pub redirect_uris: &'a str,
    /// Space-separated.
    pub scope: &'a str,
    pub grant_types: Vec<&'a str>,
}

/// What the clients page's forms post.
#[derive(Debug)]
pub enum ClientsAction<'a> {
    Create(ClientForm<'a>),
    /// Blank fields: never expires, unlimited uses.
    MintToken {
        expires_in_days: &'a str,
        max_uses: &'a str,
    },
    RevokeToken {
        id: &'a str,
    },
}

/// What a client page's forms post.
#[derive(Debug)]
pub enum ClientAction<'a> {
    Update(ClientForm<'a>),
    RotateSecret,
    /// `confirmation` must be the client id.
    Remove {
        confirmation: &'a str,
    },
}

/// A console POST: the session's CSRF token, and what it asks for (`None`: an unknown action).
#[derive(Debug)]
pub struct Posted<A> {
    pub csrf_token: Option<String>,
    pub action: Option<A>,
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn show(view: AdminView) -> Outcome {
    Step::Show(View::Admin(view)).into()
}

fn unknown_action() -> Outcome {
    Refusal::page(OAuthError::invalid_request(
        "the form asks for no known action",
    ))
    .into()
}

/// A service error as the console answers it: a refusal of permission is a 403 page, a
/// storage failure the error page; `Ok` holds what the page says instead (input it refused).
fn answer_to(error: AdminError) -> Result<AdminProblem, Refusal> {
    match error {
        AdminError::Invalid(text) | AdminError::Conflict(text) => Ok(AdminProblem::Refused(text)),
        AdminError::Protocol(e) if e.code != ErrorCode::ServerError => {
            Ok(AdminProblem::Refused(e.description.into_owned()))
        }
        other => Err(super::admin_refusal(other)),
    }
}

/// A failure reading what a page shows: the error page.
fn failed(error: AdminError) -> Outcome {
    match answer_to(error) {
        Ok(AdminProblem::Refused(text)) => Refusal::page(OAuthError::invalid_request(text)).into(),
        Ok(_) => Refusal::page(OAuthError::server_error("unexpected page problem")).into(),
        Err(refusal) => refusal.into(),
    }
}

/// Refuses (403, audited) unless the caller holds `needed` for `action` on `target`.
async fn demand(
    admin: &Admin,
    caller: &Caller,
    needed: Permission,
    action: Action,
    target: &str,
) -> Result<(), Refusal> {
    caller
        .must_hold_all_audited(admin.auditor(), [needed], "this action", action, target)
        .await
        .map_err(|e| {
            answer_to(e).err().unwrap_or_else(|| {
                Refusal::forbidden(OAuthError::access_denied(
                    "this action is not yours to take",
                ))
            })
        })
}

/// The `page` query parameter: absent is 1.
fn page_number(raw: Option<&str>) -> Result<u32, Refusal> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(1),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                Refusal::page(OAuthError::invalid_request(
                    "page must be a whole number from 1",
                ))
            }),
    }
}

/// The lines of a textarea, trimmed, blank ones dropped.
fn lines(raw: &str) -> Vec<String> {
    raw.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

impl TypedClient {
    fn of_form(form: &ClientForm<'_>) -> Self {
        Self {
            name: form.name.to_owned(),
            is_public: form.client_type == "public",
            redirect_uris: form.redirect_uris.to_owned(),
            scope: form.scope.to_owned(),
            grant_types: form.grant_types.iter().map(|g| (*g).to_owned()).collect(),
        }
    }

    fn of_client(client: &Client) -> Self {
        Self {
            name: client.name.clone(),
            is_public: client.token_endpoint_auth_method == TokenEndpointAuthMethod::None,
            redirect_uris: client.redirect_uris.join("\n"),
            scope: client.scopes.join(" "),
            grant_types: client
                .grant_types
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect(),
        }
    }
}

/// RFC 7591 metadata of a new client from the create form: a public client authenticates with
/// nothing (`none`), a confidential one with a secret in HTTP Basic.
fn new_client_metadata(form: &ClientForm<'_>) -> Value {
    let method = if form.client_type == "public" {
        TokenEndpointAuthMethod::None
    } else {
        TokenEndpointAuthMethod::ClientSecretBasic
    };
    json!({
        "client_name": form.name.trim(),
        "token_endpoint_auth_method": method.as_str(),
        "redirect_uris": lines(form.redirect_uris),
        "scope": form.scope.trim(),
        "grant_types": form.grant_types,
    })
}

/// The stored client's metadata with the edit form's redirect URIs, scopes and grant types:
/// everything else (the method, keys, options, resources) stays as it is.
fn edited_metadata(client: &Client, form: &ClientForm<'_>) -> Value {
    let stored = Registered {
        client: client.clone(),
        client_secret: None,
        registration_access_token: None,
    };
    let mut body = stored.to_response(None);
    for derived in [
        "client_id",
        "client_id_issued_at",
        "client_secret_expires_at",
        "response_types",
    ] {
        body.remove(derived);
    }
    body.insert("resources".into(), json!(client.resources));
    body.insert("redirect_uris".into(), json!(lines(form.redirect_uris)));
    body.insert("scope".into(), json!(form.scope.trim()));
    body.insert("grant_types".into(), json!(form.grant_types));
    Value::Object(body)
}

fn token_line(token: &InitialAccessToken) -> TokenLine {
    TokenLine {
        id: token.id.clone(),
        created_at: rfc3339(token.created_at),
        expires_at: token.expires_at.map(rfc3339),
        uses: token.uses,
        max_uses: token.max_uses,
    }
}

/// A registration token's limits as typed: blank is none.
fn token_limits(
    expires_in_days: &str,
    max_uses: &str,
) -> Option<(Option<chrono::Duration>, Option<i32>)> {
    let days = match expires_in_days.trim() {
        "" => None,
        raw => Some(
            raw.parse::<i64>()
                .ok()
                .filter(|d| (1..=MAX_TOKEN_DAYS).contains(d))?,
        ),
    };
    let uses = match max_uses.trim() {
        "" => None,
        raw => Some(raw.parse::<i32>().ok().filter(|u| *u >= 1)?),
    };
    Some((days.map(chrono::Duration::days), uses))
}

impl AdminViewer {
    fn may(&self, permission: Permission) -> bool {
        self.caller.holds(permission)
    }

    fn posted_by_its_page(&self, csrf_token: Option<&str>) -> Result<(), Refusal> {
        if self.viewer.posted_by_its_page(csrf_token) {
            Ok(())
        } else {
            Err(crate::interaction::forged_form())
        }
    }

    fn missing(&self, what: Missing) -> Outcome {
        show(AdminView::Missing(Box::new(MissingView {
            frame: self.frame(what.section()),
            what,
        })))
    }
}

/// A user allowed into the admin console: their session, and the caller the administration
/// service acts for.
#[derive(Debug)]
pub struct AdminViewer {
    pub viewer: Viewer,
    pub caller: Caller,
}

impl AdminViewer {
    /// The admin console's frame at `current`: only the sections the caller may open.
    pub fn frame(&self, current: Section) -> Frame {
        Frame {
            user_display: self.viewer.display_name(),
            csrf_token: self.viewer.session.csrf_token.clone(),
            current,
            nav: Section::ADMIN
                .into_iter()
                .filter(|s| s.needs().is_none_or(|p| self.caller.holds(p)))
                .collect(),
            may_administer: true,
        }
    }

    /// Refuses a section the caller may not open (a typed URL, not a link we showed).
    pub fn may_open(&self, section: Section) -> Result<(), Refusal> {
        match section.needs() {
            Some(p) if !self.caller.holds(p) => Err(Refusal::forbidden(OAuthError::new(
                ErrorCode::AccessDenied,
                "your roles do not let you open this page",
            ))),
            _ => Ok(()),
        }
    }

    /// The first section of the console the caller may open (where `/admin` leads).
    pub fn first_section(&self) -> Option<Section> {
        self.frame(Section::Users).nav.first().copied()
    }
}

impl AuthorizationServer {
    /// The user at an admin console page, or the page that turns them away (403).
    pub async fn admin_viewer(&self, browser: &Browser) -> Result<AdminViewer, Refusal> {
        let viewer = self.console_viewer(browser).await?;
        let held = self
            .roles
            .permissions_of_user(&viewer.user.id, self.clock.now())
            .await
            .map_err(|e| Refusal::page(e.into()))?;
        let caller = Caller::for_user(
            &viewer.user.id,
            held,
            browser.client_ip.map(|ip| ip.to_string()),
        );
        if caller.holds_nothing() {
            return Err(Refusal::forbidden(OAuthError::new(
                ErrorCode::AccessDenied,
                "your account has no administrative role",
            )));
        }
        if self.policy.admin_console_requires_mfa
            && Assurance::of_amr(&viewer.session.amr) != Assurance::MultiFactor
        {
            // Through the console's sign-in, which steps the session up and comes back.
            return Err(super::sign_in::sign_in_first(true));
        }
        Ok(AdminViewer { viewer, caller })
    }

    /// The viewer of a section's page, refused unless they may open it.
    async fn admin_at(&self, browser: &Browser, section: Section) -> Result<AdminViewer, Refusal> {
        let viewer = self.admin_viewer(browser).await?;
        viewer.may_open(section)?;
        Ok(viewer)
    }

    /// `GET /admin`: the first section the viewer may open.
    pub async fn admin_home(&self, browser: &Browser) -> Result<Section, Refusal> {
        let viewer = self.admin_viewer(browser).await?;
        viewer.first_section().ok_or_else(|| {
            Refusal::forbidden(OAuthError::access_denied(
                "your roles do not let you open any page of the admin console",
            ))
        })
    }

    /// `GET /admin/users?q=&page=`.
    pub async fn show_admin_users(
        &self,
        admin: &Admin,
        browser: &Browser,
        search: Option<&str>,
        page: Option<&str>,
    ) -> Outcome {
        let viewer = match self.admin_at(browser, Section::Users).await {
            Ok(viewer) => viewer,
            Err(refusal) => return refusal.into(),
        };
        let page = match page_number(page) {
            Ok(page) => page,
            Err(refusal) => return refusal.into(),
        };
        let search = search.map(str::trim).unwrap_or_default();
        self.users_page(
            admin,
            &viewer,
            search,
            page,
            Said::default(),
            TypedUser::default(),
        )
        .await
    }

    async fn users_page(
        &self,
        admin: &Admin,
        viewer: &AdminViewer,
        search: &str,
        page: u32,
        said: Said,
        typed: TypedUser,
    ) -> Outcome {
        let per_page = i64::from(USERS_PER_PAGE);
        let offset = i64::from(page - 1) * per_page;
        // One more than a page tells whether there is a next one, without counting thousands.
        let found = admin
            .list_users((!search.is_empty()).then_some(search), per_page + 1, offset)
            .await;
        let mut users = match found {
            Ok(users) => users,
            Err(e) => return failed(e),
        };
        let has_next = users.len() > USERS_PER_PAGE as usize;
        users.truncate(USERS_PER_PAGE as usize);
        show(AdminView::Users(Box::new(UsersView {
            frame: viewer.frame(Section::Users),
            said,
            search: search.to_owned(),
            page,
            has_next,
            users: users.iter().map(user_line).collect(),
            may_write: viewer.may(Permission::UsersWrite),
            typed,
        })))
    }

    /// `POST /admin/users`: create a user.
    pub async fn admin_create_user(
        &self,
        admin: &Admin,
        browser: &Browser,
        csrf_token: Option<&str>,
        form: NewUserForm<'_>,
    ) -> Outcome {
        let viewer = match self.admin_at(browser, Section::Users).await {
            Ok(viewer) => viewer,
            Err(refusal) => return refusal.into(),
        };
        if let Err(refusal) = viewer.posted_by_its_page(csrf_token) {
            return refusal.into();
        }
        if let Err(refusal) = demand(
            admin,
            &viewer.caller,
            Permission::UsersWrite,
            Action::CreateUser,
            "user:new",
        )
        .await
        {
            return refusal.into();
        }
        let password = Secret::new(form.password);
        let created = admin
            .create_user(
                &viewer.caller,
                NewAccount {
                    username: form.username,
                    password: &password,
                    email: Some(form.email),
                    display_name: Some(form.display_name),
                },
            )
            .await;
        match created {
            Ok(user) => {
                self.user_page(admin, &viewer, user, Said::notice(AdminNotice::UserCreated))
                    .await
            }
            Err(e) => match answer_to(e) {
                Ok(problem) => {
                    let typed = TypedUser {
                        username: form.username.to_owned(),
                        email: form.email.to_owned(),
                        display_name: form.display_name.to_owned(),
                    };
                    self.users_page(admin, &viewer, "", 1, Said::problem(problem), typed)
                        .await
                }
                Err(refusal) => refusal.into(),
            },
        }
    }

    /// Who posted a form of `section`, and what it asks: an administrator allowed there, the
    /// form carrying the session's token, an action the page knows; else the page that says
    /// which of these failed.
    async fn admin_posting<A>(
        &self,
        browser: &Browser,
        section: Section,
        posted: Posted<A>,
    ) -> Result<(AdminViewer, A), Outcome> {
        let viewer = self
            .admin_at(browser, section)
            .await
            .map_err(Outcome::from)?;
        viewer
            .posted_by_its_page(posted.csrf_token.as_deref())
            .map_err(Outcome::from)?;
        match posted.action {
            Some(action) => Ok((viewer, action)),
            None => Err(unknown_action()),
        }
    }

    /// `GET /admin/users/{id}`.
    pub async fn show_admin_user(&self, admin: &Admin, browser: &Browser, id: &str) -> Outcome {
        let viewer = match self.admin_at(browser, Section::Users).await {
            Ok(viewer) => viewer,
            Err(refusal) => return refusal.into(),
        };
        match admin.find_user(&UserId(id.to_owned())).await {
            Ok(user) => self.user_page(admin, &viewer, user, Said::default()).await,
            Err(AdminError::NotFound(_)) => viewer.missing(Missing::User),
            Err(e) => failed(e),
        }
    }

    async fn user_page(
        &self,
        admin: &Admin,
        viewer: &AdminViewer,
        user: User,
        said: Said,
    ) -> Outcome {
        let factors = match admin.user_factors(&user).await {
            Ok(factors) => factors,
            Err(e) => return failed(e),
        };
        let details = match admin.user_details(user).await {
            Ok(details) => details,
            Err(e) => return failed(e),
        };
        let held = match self
            .roles
            .permissions_of_user(&details.user.id, self.clock.now())
            .await
        {
            Ok(held) => held,
            Err(e) => return failed(e.into()),
        };
        let sessions = match self.sessions_of_user(&details.user, None).await {
            Ok(sessions) => sessions,
            Err(e) => return failed(e.into()),
        };
        let applications = match self.connected_applications(&details.user.id).await {
            Ok(applications) => applications,
            Err(e) => return failed(e.into()),
        };
        let count = |kind: FactorKind| factors.factors.iter().filter(|f| f.kind == kind).count();
        let user = &details.user;
        show(AdminView::User(Box::new(UserView {
            frame: viewer.frame(Section::Users),
            said,
            id: user.id.0.clone(),
            username: user.username.as_str().to_owned(),
            email: user.email.as_ref().map(|e| e.as_str().to_owned()),
            display_name: user.display_name.clone(),
            is_disabled: user.is_disabled,
            created_at: rfc3339(user.created_at),
            locked_until: details.locked_until.map(rfc3339),
            roles: details
                .roles
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            totp_factors: count(FactorKind::Totp),
            passkeys: count(FactorKind::Passkey),
            recovery_codes_left: factors.recovery_codes_left,
            may_write: viewer.may(Permission::UsersWrite),
            outranks_viewer: held.iter().any(|p| !viewer.may(*p)),
            may_read_roles: viewer.may(Permission::RolesRead),
            is_viewer: viewer.viewer.user.id == user.id,
            sessions,
            applications,
        })))
    }

    /// `POST /admin/users/{id}`: disable, enable, unlock, reset factors, sign out, delete.
    pub async fn admin_user_action(
        &self,
        admin: &Admin,
        browser: &Browser,
        id: &str,
        posted: Posted<UserAction>,
    ) -> Outcome {
        let (viewer, action) = match self.admin_posting(browser, Section::Users, posted).await {
            Ok(opened) => opened,
            Err(refused) => return refused,
        };
        let user = match admin.find_user(&UserId(id.to_owned())).await {
            Ok(user) => user,
            Err(AdminError::NotFound(_)) => return viewer.missing(Missing::User),
            Err(e) => return failed(e),
        };
        let target = crate::admin::users::target(&user.id);
        if let Err(refusal) = demand(
            admin,
            &viewer.caller,
            Permission::UsersWrite,
            action.audited_as(),
            &target,
        )
        .await
        {
            return refusal.into();
        }
        let caller = &viewer.caller;
        let done =
            match action {
                UserAction::Disable => admin
                    .set_user_disabled(caller, &user, true)
                    .await
                    .map(|_| AdminNotice::UserDisabled),
                UserAction::Enable => admin
                    .set_user_disabled(caller, &user, false)
                    .await
                    .map(|_| AdminNotice::UserEnabled),
                UserAction::Unlock => admin
                    .unlock_user(caller, &user)
                    .await
                    .map(|was_locked| AdminNotice::UserUnlocked { was_locked }),
                UserAction::ResetFactors => admin.reset_factors(caller, &user).await.map(|reset| {
                    AdminNotice::FactorsReset {
                        factors_deleted: reset.factors_deleted,
                    }
                }),
                UserAction::SignOut => admin
                    .sign_out_everywhere(caller, &user)
                    .await
                    .map(|_| AdminNotice::UserSignedOut),
                UserAction::Delete => {
                    admin
                        .delete_user(caller, &user)
                        .await
                        .map(|()| AdminNotice::UserDeleted {
                            username: user.username.as_str().to_owned(),
                        })
                }
            };
        let said = match done {
            Ok(notice @ AdminNotice::UserDeleted { .. }) => {
                return self
                    .users_page(
                        admin,
                        &viewer,
                        "",
                        1,
                        Said::notice(notice),
                        TypedUser::default(),
                    )
                    .await;
            }
            Ok(notice) => Said::notice(notice),
            Err(e) => match answer_to(e) {
                Ok(problem) => Said::problem(problem),
                Err(refusal) => return refusal.into(),
            },
        };
        match admin.find_user(&user.id).await {
            Ok(user) => self.user_page(admin, &viewer, user, said).await,
            Err(e) => failed(e),
        }
    }

    /// `GET /admin/clients`.
    pub async fn show_admin_clients(&self, admin: &Admin, browser: &Browser) -> Outcome {
        match self.admin_at(browser, Section::Clients).await {
            Ok(viewer) => {
                self.clients_page(
                    admin,
                    &viewer,
                    Said::default(),
                    None,
                    TypedClient::default(),
                )
                .await
            }
            Err(refusal) => refusal.into(),
        }
    }

    async fn clients_page(
        &self,
        admin: &Admin,
        viewer: &AdminViewer,
        said: Said,
        minted: Option<MintedInitialAccessToken>,
        typed: TypedClient,
    ) -> Outcome {
        let clients = match admin.list_clients().await {
            Ok(clients) => clients,
            Err(e) => return failed(e),
        };
        let tokens = match admin.list_initial_access_tokens().await {
            Ok(tokens) => tokens,
            Err(e) => return failed(e),
        };
        show(AdminView::Clients(Box::new(ClientsView {
            frame: viewer.frame(Section::Clients),
            said,
            clients: clients.iter().map(client_line).collect(),
            tokens: tokens.iter().map(token_line).collect(),
            minted: minted.map(|m| MintedToken {
                token: m.raw,
                expires_at: m.token.expires_at.map(rfc3339),
                max_uses: m.token.max_uses,
            }),
            may_write: viewer.may(Permission::ClientsWrite),
            typed,
        })))
    }

    /// `POST /admin/clients`: create a client, mint or revoke a registration token.
    pub async fn admin_clients_action(
        &self,
        admin: &Admin,
        browser: &Browser,
        posted: Posted<ClientsAction<'_>>,
    ) -> Outcome {
        let (viewer, action) = match self.admin_posting(browser, Section::Clients, posted).await {
            Ok(opened) => opened,
            Err(refused) => return refused,
        };
        let (audited_as, target) = match &action {
            ClientsAction::Create(_) => (Action::CreateClient, "client:new".to_owned()),
            ClientsAction::MintToken { .. } => (
                Action::CreateInitialAccessToken,
                "initial_access_token:new".to_owned(),
            ),
            ClientsAction::RevokeToken { id } => (
                Action::RevokeInitialAccessToken,
                crate::admin::initial_access_tokens::target(id),
            ),
        };
        if let Err(refusal) = demand(
            admin,
            &viewer.caller,
            Permission::ClientsWrite,
            audited_as,
            &target,
        )
        .await
        {
            return refusal.into();
        }
        let caller = &viewer.caller;
        match action {
            ClientsAction::Create(form) => {
                if !matches!(form.client_type, "public" | "confidential") {
                    let said = Said::problem(AdminProblem::BadClientType);
                    let typed = TypedClient::of_form(&form);
                    return self.clients_page(admin, &viewer, said, None, typed).await;
                }
                let metadata = new_client_metadata(&form);
                match admin.register_client(caller, &metadata).await {
                    Ok(registered) => client_page(
                        &viewer,
                        &registered.client,
                        registered.client_secret,
                        Said::notice(AdminNotice::ClientCreated),
                        None,
                    ),
                    Err(e) => match answer_to(e) {
                        Ok(problem) => {
                            let typed = TypedClient::of_form(&form);
                            self.clients_page(admin, &viewer, Said::problem(problem), None, typed)
                                .await
                        }
                        Err(refusal) => refusal.into(),
                    },
                }
            }
            ClientsAction::MintToken {
                expires_in_days,
                max_uses,
            } => {
                let Some((lifetime, max_uses)) = token_limits(expires_in_days, max_uses) else {
                    let said = Said::problem(AdminProblem::BadTokenLimits);
                    return self
                        .clients_page(admin, &viewer, said, None, TypedClient::default())
                        .await;
                };
                match admin
                    .mint_initial_access_token(caller, lifetime, max_uses)
                    .await
                {
                    Ok(minted) => {
                        let said = Said::notice(AdminNotice::TokenMinted);
                        self.clients_page(
                            admin,
                            &viewer,
                            said,
                            Some(minted),
                            TypedClient::default(),
                        )
                        .await
                    }
                    Err(e) => failed(e),
                }
            }
            ClientsAction::RevokeToken { id } => {
                let said = match admin.revoke_initial_access_token(caller, id).await {
                    Ok(()) => Said::notice(AdminNotice::TokenRevoked),
                    Err(AdminError::NotFound(_)) => {
                        return viewer.missing(Missing::RegistrationToken);
                    }
                    Err(e) => return failed(e),
                };
                self.clients_page(admin, &viewer, said, None, TypedClient::default())
                    .await
            }
        }
    }

    /// `GET /admin/clients/{id}`.
    pub async fn show_admin_client(&self, admin: &Admin, browser: &Browser, id: &str) -> Outcome {
        let viewer = match self.admin_at(browser, Section::Clients).await {
            Ok(viewer) => viewer,
            Err(refusal) => return refusal.into(),
        };
        match admin.find_client(id).await {
            Ok(client) => client_page(&viewer, &client, None, Said::default(), None),
            Err(AdminError::NotFound(_)) => viewer.missing(Missing::Client),
            Err(e) => failed(e),
        }
    }

    /// `POST /admin/clients/{id}`: edit, rotate the secret, remove.
    pub async fn admin_client_action(
        &self,
        admin: &Admin,
        browser: &Browser,
        id: &str,
        posted: Posted<ClientAction<'_>>,
    ) -> Outcome {
        let (viewer, action) = match self.admin_posting(browser, Section::Clients, posted).await {
            Ok(opened) => opened,
            Err(refused) => return refused,
        };
        let client = match admin.find_client(id).await {
            Ok(client) => client,
            Err(AdminError::NotFound(_)) => return viewer.missing(Missing::Client),
            Err(e) => return failed(e),
        };
        let audited_as = match &action {
            ClientAction::Update(_) => Action::UpdateClient,
            ClientAction::RotateSecret => Action::RotateClientSecret,
            ClientAction::Remove { .. } => Action::DeleteClient,
        };
        let target = crate::admin::clients::target(&client.id);
        if let Err(refusal) = demand(
            admin,
            &viewer.caller,
            Permission::ClientsWrite,
            audited_as,
            &target,
        )
        .await
        {
            return refusal.into();
        }
        let caller = &viewer.caller;
        let refused = |e: AdminError, typed: Option<TypedClient>| match answer_to(e) {
            Ok(problem) => client_page(&viewer, &client, None, Said::problem(problem), typed),
            Err(refusal) => refusal.into(),
        };
        match action {
            ClientAction::Update(form) => {
                let metadata = edited_metadata(&client, &form);
                match admin.update_client(caller, id, &metadata).await {
                    Ok(updated) => client_page(
                        &viewer,
                        &updated.client,
                        updated.client_secret,
                        Said::notice(AdminNotice::ClientUpdated),
                        None,
                    ),
                    Err(e) => refused(e, Some(TypedClient::of_form(&form))),
                }
            }
            ClientAction::RotateSecret => match admin.rotate_client_secret(caller, id).await {
                Ok(rotated) => client_page(
                    &viewer,
                    &rotated.client,
                    rotated.client_secret,
                    Said::notice(AdminNotice::SecretRotated),
                    None,
                ),
                Err(e) => refused(e, None),
            },
            ClientAction::Remove { confirmation } => {
                if confirmation.trim() != client.id.0 {
                    let said = Said::problem(AdminProblem::ConfirmationMismatch);
                    return client_page(&viewer, &client, None, said, None);
                }
                match admin.remove_client(caller, id).await {
                    Ok(()) => {
                        let said = Said::notice(AdminNotice::ClientRemoved {
                            client_id: client.id.0.clone(),
                        });
                        self.clients_page(admin, &viewer, said, None, TypedClient::default())
                            .await
                    }
                    Err(e) => refused(e, None),
                }
            }
        }
    }
}

fn user_line(user: &User) -> UserLine {
    UserLine {
        id: user.id.0.clone(),
        username: user.username.as_str().to_owned(),
        email: user.email.as_ref().map(|e| e.as_str().to_owned()),
        display_name: user.display_name.clone(),
        is_disabled: user.is_disabled,
        created_at: rfc3339(user.created_at),
    }
}

fn client_line(client: &Client) -> ClientLine {
    ClientLine {
        id: client.id.0.clone(),
        name: client.name.clone(),
        is_public: client.token_endpoint_auth_method == TokenEndpointAuthMethod::None,
        grant_types: client
            .grant_types
            .iter()
            .map(|g| g.as_str().to_owned())
            .collect(),
        created_at: rfc3339(client.created_at),
    }
}

fn client_page(
    viewer: &AdminViewer,
    client: &Client,
    secret: Option<String>,
    said: Said,
    typed: Option<TypedClient>,
) -> Outcome {
    show(AdminView::Client(Box::new(ClientView {
        frame: viewer.frame(Section::Clients),
        said,
        id: client.id.0.clone(),
        name: client.name.clone(),
        is_public: client.token_endpoint_auth_method == TokenEndpointAuthMethod::None,
        auth_method: client.token_endpoint_auth_method.as_str().to_owned(),
        uses_secret: client.token_endpoint_auth_method.uses_secret(),
        created_at: rfc3339(client.created_at),
        registered_dynamically: client.registration_access_token_hash.is_some(),
        secret,
        may_write: viewer.may(Permission::ClientsWrite),
        outranks_viewer: client
            .scopes
            .iter()
            .filter_map(|s| Permission::from_scope(s))
            .any(|p| !viewer.may(p)),
        typed: typed.unwrap_or_else(|| TypedClient::of_client(client)),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interaction::RefusalStatus;
    use crate::test_server::TestServer;
    use palisade_core::model::{AuditOutcome, AuditQuery, Role, RoleName};

    /// A browser holding a session of `user` signed in with `amr`.
    async fn signed_in(server: &TestServer, user: &User, amr: &[&str]) -> (Browser, String) {
        let (raw, session) = server
            .engine
            .start_session(
                user,
                amr.iter().map(|m| (*m).to_owned()).collect(),
                &Browser::default(),
            )
            .await
            .unwrap();
        let browser = Browser {
            binding: None,
            session: Some(raw),
            client_ip: None,
            user_agent: None,
        };
        (browser, session.csrf_token)
    }

    async fn holding(
        server: &TestServer,
        name: &str,
        role: &str,
        permissions: &[Permission],
    ) -> User {
        let user = server.user(name).await;
        let role = RoleName::parse(role).unwrap();
        let roles = &server.engine.roles;
        if roles.find_role(&role).await.unwrap().is_none() {
            roles
                .insert_role(Role {
                    name: role.clone(),
                    description: None,
                    require_mfa: false,
                })
                .await
                .unwrap();
            for p in permissions {
                roles.grant_permission(&role, *p).await.unwrap();
            }
        }
        roles.grant_role(&role, &user.id).await.unwrap();
        user
    }

    fn refused_with(outcome: &Outcome, status: RefusalStatus, code: ErrorCode) {
        match &outcome.step {
            Step::Refuse(refusal) => {
                assert_eq!(refusal.status, status, "{refusal:?}");
                assert_eq!(refusal.error.code, code, "{refusal:?}");
            }
            other => panic!("not refused: {other:?}"),
        }
    }

    fn shown(outcome: Outcome) -> AdminView {
        match outcome.step {
            Step::Show(View::Admin(view)) => view,
            other => panic!("no admin page: {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_console_needs_an_administrative_role_and_by_default_a_second_factor() {
        let mut server = TestServer::start().await;
        let all = Permission::ALL;
        let root = holding(&server, "root", "console-admin", &all).await;
        let nobody = server.user("nobody").await;
        let (password_only, _) = signed_in(&server, &root, &["pwd"]).await;
        let (with_factor, _) = signed_in(&server, &root, &["pwd", "otp", "mfa"]).await;
        let (no_role, _) = signed_in(&server, &nobody, &["pwd", "otp", "mfa"]).await;

        let refusal = server.engine.admin_viewer(&no_role).await.unwrap_err();
        assert_eq!(refusal.status, RefusalStatus::Forbidden);
        let refusal = server
            .engine
            .admin_viewer(&password_only)
            .await
            .unwrap_err();
        // Sent through the console's sign-in to step up with a second factor.
        assert_eq!(
            refusal.status,
            RefusalStatus::SignInFirst {
                second_factor: true
            }
        );
        let viewer = server.engine.admin_viewer(&with_factor).await.unwrap();
        assert_eq!(viewer.first_section(), Some(Section::Users));
        assert_eq!(viewer.frame(Section::Users).nav, Section::ADMIN.to_vec());

        server.engine.policy.admin_console_requires_mfa = false;
        assert!(server.engine.admin_viewer(&password_only).await.is_ok());
        // Disabled since: the session no longer stands, whatever its factors.
        let admin = server.admin.clone();
        admin
            .set_user_disabled(&Caller::operator(), &root, true)
            .await
            .unwrap();
        assert!(server.engine.admin_viewer(&with_factor).await.is_err());
    }

    #[tokio::test]
    async fn a_reader_is_refused_each_action_with_an_audited_403_and_nothing_changes() {
        let server = TestServer::start().await;
        let admin = &server.admin;
        let reader = holding(
            &server,
            "reader",
            "reader",
            &[Permission::UsersRead, Permission::ClientsRead],
        )
        .await;
        let bob = server.user("bob").await;
        let (browser, csrf) = signed_in(&server, &reader, &["pwd", "otp", "mfa"]).await;

        let AdminView::User(page) = shown(
            server
                .engine
                .show_admin_user(admin, &browser, &bob.id.0)
                .await,
        ) else {
            panic!("not the user page")
        };
        assert!(!page.may_write && !page.may_read_roles);
        assert_eq!(page.frame.nav, vec![Section::Users, Section::Clients]);

        for action in [
            UserAction::Disable,
            UserAction::Delete,
            UserAction::ResetFactors,
        ] {
            let posted = Posted {
                csrf_token: Some(csrf.clone()),
                action: Some(action),
            };
            let outcome = server
                .engine
                .admin_user_action(admin, &browser, &bob.id.0, posted)
                .await;
            refused_with(&outcome, RefusalStatus::Forbidden, ErrorCode::AccessDenied);
        }
        let created = server
            .engine
            .admin_create_user(
                admin,
                &browser,
                Some(&csrf),
                NewUserForm {
                    username: "mallory",
                    email: "",
                    display_name: "",
                    password: crate::test_server::PASSWORD,
                },
            )
            .await;
        refused_with(&created, RefusalStatus::Forbidden, ErrorCode::AccessDenied);
        let stored = admin.find_user(&bob.id).await.unwrap();
        assert!(!stored.is_disabled);
        assert!(admin.find_user_by_username("mallory").await.is_err());
        let refusals = admin
            .auditor()
            .query(AuditQuery {
                actor: Some(format!("user:{}", reader.id)),
                target: None,
                action: None,
                since: None,
                until: None,
                limit: 10,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(refusals.len(), 4, "{refusals:?}");
        assert!(refusals.iter().all(|e| e.outcome == AuditOutcome::Failure));

        // A page the reader may not open at all, by its URL.
        let keys_only = holding(&server, "keeper", "key-reader", &[Permission::KeysRead]).await;
        let (keeper, _) = signed_in(&server, &keys_only, &["pwd", "otp", "mfa"]).await;
        let outcome = server.engine.show_admin_clients(admin, &keeper).await;
        refused_with(&outcome, RefusalStatus::Forbidden, ErrorCode::AccessDenied);
    }

    #[tokio::test]
    async fn a_post_without_the_session_s_token_or_for_an_unknown_user_changes_nothing() {
        let server = TestServer::start().await;
        let admin = &server.admin;
        let root = holding(&server, "root", "console-admin", &Permission::ALL).await;
        let bob = server.user("bob").await;
        let (browser, csrf) = signed_in(&server, &root, &["pwd", "otp", "mfa"]).await;
        for token in [None, Some("forged".to_owned())] {
            let posted = Posted {
                csrf_token: token,
                action: Some(UserAction::Disable),
            };
            let outcome = server
                .engine
                .admin_user_action(admin, &browser, &bob.id.0, posted)
                .await;
            refused_with(&outcome, RefusalStatus::Forbidden, ErrorCode::AccessDenied);
        }
        assert!(!admin.find_user(&bob.id).await.unwrap().is_disabled);
        let posted = Posted {
            csrf_token: Some(csrf.clone()),
            action: Some(UserAction::Disable),
        };
        let outcome = server
            .engine
            .admin_user_action(admin, &browser, "no-such-user", posted)
            .await;
        assert!(matches!(shown(outcome), AdminView::Missing(_)));
        let posted = Posted {
            csrf_token: Some(csrf),
            action: Some(UserAction::Disable),
        };
        let outcome = server
            .engine
            .admin_user_action(admin, &browser, &bob.id.0, posted)
            .await;
        let AdminView::User(page) = shown(outcome) else {
            panic!("not the user page")
        };
        assert_eq!(page.said.notice, Some(AdminNotice::UserDisabled));
        assert!(page.is_disabled);
    }

    #[test]
    fn a_page_number_is_a_whole_number_from_one_and_blank_is_the_first() {
        assert_eq!(page_number(None).ok(), Some(1));
        assert_eq!(page_number(Some(" ")).ok(), Some(1));
        assert_eq!(page_number(Some("3")).ok(), Some(3));
        for wrong in ["0", "-1", "x", "1.5", "99999999999", "1000001"] {
            assert!(page_number(Some(wrong)).is_err(), "{wrong}");
        }
    }

    #[test]
    fn registration_token_limits_are_blank_or_in_range() {
        assert_eq!(token_limits("", ""), Some((None, None)));
        assert_eq!(
            token_limits("7", "3"),
            Some((Some(chrono::Duration::days(7)), Some(3)))
        );
        for (days, uses) in [
            ("0", ""),
            ("-2", ""),
            ("3651", ""),
            ("x", ""),
            ("", "0"),
            ("", "-1"),
            ("", "y"),
        ] {
            assert_eq!(token_limits(days, uses), None, "{days} {uses}");
        }
    }

    #[test]
    fn the_create_form_makes_a_public_client_authenticate_with_nothing() {
        let form = ClientForm {
            name: " Shop ",
            client_type: "public",
            redirect_uris: "https://a.example/cb\r\n\r\n  https://b.example/cb ",
            scope: " openid ",
            grant_types: vec!["authorization_code"],
        };
        let metadata = new_client_metadata(&form);
        assert_eq!(metadata["token_endpoint_auth_method"], "none");
        assert_eq!(
            metadata["redirect_uris"],
            json!(["https://a.example/cb", "https://b.example/cb"])
        );
        assert_eq!(metadata["client_name"], "Shop");
        assert_eq!(metadata["scope"], "openid");
        let confidential = new_client_metadata(&ClientForm {
            client_type: "confidential",
            ..form
        });
        assert_eq!(
            confidential["token_endpoint_auth_method"],
            "client_secret_basic"
        );
    }
}
