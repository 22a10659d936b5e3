//! `palisade user ...`

use super::{CommandError, audit};
use crate::storage::Storage;
use chrono::Utc;
use clap::Subcommand;
use palisade_core::Secret;
use palisade_core::SystemClock;
use palisade_core::model::{NewUser, UserId, Username};
use palisade_core::ports::{RoleRepository, UserRepository};
use palisade_flow::guard::{AttemptLimits, CredentialGuard};
use palisade_flow::password::PasswordHasher;
use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

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
        /// Only users whose username or email contains this text.
        #[arg(long)]
        search: Option<String>,
    },
    /// Set a new password.
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Stop a user from logging in.
    Disable { username: String },
    /// Let a disabled user log in again.
    Enable { username: String },
    /// Lift a lockout after repeated failed logins, and forget the failure streak.
    Unlock { username: String },
}

pub async fn run(
    cmd: UserCommand,
    storage: &Storage,
    passwords: &PasswordHasher,
    attempt_limits: AttemptLimits,
) -> Result<(), CommandError> {
    let store = &storage.sql;
    match cmd {
        UserCommand::Add {
            username,
            email,
            name,
            password_stdin,
        } => {
            let username = parse_username(&username)?;
            let password = read_new_password(password_stdin)?;
            let hash = passwords
                .hash(&password)
                .await
                .map_err(|e| CommandError::new(e.to_string()))?;
            let user = store
                .insert_user(NewUser {
                    id: UserId(uuid::Uuid::new_v4().to_string()),
                    username: username.clone(),
                    email: email.filter(|e| !e.trim().is_empty()),
                    display_name: name,
                    password_hash: hash,
                    created_at: Utc::now(),
                })
                .await
                .map_err(|e| match e {
                    palisade_core::StoreError::Conflict(_) => {
                        CommandError::new(format!("user {username} already exists"))
                    }
                    other => other.into(),
                })?;
            audit(store, "user.create", &format!("user:{}", user.id)).await;
            println!("created user {} ({})", user.username, user.id);
        }
        UserCommand::List { search } => {
            let users = store.list_users(search.as_deref(), 10_000, 0).await?;
            println!(
                "{:<36}  {:<24}  {:<32}  {:<8}  ROLES",
                "ID", "USERNAME", "EMAIL", "STATUS"
            );
            for u in users {
                let roles = store.roles_of_user(&u.id).await?.join(",");
                println!(
                    "{:<36}  {:<24}  {:<32}  {:<8}  {}",
                    u.id,
                    u.username,
                    u.email.as_deref().unwrap_or("-"),
                    if u.is_disabled { "disabled" } else { "active" },
                    roles
                );
            }
        }
        UserCommand::Passwd {
            username,
            password_stdin,
        } => {
            let user = find(storage, &username).await?;
            let password = read_new_password(password_stdin)?;
            let hash = passwords
                .hash(&password)
                .await
                .map_err(|e| CommandError::new(e.to_string()))?;
            store
                .update_password_hash(&user.id, &hash, Utc::now())
                .await?;
            audit(store, "user.password_reset", &format!("user:{}", user.id)).await;
            println!("password changed for {}", user.username);
        }
        UserCommand::Disable { username } => {
            let user = find(storage, &username).await?;
            store.set_user_disabled(&user.id, true, Utc::now()).await?;
            audit(store, "user.disable", &format!("user:{}", user.id)).await;
            println!("disabled {}", user.username);
        }
        UserCommand::Enable { username } => {
            let user = find(storage, &username).await?;
            store.set_user_disabled(&user.id, false, Utc::now()).await?;
            audit(store, "user.enable", &format!("user:{}", user.id)).await;
            println!("enabled {}", user.username);
        }
        UserCommand::Unlock { username } => {
            let user = find(storage, &username).await?;
            // The same guard the server uses, so the same keys and the same audit event.
            let guard = CredentialGuard::new(
                attempt_limits,
                storage.ephemeral.clone(),
                Arc::new(store.clone()),
                Arc::new(store.clone()),
                Arc::new(SystemClock),
            );
            if guard.unlock(&user, "cli").await? {
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

pub(crate) fn parse_username(raw: &str) -> Result<Username, CommandError> {
    Username::parse(raw).map_err(|e| CommandError::new(format!("invalid username: {e}")))
}

pub(crate) async fn find(
    storage: &Storage,
    username: &str,
) -> Result<palisade_core::model::User, CommandError> {
    let username = parse_username(username)?;
    storage
        .sql
        .find_user_by_username(&username)
        .await?
        .ok_or_else(|| CommandError::new(format!("no user named {username}")))
}

/// Reads a new password from stdin (one line) or asks twice on the terminal.
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
