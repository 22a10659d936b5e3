//! The account console's strings (see the catalogue's module comment).

#[derive(Debug)]
pub struct AccountText {
    // The profile page.
    pub username: &'static str,
    pub username_hint: &'static str,
    pub display_name: &'static str,
    pub display_name_hint: &'static str,
    pub email: &'static str,
    pub email_verified: &'static str,
    pub email_unverified: &'static str,
    pub email_change_hint: &'static str,
    pub save_profile: &'static str,
    pub profile_saved: &'static str,
    pub invalid_display_name: &'static str,
    pub invalid_email: &'static str,
    // The security page's password panel.
    pub password: &'static str,
    pub password_intro: &'static str,
    pub current_password: &'static str,
    pub new_password: &'static str,
    pub new_password_hint: &'static str,
    pub repeat_password: &'static str,
    pub change_password: &'static str,
    pub password_changed: &'static str,
    pub password_not_you: &'static str,
    pub password_mismatch: &'static str,
    pub password_too_short: &'static str,
    pub password_too_long: &'static str,
    pub password_common: &'static str,
    pub busy: &'static str,
    // The connected applications page.
    pub applications_intro: &'static str,
    pub no_applications: &'static str,
    pub application: &'static str,
    pub scopes: &'static str,
    pub connected: &'static str,
    pub last_used: &'static str,
    pub actions: &'static str,
    /// The accessible name of the list's page links.
    pub applications_pages: &'static str,
    pub disconnect: &'static str,
    pub not_connected: &'static str,
    pub unknown_action: &'static str,
    // The security page's second factors and recovery codes.
    pub second_factors: &'static str,
    pub no_factor_yet: &'static str,
    pub added: &'static str,
    pub factor_last_used: &'static str,
    pub rename_or_remove: &'static str,
    pub new_name: &'static str,
    pub rename: &'static str,
    pub remove_confirm_legend: &'static str,
    pub proof_password: &'static str,
    pub proof_code: &'static str,
    pub remove: &'static str,
    pub must_keep_a_factor: &'static str,
    pub authenticator_app: &'static str,
    pub confirm: &'static str,
    pub authenticator_app_intro: &'static str,
    pub set_up_authenticator_app: &'static str,
    pub passkey: &'static str,
    pub passkey_intro: &'static str,
    pub passkey_name: &'static str,
    pub optional: &'static str,
    pub add_passkey: &'static str,
    pub recovery_codes: &'static str,
    pub recovery_codes_legend: &'static str,
    pub get_new_recovery_codes: &'static str,
    /// "You have N unused recovery codes. …"
    pub recovery_codes_left: fn(u32) -> String,
    // What the security page says after an action on a factor.
    pub totp_added: &'static str,
    pub passkey_added: &'static str,
    pub renamed: &'static str,
    pub stale_sign_in: &'static str,
    pub wrong_totp_code: &'static str,
    pub passkey_not_registered: &'static str,
    pub name_missing: &'static str,
    pub no_such_factor: &'static str,
    pub recovery_codes_need_a_factor: &'static str,
    pub must_keep_a_factor_to_remove: &'static str,
    pub not_you: &'static str,
}

pub static EN: AccountText = AccountText {
    username: "Username",
    username_hint: "You sign in with it; only an administrator can change it.",
    display_name: "Display name",
    display_name_hint: "How applications greet you. Leave it empty to use your username.",
    email: "Email address",
    email_verified: "Verified",
    email_unverified: "Not verified",
    email_change_hint: "A new address is not verified until it is confirmed.",
    save_profile: "Save",
    profile_saved: "Your profile was saved.",
    invalid_display_name: "The display name must be at most 200 characters, without hidden or control characters.",
    invalid_email: "Enter an email address like name@example.com.",
    password: "Password",
    password_intro: "Changing your password signs you out of every other browser and every application; this browser stays signed in.",
    current_password: "Current password",
    new_password: "New password",
    new_password_hint: "At least 8 characters. Common passwords are refused.",
    repeat_password: "New password again",
    change_password: "Change password",
    password_changed: "Your password was changed. Every other browser and every application you had signed in to was signed out; they will ask for the new password.",
    password_not_you: "Your password was not changed: the current password is not right.",
    password_mismatch: "Your password was not changed: the two new passwords are different.",
    password_too_short: "Your password was not changed: the new password needs at least 8 characters.",
    password_too_long: "Your password was not changed: the new password is too long (at most 1024 characters).",
    password_common: "Your password was not changed: the new password is one of the most common passwords. Choose another.",
    busy: "The service is busy. Please try again in a moment.",
    applications_intro: "These applications can act for you: you allowed them, or they hold a sign-in that lasts. Disconnecting one signs it out at once; it must ask you again.",
    no_applications: "No application is connected to your account.",
    application: "Application",
    scopes: "Access",
    connected: "Connected",
    last_used: "Last used",
    actions: "Actions",
    applications_pages: "Pages of connected applications",
    disconnect: "Disconnect",
    not_connected: "That application is not connected to your account; nothing was changed.",
    unknown_action: "That is not something this page does.",
    second_factors: "Second factors",
    no_factor_yet: "You have not set up a second factor yet.",
    added: "added",
    factor_last_used: "last used",
    rename_or_remove: "Rename or remove",
    new_name: "New name",
    rename: "Rename",
    remove_confirm_legend: "Remove it: confirm with your password, or a code",
    proof_password: "Password",
    proof_code: "Or a code from an authenticator app, or a recovery code",
    remove: "Remove",
    must_keep_a_factor: "Your account must keep at least one second factor.",
    authenticator_app: "Authenticator app",
    confirm: "Confirm",
    authenticator_app_intro: "Use an app on your phone that shows a new 6-digit code every 30 seconds.",
    set_up_authenticator_app: "Set up an authenticator app",
    passkey: "Passkey",
    passkey_intro: "A passkey signs you in with this device's screen lock or a security key, without a password.",
    passkey_name: "Name",
    optional: "(optional)",
    add_passkey: "Add a passkey",
    recovery_codes: "Recovery codes",
    recovery_codes_legend: "New recovery codes replace the old ones: confirm with your password, or a code",
    get_new_recovery_codes: "Get new recovery codes",
    recovery_codes_left,
    totp_added: "Authenticator app added.",
    passkey_added: "Passkey added.",
    renamed: "Renamed.",
    stale_sign_in: "To add a factor, sign in again first (you signed in more than 15 minutes ago): open an application that uses this server, sign out and back in, then come back.",
    wrong_totp_code: "That code is not right. Check that your phone's clock is set automatically, then enter the code it shows now.",
    passkey_not_registered: "The passkey could not be registered. Try again.",
    name_missing: "Give it a name.",
    no_such_factor: "There is no such factor.",
    recovery_codes_need_a_factor: "Recovery codes stand in for a factor: add one first.",
    must_keep_a_factor_to_remove: "You must keep at least one second factor. Add another one first.",
    not_you: "That did not confirm it is you. Enter your password, or a code from your authenticator app or a recovery code.",
};

/// The notice after disconnecting `application`.
pub fn disconnected(application: &str) -> String {
    format!("{application} was disconnected: it was signed out and must ask you again.")
}

/// A password change refused because of too many failed attempts.
pub fn password_throttled(minutes: u64) -> String {
    format!(
        "Your password was not changed: too many failed attempts. Try again in {minutes} minute{}.",
        if minutes == 1 { "" } else { "s" }
    )
}

/// "Disconnect <application>", the accessible name of a row's button.
pub fn disconnect_named(application: &str) -> String {
    format!("Disconnect {application}")
}

/// How many unused recovery codes the user has, and what they are for.
fn recovery_codes_left(left: u32) -> String {
    let noun = if left == 1 { "code" } else { "codes" };
    format!(
        "You have {left} unused recovery {noun}. Each one signs you in once if you lose your other factors."
    )
}

/// Too many failed confirmations: when to come back.
pub fn throttled(minutes: u64) -> String {
    format!(
        "Too many failed attempts. Try again in {minutes} minute{}.",
        if minutes == 1 { "" } else { "s" }
    )
}
