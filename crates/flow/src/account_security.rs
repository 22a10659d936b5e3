//! The account console's security page (`/account/security`): the password (changed by
//! [`crate::console::account`]'s rules) and the user's own factors: list, add (a TOTP app or a
//! passkey), rename, remove, and new recovery codes.
//!
//! Every form carries the session's CSRF token. Removing a factor and replacing the recovery
//! codes weaken or reset what protects the account, so each needs a fresh proof that the
//! person at the keyboard is the user (the password, or a code from a factor), checked under
//! the same limits and lock as a sign-in; a session alone (a borrowed laptop) is not enough.
//! Removing a factor then ends every session and grant of the user, as a password change does
//! (docs/security.md "Account events"), and a user whom policy requires to have a factor
//! cannot remove the last one.

use crate::console::Section;
use crate::console::account::{PasswordChanged, PasswordProblem};
use crate::guard::AttemptContext;
use crate::interaction::{
    AccountAction, AccountSecurityView, AccountSubmission, Browser, EnrolmentAnswer, FactorAnswer,
    FactorLine, Outcome, Reauthentication, RecoveryCodesView, Refusal, SecurityMessage, Step,
    TotpSetup, View,
};
use crate::login::CredentialCheck;
use crate::mfa::check::{Attempt, FactorCheck};
use crate::server::AuthorizationServer;
use crate::session::BrowserSession;
use palisade_core::factor::{FactorId, FactorKind, MAX_FACTOR_NAME_CHARS};
use palisade_core::model::User;
use palisade_core::{ErrorCode, OAuthError};

/// What the page says after an action.
#[derive(Debug, Default)]
struct PageState {
    notice: Option<SecurityMessage>,
    problem: Option<SecurityMessage>,
    totp: Option<TotpSetup>,
    password_changed: bool,
    password_problem: Option<PasswordProblem>,
}

impl PageState {
    fn notice(message: SecurityMessage) -> Self {
        Self {
            notice: Some(message),
            ..Self::default()
        }
    }

    fn problem(message: SecurityMessage) -> Self {
        Self {
            problem: Some(message),
            ..Self::default()
        }
    }
}

/// Who is at the page: the console's signed-in viewer.
type AccountHolder = crate::console::Viewer;

/// Adding a factor needs a sign-in this recent: a factor outlives the session (a passkey signs
/// in on its own), so a session found unlocked on a borrowed computer must not be turned into
/// a lasting way in.
const ADD_FACTOR_WITHIN: chrono::Duration = chrono::Duration::minutes(15);

impl AuthorizationServer {
    /// `GET /account/security`.
    pub async fn show_account_security(&self, browser: &Browser) -> Outcome {
        match self.account_holder(browser).await {
            Ok(holder) => self.account_page(&holder, PageState::default()).await,
            Err(refusal) => refusal.into(),
        }
    }

    /// `POST /account/security`.
    pub async fn account_security_action(
        &self,
        form: AccountSubmission<'_>,
        browser: &Browser,
    ) -> Outcome {
        let holder = match self.account_holder(browser).await {
            Ok(holder) => holder,
            Err(refusal) => return refusal.into(),
        };
        if !crate::interaction::csrf_matches(&holder.session.csrf_token, form.csrf_token) {
            return crate::interaction::forged_form().into();
        }
        let context = AttemptContext {
            client_ip: browser.client_ip,
            client_id: None,
        };
        let state = match self.act(&holder, form.action, &context).await {
            Ok(Acted::Page(state)) => state,
            Ok(Acted::Show(outcome)) => return *outcome,
            Err(error) => return Refusal::page(error).into(),
        };
        self.account_page(&holder, state).await
    }

    async fn act(
        &self,
        holder: &AccountHolder,
        action: AccountAction<'_>,
        context: &AttemptContext,
    ) -> Result<Acted, OAuthError> {
        let user = &holder.user;
        let keep = self.ceremony_keep();
        let adds = matches!(
            action,
            AccountAction::StartTotp
                | AccountAction::ConfirmTotp { .. }
                | AccountAction::AddPasskey { .. }
        );
        let signed_in_for = self.clock.now().timestamp() - holder.session.auth_time;
        if adds && signed_in_for > ADD_FACTOR_WITHIN.num_seconds() {
            return Ok(Acted::Page(PageState::problem(
                SecurityMessage::StaleSignIn,
            )));
        }
        Ok(match action {
            AccountAction::StartTotp => Acted::Page(PageState {
                totp: Some(self.totp_setup(&holder.raw_session, user, keep).await?),
                ..PageState::default()
            }),
            AccountAction::ConfirmTotp { code, name } => {
                let answer = EnrolmentAnswer::Totp { code, name };
                match self
                    .prove_enrolment(&holder.raw_session, user, answer)
                    .await?
                {
                    Some(proved) => {
                        self.enrolled(holder, proved.factor, SecurityMessage::TotpAdded)
                            .await?
                    }
                    None => Acted::Page(PageState {
                        problem: Some(SecurityMessage::WrongTotpCode),
                        totp: Some(self.totp_setup(&holder.raw_session, user, keep).await?),
                        ..PageState::default()
                    }),
                }
            }
            AccountAction::AddPasskey { credential, name } => {
                let answer = EnrolmentAnswer::Passkey { credential, name };
                match self
                    .prove_enrolment(&holder.raw_session, user, answer)
                    .await?
                {
                    Some(proved) => {
                        self.enrolled(holder, proved.factor, SecurityMessage::PasskeyAdded)
                            .await?
                    }
                    None => Acted::Page(PageState::problem(SecurityMessage::PasskeyNotRegistered)),
                }
            }
            AccountAction::Rename { factor_id, name } => {
                let name: String = name.trim().chars().take(MAX_FACTOR_NAME_CHARS).collect();
                if name.is_empty() || name.chars().any(char::is_control) {
                    return Ok(Acted::Page(PageState::problem(
                        SecurityMessage::NameMissing,
                    )));
                }
                let id = FactorId(factor_id.to_owned());
                if self.factors.rename_factor(&user.id, &id, &name).await? {
                    self.record_factor_event(
                        user,
                        "factor.rename",
                        Some(serde_json::json!({ "factor_id": id.0 })),
                    )
                    .await;
                    Acted::Page(PageState::notice(SecurityMessage::Renamed))
                } else {
                    Acted::Page(PageState::problem(SecurityMessage::NoSuchFactor))
                }
            }
            AccountAction::Remove { factor_id, proof } => {
                if let Some(problem) = self.reauthenticate(user, proof, context).await? {
                    return Ok(Acted::Page(problem));
                }
                self.remove_factor(holder, FactorId(factor_id.to_owned()))
                    .await?
            }
            AccountAction::RegenerateRecoveryCodes { proof } => {
                if let Some(problem) = self.reauthenticate(user, proof, context).await? {
                    return Ok(Acted::Page(problem));
                }
                if self.factors.list_factors(&user.id).await?.is_empty() {
                    return Ok(Acted::Page(PageState::problem(
                        SecurityMessage::RecoveryCodesNeedAFactor,
                    )));
                }
                let codes = self.new_recovery_codes(user).await?;
                Acted::Show(Box::new(recovery_codes_page(codes, &holder.session)))
            }
            AccountAction::ChangePassword(change) => {
                match self.change_password(holder, change, context).await? {
                    Ok(changed) => {
                        Acted::Show(Box::new(self.password_changed(holder, changed).await?))
                    }
                    Err(problem) => Acted::Page(PageState {
                        password_problem: Some(problem),
                        ..PageState::default()
                    }),
                }
            }
            AccountAction::Unknown => {
                Acted::Page(PageState::problem(SecurityMessage::UnknownAction))
            }
        })
    }

    /// The page after a password change, in the fresh session that keeps this browser signed
    /// in (its cookie replaces the old one, which no longer works).
    async fn password_changed(
        &self,
        holder: &AccountHolder,
        changed: PasswordChanged,
    ) -> Result<Outcome, OAuthError> {
        let user = self
            .users
            .find_user_by_id(&holder.user.id)
            .await?
            .ok_or_else(|| OAuthError::server_error("the user is gone"))?;
        let renewed = AccountHolder {
            user,
            session: changed.session,
            raw_session: changed.raw_session.clone(),
            browser: holder.browser.clone(),
        };
        let mut outcome = self
            .account_page(
                &renewed,
                PageState {
                    password_changed: true,
                    ..PageState::default()
                },
            )
            .await;
        outcome.cookies.session = Some(changed.raw_session);
        Ok(outcome)
    }

    /// A factor was added: the first one comes with recovery codes, shown once.
    async fn enrolled(
        &self,
        holder: &AccountHolder,
        factor: palisade_core::factor::Factor,
        notice: SecurityMessage,
    ) -> Result<Acted, OAuthError> {
        let codes = self
            .store_enrolment(&holder.user, factor, "account")
            .await?;
        Ok(if codes.is_empty() {
            Acted::Page(PageState::notice(notice))
        } else {
            Acted::Show(Box::new(recovery_codes_page(codes, &holder.session)))
        })
    }

    async fn remove_factor(
        &self,
        holder: &AccountHolder,
        id: FactorId,
    ) -> Result<Acted, OAuthError> {
        let user = &holder.user;
        let factors = self.factors.list_factors(&user.id).await?;
        if !factors.iter().any(|f| f.id == id) {
            return Ok(Acted::Page(PageState::problem(
                SecurityMessage::NoSuchFactor,
            )));
        }
        let keep_one = self.must_keep_a_factor(user).await?;
        if factors.len() == 1 && keep_one {
            return Ok(Acted::Page(PageState::problem(
                SecurityMessage::MustKeepAFactor,
            )));
        }
        // The store checks again, atomically: another removal may have run since the list.
        if !self.factors.delete_factor(&user.id, &id, keep_one).await? {
            return Ok(Acted::Page(PageState::problem(if keep_one {
                SecurityMessage::MustKeepAFactor
            } else {
                SecurityMessage::NoSuchFactor
            })));
        }
        let now = self.clock.now();
        let families = crate::account_events::end_every_session(
            self.users.as_ref(),
            self.refresh_tokens.as_ref(),
            &user.id,
            now,
        )
        .await?;
        self.record_factor_event(
            user,
            "factor.remove",
            Some(serde_json::json!({ "factor_id": id.0, "families_revoked": families })),
        )
        .await;
        let _ = self.end_session(&holder.raw_session).await;
        let mut outcome = Outcome::from(Refusal::page(OAuthError::new(
            ErrorCode::LoginRequired,
            "the factor was removed, and you were signed out everywhere; sign in again",
        )));
        outcome.cookies.clear_session = true;
        Ok(Acted::Show(Box::new(outcome)))
    }

    /// `None` when `proof` shows the user is at the keyboard; else what the page says.
    async fn reauthenticate(
        &self,
        user: &User,
        proof: Reauthentication<'_>,
        context: &AttemptContext,
    ) -> Result<Option<PageState>, OAuthError> {
        let passed = match proof {
            Reauthentication::Missing => false,
            Reauthentication::Password(password) => {
                match self
                    .check_credentials(user.username.as_str(), &password, context)
                    .await?
                {
                    CredentialCheck::Valid { user: checked, .. } => checked.id == user.id,
                    CredentialCheck::Invalid => false,
                    CredentialCheck::Throttled(throttled) => {
                        return Ok(Some(PageState::problem(SecurityMessage::Throttled {
                            minutes: throttled.retry_after_minutes(),
                        })));
                    }
                    CredentialCheck::Busy { .. } => {
                        return Ok(Some(PageState::problem(SecurityMessage::Busy)));
                    }
                }
            }
            Reauthentication::Code(code) => {
                let digits = code.chars().filter(|c| !c.is_whitespace()).count() == 6;
                let answer = if digits {
                    FactorAnswer::Totp(code)
                } else {
                    FactorAnswer::RecoveryCode(code)
                };
                match self
                    .check_factor(
                        user,
                        Attempt::Factor(answer),
                        "",
                        "account.reauthenticate",
                        context,
                    )
                    .await?
                {
                    FactorCheck::Passed { .. } => true,
                    FactorCheck::Failed => false,
                    FactorCheck::Throttled(throttled) => {
                        return Ok(Some(PageState::problem(SecurityMessage::Throttled {
                            minutes: throttled.retry_after_minutes(),
                        })));
                    }
                }
            }
        };
        Ok((!passed).then(|| PageState::problem(SecurityMessage::NotYou)))
    }

    /// How long a ceremony begun on the account page (a TOTP secret to scan, a passkey
    /// challenge) is kept: as long as a sign-in's interaction.
    fn ceremony_keep(&self) -> std::time::Duration {
        crate::server::ttl(self.policy.interaction_ttl)
    }

    /// Whether policy requires this user to have a factor whatever client they sign in to
    /// (the server's rule or one of their roles).
    async fn must_keep_a_factor(&self, user: &User) -> Result<bool, OAuthError> {
        Ok(self.policy.mfa_required
            || self
                .roles
                .roles_require_mfa(&user.id, self.clock.now())
                .await?)
    }

    /// The signed-in user behind the browser's session, or the page that says to sign in.
    async fn account_holder(&self, browser: &Browser) -> Result<AccountHolder, Refusal> {
        self.console_viewer(browser).await
    }

    async fn account_page(&self, holder: &AccountHolder, state: PageState) -> Outcome {
        let user = &holder.user;
        let page = async {
            let factors = self.factors.list_factors(&user.id).await?;
            let recovery_codes_left = self.factors.remaining_recovery_codes(&user.id).await?;
            let keep = self.ceremony_keep();
            let passkey_creation = self
                .passkey_creation(&holder.raw_session, user, keep)
                .await?;
            let must_keep_a_factor = self.must_keep_a_factor(user).await?;
            Ok::<_, OAuthError>(AccountSecurityView {
                frame: self.account_frame(holder, Section::Security).await?,
                csrf_token: holder.session.csrf_token.clone(),
                factors: factors
                    .iter()
                    .map(|f| FactorLine {
                        id: f.id.0.clone(),
                        kind: match f.kind {
                            FactorKind::Totp => "totp",
                            FactorKind::Passkey => "passkey",
                        },
                        name: f.name.clone(),
                        created_at: f.created_at.to_rfc3339(),
                        last_used_at: f.last_used_at.map(|t| t.to_rfc3339()),
                    })
                    .collect(),
                recovery_codes_left,
                totp: state.totp,
                passkey_creation,
                notice: state.notice,
                problem: state.problem,
                must_keep_a_factor,
                password_changed: state.password_changed,
                password_problem: state.password_problem,
            })
        };
        match page.await {
            Ok(view) => Step::Show(View::AccountSecurity(view)).into(),
            Err(error) => Refusal::page(error).into(),
        }
    }
}

/// What an action led to: the account page with a message, or another page.
enum Acted {
    Page(PageState),
    Show(Box<Outcome>),
}

fn recovery_codes_page(codes: Vec<String>, session: &BrowserSession) -> Outcome {
    Step::Show(View::RecoveryCodes(RecoveryCodesView {
        codes,
        csrf_token: session.csrf_token.clone(),
        step_id: None,
    }))
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mfa::totp::{TotpSecret, code_at, scanned};
    use crate::test_server::{PASSWORD, TestServer};
    use palisade_core::Secret;

    async fn signed_in(server: &TestServer, user: &User) -> (Browser, String) {
        let (raw, session) = server
            .engine
            .start_session(user, vec!["pwd".into()], &Browser::default())
            .await
            .unwrap();
        let browser = Browser {
            binding: Some("b".into()),
            session: Some(raw),
            client_ip: Some("198.51.100.4".parse().unwrap()),
            user_agent: None,
        };
        (browser, session.csrf_token)
    }

    async fn act(
        server: &TestServer,
        b: &Browser,
        csrf: &str,
        action: AccountAction<'_>,
    ) -> Outcome {
        server
            .engine
            .account_security_action(
                AccountSubmission {
                    csrf_token: Some(csrf),
                    action,
                },
                b,
            )
            .await
    }

    fn page(outcome: &Outcome) -> &AccountSecurityView {
        match &outcome.step {
            Step::Show(View::AccountSecurity(view)) => view,
            other => panic!("expected the account page, got {other:?}"),
        }
    }

    /// Sets up a TOTP app on the account page; returns its secret and the outcome.
    async fn add_totp(server: &TestServer, b: &Browser, csrf: &str) -> (TotpSecret, Outcome) {
        let started = act(server, b, csrf, AccountAction::StartTotp).await;
        let shown = page(&started).totp.clone().expect("a secret to scan");
        let secret = scanned(&shown);
        let code = code_at(&secret, server.engine.clock.now().timestamp());
        let confirmed = act(
            server,
            b,
            csrf,
            AccountAction::ConfirmTotp {
                code: &code,
                name: Some("Phone"),
            },
        )
        .await;
        (secret, confirmed)
    }

    #[tokio::test]
    async fn the_page_needs_a_session_and_its_forms_the_session_csrf_token() {
        let server = TestServer::start().await;
        let alice = server.user("alice").await;
        let nobody = Browser::default();
        let refused = server.engine.show_account_security(&nobody).await;
        assert!(
            matches!(&refused.step, Step::Refuse(r) if r.error.code == ErrorCode::LoginRequired)
        );
        let (b, _) = signed_in(&server, &alice).await;
        let forged = act(&server, &b, "not-the-token", AccountAction::StartTotp).await;
        assert!(
            matches!(&forged.step, Step::Refuse(r) if r.status == crate::interaction::RefusalStatus::Forbidden)
        );
        assert!(
            server
                .engine
                .factors
                .list_factors(&alice.id)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_first_factor_comes_with_recovery_codes_and_removing_one_needs_a_fresh_proof() {
        let server = TestServer::start().await;
        let alice = server.user("alice").await;
        let (b, csrf) = signed_in(&server, &alice).await;
        let (_, confirmed) = add_totp(&server, &b, &csrf).await;
        let Step::Show(View::RecoveryCodes(codes)) = &confirmed.step else {
            panic!("expected the recovery codes, got {confirmed:?}");
        };
        assert_eq!(codes.codes.len(), 10);
        assert!(codes.step_id.is_none());
        let factors = server.engine.factors.list_factors(&alice.id).await.unwrap();
        assert_eq!((factors.len(), factors[0].name.as_str()), (1, "Phone"));

        let id = factors[0].id.0.clone();
        for proof in [
            Reauthentication::Missing,
            Reauthentication::Password(Secret::new("not the password")),
            Reauthentication::Code("000000"),
        ] {
            let refused = act(
                &server,
                &b,
                &csrf,
                AccountAction::Remove {
                    factor_id: &id,
                    proof,
                },
            )
            .await;
            assert_eq!(page(&refused).problem, Some(SecurityMessage::NotYou));
        }
        assert_eq!(
            server
                .engine
                .factors
                .list_factors(&alice.id)
                .await
                .unwrap()
                .len(),
            1
        );

        // A recovery code is a proof too, and a new set can be had with the password.
        let regenerated = act(
            &server,
            &b,
            &csrf,
            AccountAction::RegenerateRecoveryCodes {
                proof: Reauthentication::Code(&codes.codes[0]),
            },
        )
        .await;
        assert!(matches!(
            regenerated.step,
            Step::Show(View::RecoveryCodes(_))
        ));

        let removed = act(
            &server,
            &b,
            &csrf,
            AccountAction::Remove {
                factor_id: &id,
                proof: Reauthentication::Password(Secret::new(PASSWORD)),
            },
        )
        .await;
        assert!(removed.cookies.clear_session, "signed out everywhere");
        assert!(
            server
                .engine
                .factors
                .list_factors(&alice.id)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            server
                .engine
                .factors
                .remaining_recovery_codes(&alice.id)
                .await
                .unwrap(),
            0
        );
        let after = server.engine.show_account_security(&b).await;
        assert!(matches!(after.step, Step::Refuse(_)), "the session ended");
    }

    #[tokio::test]
    async fn the_last_factor_of_a_user_who_must_have_one_stays() {
        let server = TestServer::start().await;
        let alice = server.user("alice").await;
        server.grant_role_requiring_mfa(&alice, "treasury").await;
        let (b, csrf) = signed_in(&server, &alice).await;
        add_totp(&server, &b, &csrf).await;
        let shown = server.engine.show_account_security(&b).await;
        assert!(page(&shown).must_keep_a_factor);
        let id = page(&shown).factors[0].id.clone();
        let refused = act(
            &server,
            &b,
            &csrf,
            AccountAction::Remove {
                factor_id: &id,
                proof: Reauthentication::Password(Secret::new(PASSWORD)),
            },
        )
        .await;
        assert_eq!(
            page(&refused).problem,
            Some(SecurityMessage::MustKeepAFactor)
        );
        assert_eq!(
            server
                .engine
                .factors
                .list_factors(&alice.id)
                .await
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn adding_a_factor_needs_a_recent_sign_in() {
        let server = TestServer::start().await;
        let alice = server.user("alice").await;
        let (b, csrf) = signed_in(&server, &alice).await;
        server.clock.advance(chrono::Duration::minutes(16));
        let refused = act(&server, &b, &csrf, AccountAction::StartTotp).await;
        assert_eq!(page(&refused).problem, Some(SecurityMessage::StaleSignIn));
        assert!(page(&refused).totp.is_none());
    }
}
