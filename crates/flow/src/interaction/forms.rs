//! What the factor, enrolment and account-security forms submit, parsed from their fields. The
//! routes fill these from the form; the engine decides what each means.

use palisade_core::Secret;

/// A submitted second-factor form (`POST /login/factor`: `interaction_id`, `csrf_token`,
/// `method=totp|recovery|passkey`, and `code` or `credential`).
#[derive(Debug)]
pub struct FactorSubmission<'a> {
    pub step_id: Option<&'a str>,
    pub csrf_token: Option<&'a str>,
    pub answer: FactorAnswer<'a>,
}

/// The answer a second-factor form carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorAnswer<'a> {
    /// A 6-digit code from the TOTP app.
    Totp(&'a str),
    /// One of the user's recovery codes.
    RecoveryCode(&'a str),
    /// A WebAuthn assertion (`PublicKeyCredential` JSON).
    Passkey(&'a str),
    /// No method, or the method's field is missing.
    Missing,
}

impl<'a> FactorAnswer<'a> {
    /// From the form's `method`, `code` and `credential` fields.
    pub fn from_form(
        method: Option<&'a str>,
        code: Option<&'a str>,
        credential: Option<&'a str>,
    ) -> Self {
        match (method, code, credential) {
            (Some("totp"), Some(code), _) => Self::Totp(code),
            (Some("recovery"), Some(code), _) => Self::RecoveryCode(code),
            (Some("passkey"), _, Some(credential)) => Self::Passkey(credential),
            _ => Self::Missing,
        }
    }
}

/// A submitted enrolment form (`POST /login/enrol`: `interaction_id`, `csrf_token`,
/// `method=totp|passkey`, `code` or `credential`, and an optional `name`).
#[derive(Debug)]
pub struct EnrolmentSubmission<'a> {
    pub step_id: Option<&'a str>,
    pub csrf_token: Option<&'a str>,
    pub answer: EnrolmentAnswer<'a>,
}

/// The new factor an enrolment form proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrolmentAnswer<'a> {
    /// The first code from the newly set-up TOTP app.
    Totp {
        code: &'a str,
        name: Option<&'a str>,
    },
    /// A WebAuthn attestation (`PublicKeyCredential` JSON from `navigator.credentials.create`).
    Passkey {
        credential: &'a str,
        name: Option<&'a str>,
    },
    Missing,
}

impl<'a> EnrolmentAnswer<'a> {
    /// From the form's `method`, `code`, `credential` and `name` fields.
    pub fn from_form(
        method: Option<&'a str>,
        code: Option<&'a str>,
        credential: Option<&'a str>,
        name: Option<&'a str>,
    ) -> Self {
        let name = name.filter(|n| !n.trim().is_empty());
        match (method, code, credential) {
            (Some("totp"), Some(code), _) => Self::Totp { code, name },
            (Some("passkey"), _, Some(credential)) => Self::Passkey { credential, name },
            _ => Self::Missing,
        }
    }
}

/// A form that only moves its step on (`POST /login/recovery-codes`: `interaction_id`,
/// `csrf_token`).
#[derive(Debug)]
pub struct StepSubmission<'a> {
    pub step_id: Option<&'a str>,
    pub csrf_token: Option<&'a str>,
}

/// A passwordless sign-in from the login page (`POST /login/passkey`: `interaction_id`,
/// `csrf_token`, `credential`).
#[derive(Debug)]
pub struct PasskeySignIn<'a> {
    pub step_id: Option<&'a str>,
    pub csrf_token: Option<&'a str>,
    pub credential: &'a str,
}

/// A form on `/account/security` (`csrf_token` of the session, `action`, and the action's
/// fields).
#[derive(Debug)]
pub struct AccountSubmission<'a> {
    pub csrf_token: Option<&'a str>,
    pub action: AccountAction<'a>,
}

/// What the account-security form asks for.
#[derive(Debug)]
pub enum AccountAction<'a> {
    /// `action=totp-start`: show a new TOTP secret to scan.
    StartTotp,
    /// `action=totp-confirm`, `code`, `name`: the first code from the app completes it.
    ConfirmTotp {
        code: &'a str,
        name: Option<&'a str>,
    },
    /// `action=passkey-add`, `credential`, `name`.
    AddPasskey {
        credential: &'a str,
        name: Option<&'a str>,
    },
    /// `action=rename`, `factor_id`, `name`.
    Rename { factor_id: &'a str, name: &'a str },
    /// `action=remove`, `factor_id`, and `password` or `proof_code`.
    Remove {
        factor_id: &'a str,
        proof: Reauthentication<'a>,
    },
    /// `action=recovery-codes`, and `password` or `proof_code`.
    RegenerateRecoveryCodes { proof: Reauthentication<'a> },
    /// `action=password`, `current_password`, `new_password`, `repeat_password`.
    ChangePassword(crate::console::account::PasswordChange),
    /// Anything else.
    Unknown,
}

/// A fresh proof that the person at the keyboard is the user: the password, or a code from
/// another factor (a TOTP code or a recovery code).
#[derive(Debug)]
pub enum Reauthentication<'a> {
    Password(Secret),
    Code(&'a str),
    Missing,
}

impl<'a> Reauthentication<'a> {
    /// From the form's `password` and `proof_code` fields (the password wins when both are
    /// filled in).
    pub fn from_form(password: Option<&'a str>, proof_code: Option<&'a str>) -> Self {
        match (
            password.filter(|p| !p.is_empty()),
            proof_code.filter(|c| !c.trim().is_empty()),
        ) {
            (Some(password), _) => Self::Password(Secret::new(password)),
            (None, Some(code)) => Self::Code(code),
            (None, None) => Self::Missing,
        }
    }
}

impl<'a> AccountAction<'a> {
    /// From the form's fields, looked up with `field`.
    pub fn from_form(field: impl Fn(&str) -> Option<&'a str>) -> Self {
        let name = field("name").filter(|n| !n.trim().is_empty());
        let proof = || Reauthentication::from_form(field("password"), field("proof_code"));
        match field("action") {
            Some("totp-start") => Self::StartTotp,
            Some("totp-confirm") => match field("code") {
                Some(code) => Self::ConfirmTotp { code, name },
                None => Self::Unknown,
            },
            Some("passkey-add") => match field("credential") {
                Some(credential) => Self::AddPasskey { credential, name },
                None => Self::Unknown,
            },
            Some("rename") => match (field("factor_id"), field("name")) {
                (Some(factor_id), Some(name)) => Self::Rename { factor_id, name },
                _ => Self::Unknown,
            },
            Some("remove") => match field("factor_id") {
                Some(factor_id) => Self::Remove {
                    factor_id,
                    proof: proof(),
                },
                None => Self::Unknown,
            },
            Some("recovery-codes") => Self::RegenerateRecoveryCodes { proof: proof() },
            Some("password") => {
                let secret = |name| Secret::new(field(name).unwrap_or_default());
                Self::ChangePassword(crate::console::account::PasswordChange {
                    current: secret("current_password"),
                    new: secret("new_password"),
                    repeated: secret("repeat_password"),
                })
            }
            _ => Self::Unknown,
        }
    }
}
