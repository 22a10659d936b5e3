//! `palisade admin init`: the first administrator, on a fresh installation.
//!
//! There is no default account and no default password anywhere: the operator chooses the
//! password, typed twice on a terminal or piped with `--password-stdin` (for automation), and
//! it must pass the password policy. The command refuses once an administrator exists — a
//! second bootstrap path would be a way around the admin API's rule that nobody grants what
//! they do not hold. More administrators are made with `palisade role grant admin USERNAME` (an
//! operator with database access) or `PUT /admin/v1/users/{id}/roles/admin` (an administrator).

use super::user::{parse_username, read_new_password};
use super::{CommandError, audit};
use crate::storage::Storage;
use chrono::Utc;
use clap::Subcommand;
use palisade_core::model::{NewUser, UserId};
use palisade_core::ports::{RoleRepository, UserRepository};
use palisade_flow::password::PasswordHasher;

/// The built-in role holding every admin permission (migration `builtin_roles`).
pub const ADMIN_ROLE: &str = "admin";

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create the first administrator: a new user holding the `admin` role. Without
    /// --password-stdin, asks for the password twice on the terminal. Refuses when an
    /// administrator exists (add more with `palisade role grant admin USERNAME`).
    Init {
        /// The administrator's username.
        #[arg(default_value = "admin")]
        username: String,
        #[arg(long)]
        email: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

pub async fn run(
    cmd: AdminCommand,
    storage: &Storage,
    passwords: &PasswordHasher,
) -> Result<(), CommandError> {
    let store = &storage.sql;
    match cmd {
        AdminCommand::Init {
            username,
            email,
            password_stdin,
        } => {
            let username = parse_username(&username)?;
            if !store
                .list_roles()
                .await?
                .iter()
                .any(|r| r.name == ADMIN_ROLE)
            {
                return Err(CommandError::new(
                    "the built-in admin role is missing; run `palisade migrate` on this database",
                ));
            }
            if let Some(existing) = find_administrator(storage).await? {
                return Err(CommandError::new(format!(
                    "an administrator already exists ({existing}); add more with `palisade role grant admin USERNAME` or the admin API"
                )));
            }
            if store.find_user_by_username(&username).await?.is_some() {
                return Err(CommandError::new(format!(
                    "user {username} already exists; make them an administrator with `palisade role grant admin {username}`"
                )));
            }
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
                    display_name: None,
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
            store.grant_role(ADMIN_ROLE, &user.id).await?;
            audit(
                store,
                "admin.init",
                &format!("user:{} role:{ADMIN_ROLE}", user.id),
            )
            .await;
            println!("created administrator {} ({})", user.username, user.id);
            println!(
                "To use the admin API, sign in through a client registered for the `admin` scope (docs/admin-api.md)."
            );
        }
    }
    Ok(())
}

/// The username of some user holding the admin role, if any (paged, so a large user table is
/// read in bounded pieces).
async fn find_administrator(storage: &Storage) -> Result<Option<String>, CommandError> {
    const PAGE: i64 = 500;
    let mut offset = 0;
    loop {
        let users = storage.sql.list_users(None, PAGE, offset).await?;
        for user in &users {
            if storage
                .sql
                .roles_of_user(&user.id)
                .await?
                .iter()
                .any(|r| r == ADMIN_ROLE)
            {
                return Ok(Some(user.username.to_string()));
            }
        }
        if (users.len() as i64) < PAGE {
            return Ok(None);
        }
        offset += PAGE;
    }
}
