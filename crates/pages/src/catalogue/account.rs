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
