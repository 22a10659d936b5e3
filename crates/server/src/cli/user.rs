//! `palisade user ...`

use super::{CommandError, not_found_as};
use chrono::SecondsFormat;
use clap::Subcommand;
use palisade_core::Secret;
use palisade_core::model::User;
use palisade_flow::admin::users::NewAccount;
use palisade_flow::admin::{Admin, Caller};
use std::io::{BufRead, IsTerminal};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. Without --password-stdin, asks for the password twice on the terminal.
    Add {
        username: String,
        #[arg(long)]
        email: Option<String>,
        /// The name shown to applications (`name` claim).
        #[arg(long)]
        name: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List {
        /// Only users whose username, email or display name contains this text.
        #[arg(long)]
        search: Option<String>,
    },
    /// Set a new password (ends every session and grant of the user).
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Stop a user from logging in, and end every session and grant they have.
    Disable { username: String },
    /// Let a disabled user log in again.
    Enable { username: String },
    /// Lift a lockout after repeated failed logins, and forget the failure streak.
    Unlock { username: String },
    /// Sign the user out everywhere: end every browser session, outstanding code, refresh
    /// token and access token they have.
    Signout { username: String },
    /// Delete the user with their roles, consents and grants.
    Delete { username: String },
    /// The user's second factors (TOTP authenticators, passkeys) and recovery codes.
    #[command(subcommand)]
    Mfa(MfaCommand),
}

#[derive(Debug, Subcommand)]
pub enum MfaCommand {
    /// List the user's factors and how many recovery codes are left.
    List { username: String },
    /// Delete every factor and recovery code of the user (a lost authenticator), and end
    /// every session and grant they have. They sign in with their password alone afterwards
    /// and enrol again wherever a second factor is required.
    Reset { username: String },
}

pub async fn run(cmd: UserCommand, admin: &Admin) -> Result<(), CommandError> {
    let operator = Caller::operator();
    match cmd {
        UserCommand::Add {
            username,
            email,
            name,
            password_stdin,
        } => {
            let password = read_new_password(password_stdin)?;
            let user = admin
                .create_user(
                    &operator,
                    NewAccount {
                        username: &username,
                        password: &password,
                        email: email.as_deref(),
                        display_name: name.as_deref(),
                    },
                )
                .await?;
            println!("created user {} ({})", user.username, user.id);
        }
        UserCommand::List { search } => {
            let users = admin.list_users(search.as_deref(), 10_000, 0).await?;
            println!(
                "{:<36}  {:<24}  {:<32}  {:<8}  ROLES",
                "ID", "USERNAME", "EMAIL", "STATUS"
            );
            for u in users {
                let details = admin.user_details(u).await?;
                let roles: Vec<&str> = details.roles.iter().map(|r| r.as_str()).collect();
                let u = &details.user;
                println!(
                    "{:<36}  {:<24}  {:<32}  {:<8}  {}",
                    u.id,
                    u.username,
                    u.email.as_ref().map_or("-", |e| e.as_str()),
                    if u.is_disabled { "disabled" } else { "active" },
                    roles.join(",")
                );
            }
        }
        UserCommand::Passwd {
            username,
            password_stdin,
        } => {
            let user = find(admin, &username).await?;
            let password = read_new_password(password_stdin)?;
            admin.reset_password(&operator, &user, &password).await?;
            println!("password changed for {}", user.username);
        }
        UserCommand::Disable { username } => {
            let user = find(admin, &username).await?;
            admin.set_user_disabled(&operator, &user, true).await?;
            println!("disabled {}", user.username);
        }
        UserCommand::Enable { username } => {
            let user = find(admin, &username).await?;
            admin.set_user_disabled(&operator, &user, false).await?;
            println!("enabled {}", user.username);
        }
        UserCommand::Signout { username } => {
            let user = find(admin, &username).await?;
            let families = admin.sign_out_everywhere(&operator, &user).await?;
            println!(
                "signed {} out everywhere ({families} refresh-token grants revoked)",
                user.username
            );
        }
        UserCommand::Delete { username } => {
            let user = find(admin, &username).await?;
            admin.delete_user(&operator, &user).await?;
            println!("deleted {}", user.username);
        }
        UserCommand::Mfa(MfaCommand::List { username }) => {
            let user = find(admin, &username).await?;
            let listed = admin.user_factors(&user).await?;
            println!(
                "{:<36}  {:<7}  {:<24}  {:<20}  LAST USED",
                "ID", "KIND", "NAME", "CREATED"
            );
            for f in &listed.factors {
                println!(
                    "{:<36}  {:<7}  {:<24}  {:<20}  {}",
                    f.id,
                    f.kind.as_str(),
                    f.name,
                    f.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                    f.last_used_at.map_or("never".to_owned(), |t| t
                        .to_rfc3339_opts(SecondsFormat::Secs, true)),
                );
            }
            println!("recovery codes left: {}", listed.recovery_codes_left);
        }
        UserCommand::Mfa(MfaCommand::Reset { username }) => {
            let user = find(admin, &username).await?;
            let reset = admin.reset_factors(&operator, &user).await?;
            println!(
                "reset the second factors of {}: {} factors and every recovery code deleted, \
                 signed out everywhere ({} refresh-token grants revoked)",
                user.username, reset.factors_deleted, reset.refresh_token_families_revoked
            );
        }
        UserCommand::Unlock { username } => {
            let user = find(admin, &username).await?;
            if admin.unlock_user(&operator, &user).await? {
                println!("unlocked {}", user.username);
            } else {
                println!(
                    "{} was not locked; its failure streak is cleared",
                    user.username
                );
            }
        }
    }
    Ok(())
}

pub(crate) async fn find(admin: &Admin, username: &str) -> Result<User, CommandError> {
    admin
        .find_user_by_username(username)
        .await
        .map_err(not_found_as(|| {
            format!("no user named {}", username.trim())
        }))
}

/// Reads a new password from stdin (one line) or asks twice on the terminal, and checks it
/// against the password policy before anything else happens.
pub(crate) fn read_new_password(from_stdin: bool) -> Result<Secret, CommandError> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| CommandError::new(format!("cannot read the password from stdin: {e}")))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        if !std::io::stdin().is_terminal() {
            return Err(CommandError::new(
                "no terminal to ask for the password on; use --password-stdin",
            ));
        }
        let first = rpassword::prompt_password("New password: ")
            .map_err(|e| CommandError::new(e.to_string()))?;
        let second = rpassword::prompt_password("Repeat it: ")
            .map_err(|e| CommandError::new(e.to_string()))?;
        if first != second {
            return Err(CommandError::new("the passwords differ"));
        }
        first
    };
    let password = Secret::new(password);
    palisade_flow::password::check_new_password(&password)
        .map_err(|e| CommandError::new(e.to_string()))?;
    Ok(password)
}
