//! Enrolment during a sign-in, when the user must have a second factor and has none (the
//! server, a role, the client or an essential `acr` claim requires one): set up a TOTP app (a
//! first valid code proves it is set up right) or register a passkey; then the recovery codes
//! are shown once and the sign-in goes on at two factors.
//!
//! The TOTP secret being set up and the passkey ceremony belong to the step, in the ephemeral
//! store: the secret sealed under the master key, so no store holds it readable.

use super::sign_in::{ceremony_key, with_factor};
use super::{
    Browser, EnrolmentAnswer, EnrolmentSubmission, EnrolmentView, FactorProblem, Outcome,
    PendingStep, RecoveryCodesView, Refusal, Step, StepSubmission, TotpSetup, View, step_gone,
};
use crate::mfa::check::key_amr;
use crate::mfa::recovery;
use crate::mfa::totp::{SEAL_PURPOSE, TotpSecret};
use crate::server::AuthorizationServer;
use palisade_core::OAuthError;
use palisade_core::StoreError;
use palisade_core::factor::{Factor, FactorId, FactorKind, MAX_FACTOR_NAME_CHARS};
use palisade_core::model::User;
use palisade_core::ports::TAKEN_CREDENTIAL_ID;

const TOTP_SETUP: &str = "totp-setup";
const REGISTRATION_CEREMONY: &str = "passkey-registration";

/// A new factor, proved, ready to store.
pub(crate) struct ProvedEnrolment {
    pub factor: Factor,
    /// Its RFC 8176 method.
    pub amr: &'static str,
}

impl AuthorizationServer {
    /// `GET /login/enrol`.
    pub async fn show_enrolment(&self, step_id: Option<&str>, browser: &Browser) -> Outcome {
        let step = match self.open_step(step_id, browser).await {
            Ok(step) => step,
            Err(refusal) => return refusal.into(),
        };
        match self.enrolling_user(&step).await {
            Ok(Some(user)) => self.enrolment_form(&step, &user, None).await,
            Ok(None) => step_gone().into(),
            Err(refusal) => refusal.into(),
        }
    }

    /// The user of a step that was sent to enrol and has not yet: a step at another page, or a
    /// user who has a factor by now, has nothing to enrol here (they prove the factor they
    /// have on the second-factor page).
    async fn enrolling_user(&self, step: &PendingStep) -> Result<Option<User>, Refusal> {
        let sent_to_enrol = step
            .interaction
            .pending
            .as_ref()
            .is_some_and(|p| p.enrolment && !p.complete);
        if !sent_to_enrol {
            return Ok(None);
        }
        let Some(user) = self.user_of_step(step).await? else {
            return Ok(None);
        };
        match self.factors.list_factors(&user.id).await {
            Ok(factors) if factors.is_empty() => Ok(Some(user)),
            Ok(_) => Ok(None),
            Err(e) => Err(Refusal::page(e.into())),
        }
    }

    /// `POST /login/enrol`: a first code from the new TOTP app, or a passkey registration.
    /// A wrong code puts the step back; it is not counted as a failed sign-in (the user chose
    /// nothing secret yet: the secret is the one on the page).
    pub async fn submit_enrolment(
        &self,
        form: EnrolmentSubmission<'_>,
        browser: &Browser,
    ) -> Outcome {
        let step = match self
            .spend_step(form.step_id, form.csrf_token, browser)
            .await
        {
            Ok(step) => step,
            Err(refusal) => return refusal.into(),
        };
        let (user, mut pending) =
            match (self.enrolling_user(&step).await, &step.interaction.pending) {
                (Ok(Some(user)), Some(pending)) => (user, pending.clone()),
                (Ok(_), _) => return step_gone().into(),
                (Err(refusal), _) => return refusal.into(),
            };
        let enrolled = match self.prove_enrolment(&step.id, &user, form.answer).await {
            Ok(Some(enrolled)) => enrolled,
            Ok(None) => {
                if let Err(error) = self.put_step(&step).await {
                    return Refusal::page(error).into();
                }
                return self
                    .enrolment_form(&step, &user, Some(FactorProblem::InvalidCode))
                    .await;
            }
            Err(error) => {
                let _ = self.put_step(&step).await;
                return Refusal::page(error).into();
            }
        };
        let codes = match self
            .store_enrolment(&user, enrolled.factor, "sign-in")
            .await
        {
            Ok(codes) => codes,
            Err(error) => return Refusal::page(error).into(),
        };
        pending.amr = with_factor(pending.amr, enrolled.amr);
        pending.complete = true;
        pending.enrolment = false;
        let mut interaction = step.interaction;
        interaction.pending = Some(pending);
        let request = interaction.request.clone();
        match self.store_step(interaction).await {
            Ok(next) => Step::Show(View::RecoveryCodes(RecoveryCodesView {
                codes,
                csrf_token: next.interaction.csrf_token.clone(),
                step_id: Some(next.id),
            }))
            .into(),
            Err(error) => self.redirect_error(&request, &error).into(),
        }
    }

    /// `POST /login/recovery-codes`: the user saw the codes; the sign-in ends.
    pub async fn finish_recovery_codes(
        &self,
        form: StepSubmission<'_>,
        browser: &Browser,
    ) -> Outcome {
        match self
            .spend_pending(form.step_id, form.csrf_token, browser, |p| p.complete)
            .await
        {
            Ok((step, user, pending)) => {
                self.complete_sign_in(step.interaction, &user, pending.amr, browser)
                    .await
            }
            Err(refusal) => refusal.into(),
        }
    }

    /// Whether `answer` proves a new factor set up on the page of `owner` (a step or a
    /// session): `None` for a wrong code or a refused registration.
    pub(crate) async fn prove_enrolment(
        &self,
        owner: &str,
        user: &User,
        answer: EnrolmentAnswer<'_>,
    ) -> Result<Option<ProvedEnrolment>, OAuthError> {
        let now = self.clock.now();
        let name = |given: Option<&str>, default: &str| {
            given
                .map(|n| {
                    n.trim()
                        .chars()
                        .take(MAX_FACTOR_NAME_CHARS)
                        .collect::<String>()
                })
                .filter(|n| !n.is_empty() && !n.chars().any(char::is_control))
                .unwrap_or_else(|| default.to_owned())
        };
        match answer {
            EnrolmentAnswer::Missing => Ok(None),
            EnrolmentAnswer::Totp { code, name: given } => {
                let Some(sealed) = self.ephemeral.get(&ceremony_key(owner, TOTP_SETUP)).await?
                else {
                    return Ok(None);
                };
                let sealed = String::from_utf8_lossy(&sealed).into_owned();
                let secret = self
                    .sealer
                    .open(SEAL_PURPOSE, &sealed)
                    .map(TotpSecret::from_bytes)
                    .map_err(OAuthError::server_error)?;
                let Some(step) = secret.matching_step(code, now.timestamp()) else {
                    return Ok(None);
                };
                // Proved: the page's next setup starts from a new secret.
                self.ephemeral
                    .delete(&ceremony_key(owner, TOTP_SETUP))
                    .await?;
                Ok(Some(ProvedEnrolment {
                    factor: Factor {
                        id: FactorId(uuid::Uuid::new_v4().to_string()),
                        user_id: user.id.clone(),
                        kind: FactorKind::Totp,
                        name: name(given, "Authenticator app"),
                        credential: sealed,
                        master_key_id: Some(self.sealer.current_master_key_id()),
                        credential_id: None,
                        // The code that proved it is spent: it cannot also sign in.
                        last_used_step: Some(step),
                        created_at: now,
                        last_used_at: Some(now),
                    },
                    amr: crate::mfa::assurance::amr::ONE_TIME_CODE,
                }))
            }
            EnrolmentAnswer::Passkey {
                credential,
                name: given,
            } => {
                let (Some(passkeys), Some(state)) = (
                    self.passkeys.as_deref(),
                    self.ephemeral
                        .take(&ceremony_key(owner, REGISTRATION_CEREMONY))
                        .await?,
                ) else {
                    return Ok(None);
                };
                let state = String::from_utf8_lossy(&state);
                match passkeys.finish_registration(credential, &state) {
                    Ok(registered) => Ok(Some(ProvedEnrolment {
                        factor: Factor {
                            id: FactorId(uuid::Uuid::new_v4().to_string()),
                            user_id: user.id.clone(),
                            kind: FactorKind::Passkey,
                            name: name(given, "Passkey"),
                            credential: registered.credential,
                            master_key_id: None,
                            credential_id: Some(registered.credential_id),
                            last_used_step: None,
                            created_at: now,
                            last_used_at: Some(now),
                        },
                        amr: key_amr(registered.backup_eligible),
                    })),
                    Err(e) => {
                        tracing::info!(user = %user.id, error = %e, "passkey registration refused");
                        Ok(None)
                    }
                }
            }
        }
    }

    /// Stores a proved factor; the user's first factor comes with a fresh set of recovery
    /// codes, returned to be shown once (empty when the user had a factor already).
    pub(crate) async fn store_enrolment(
        &self,
        user: &User,
        factor: Factor,
        during: &str,
    ) -> Result<Vec<String>, OAuthError> {
        let first = self.factors.list_factors(&user.id).await?.is_empty();
        let details = serde_json::json!({
            "factor_id": factor.id.0,
            "kind": factor.kind.as_str(),
            "during": during,
        });
        match self.factors.insert_factor(factor).await {
            Ok(()) => {}
            Err(StoreError::Conflict(TAKEN_CREDENTIAL_ID)) => {
                return Err(OAuthError::invalid_request(
                    "this passkey is registered already",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        self.record_factor_event(user, "factor.enrol", Some(details))
            .await;
        if !first {
            return Ok(Vec::new());
        }
        self.new_recovery_codes(user).await
    }

    /// Replaces the user's recovery codes with a fresh set and returns it.
    pub(crate) async fn new_recovery_codes(&self, user: &User) -> Result<Vec<String>, OAuthError> {
        let (codes, digests) = recovery::generate_set();
        self.factors
            .replace_recovery_codes(&user.id, digests, self.clock.now())
            .await?;
        self.record_factor_event(user, "factor.recovery_codes.regenerate", None)
            .await;
        Ok(codes)
    }

    /// A TOTP secret being set up on the page of `owner` (a step or a session): the one
    /// shown before, or a new one, kept sealed for `keep`.
    pub(crate) async fn totp_setup(
        &self,
        owner: &str,
        user: &User,
        keep: std::time::Duration,
    ) -> Result<TotpSetup, OAuthError> {
        let key = ceremony_key(owner, TOTP_SETUP);
        let sealed = match self.ephemeral.get(&key).await? {
            Some(sealed) => String::from_utf8_lossy(&sealed).into_owned(),
            None => {
                let fresh = self
                    .sealer
                    .seal(SEAL_PURPOSE, TotpSecret::generate().as_bytes())
                    .map_err(OAuthError::server_error)?
                    .ciphertext;
                if self
                    .ephemeral
                    .put_if_absent(&key, fresh.as_bytes(), keep)
                    .await?
                {
                    fresh
                } else {
                    // Another request of the same page won: show its secret.
                    let stored = self.ephemeral.get(&key).await?.unwrap_or_default();
                    String::from_utf8_lossy(&stored).into_owned()
                }
            }
        };
        let secret = self
            .sealer
            .open(SEAL_PURPOSE, &sealed)
            .map(TotpSecret::from_bytes)
            .map_err(OAuthError::server_error)?;
        Ok(TotpSetup {
            secret: secret.grouped(),
            otpauth_uri: secret.otpauth_uri(&self.issuer_label(), user.username.as_str()),
        })
    }

    /// Options to register a passkey on the page of `owner`, its ceremony kept for `keep`;
    /// `None` when the issuer cannot be a relying party.
    pub(crate) async fn passkey_creation(
        &self,
        owner: &str,
        user: &User,
        keep: std::time::Duration,
    ) -> Result<Option<String>, OAuthError> {
        let Some(passkeys) = self.passkeys.as_deref() else {
            return Ok(None);
        };
        let existing = self.factors.list_factors(&user.id).await?;
        let display = user
            .display_name
            .clone()
            .unwrap_or_else(|| user.username.as_str().to_owned());
        let (options, state) = passkeys
            .start_registration(&user.id, user.username.as_str(), &display, &existing)
            .map_err(OAuthError::server_error)?;
        self.ephemeral
            .put(
                &ceremony_key(owner, REGISTRATION_CEREMONY),
                state.as_bytes(),
                keep,
            )
            .await?;
        Ok(Some(options))
    }

    /// How authenticator apps label this server: the issuer's host.
    fn issuer_label(&self) -> String {
        url::Url::parse(&self.issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "Palisade".to_owned())
    }

    async fn enrolment_form(
        &self,
        step: &PendingStep,
        user: &User,
        problem: Option<FactorProblem>,
    ) -> Outcome {
        let keep = self.step_time_left(&step.interaction);
        let totp = match self.totp_setup(&step.id, user, keep).await {
            Ok(totp) => totp,
            Err(error) => return Refusal::page(error).into(),
        };
        let passkey_creation = match self.passkey_creation(&step.id, user, keep).await {
            Ok(options) => options,
            Err(error) => return Refusal::page(error).into(),
        };
        Step::Show(View::Enrolment(EnrolmentView {
            client_name: step.interaction.request.client_name.clone(),
            csrf_token: step.interaction.csrf_token.clone(),
            step_id: step.id.clone(),
            totp,
            passkey_creation,
            problem,
        }))
        .into()
    }
}
