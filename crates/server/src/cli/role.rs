//! `palisade role ...`

use super::user::find;
use super::{CommandError, audit};
use crate::storage::Storage;
use clap::Subcommand;
use palisade_core::StoreError;
use palisade_core::model::Role;
use palisade_core::ports::RoleRepository;

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Create a role.
    Add {
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// List roles with their permissions.
    List,
    /// Give a user a role.
    Grant { role: String, username: String },
    /// Take a role away from a user.
    Revoke { role: String, username: String },
}

pub async fn run(cmd: RoleCommand, storage: &Storage) -> Result<(), CommandError> {
    let store = &storage.sql;
    match cmd {
        RoleCommand::Add { name, description } => {
            let name = parse_role_name(&name)?;
            store
                .insert_role(Role {
                    name: name.clone(),
                    description,
                })
                .await
                .map_err(|e| match e {
                    StoreError::Conflict(_) => {
                        CommandError::new(format!("role {name} already exists"))
                    }
                    other => other.into(),
                })?;
            audit(store, "role.create", &format!("role:{name}")).await;
            println!("created role {name}");
        }
        RoleCommand::List => {
            for role in store.list_roles().await? {
                let permissions = store.permissions_of_role(&role.name).await?.join(",");
                println!("{:<24}  {}", role.name, permissions);
            }
        }
        RoleCommand::Grant { role, username } => {
            let user = find(storage, &username).await?;
            store
                .grant_role(&role, &user.id)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => CommandError::new(format!("no role named {role}")),
                    other => other.into(),
                })?;
            audit(
                store,
                "role.grant",
                &format!("user:{} role:{role}", user.id),
            )
            .await;
            println!("granted {role} to {}", user.username);
        }
        RoleCommand::Revoke { role, username } => {
            let user = find(storage, &username).await?;
            store.revoke_role(&role, &user.id).await?;
            audit(
                store,
                "role.revoke",
                &format!("user:{} role:{role}", user.id),
            )
            .await;
            println!("revoked {role} from {}", user.username);
        }
    }
    Ok(())
}

/// Role names: 1-64 lowercase letters, digits, `-`, `_`, `:`.
fn parse_role_name(raw: &str) -> Result<String, CommandError> {
    let name = raw.trim();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | ':'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(CommandError::new(
            "a role name has 1 to 64 characters: lowercase letters, digits, - _ :",
        ))
    }
}
