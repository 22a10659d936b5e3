//! `palisade role ...`

use super::user::find;
use super::{CommandError, not_found_as};
use clap::Subcommand;
use palisade_flow::admin::{Admin, Caller};

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Create a role.
    Add {
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// List roles with their permissions, and whether they require a second factor.
    List,
    /// Require a second factor of everyone holding the role (--off: stop requiring it).
    RequireMfa {
        role: String,
        #[arg(long)]
        off: bool,
    },
    /// Give a user a role.
    Grant { role: String, username: String },
    /// Take a role away from a user.
    Revoke { role: String, username: String },
}

pub async fn run(cmd: RoleCommand, admin: &Admin) -> Result<(), CommandError> {
    let operator = Caller::operator();
    match cmd {
        RoleCommand::Add { name, description } => {
            let role = admin
                .create_role(&operator, &name, description.as_deref(), &[])
                .await?;
            println!("created role {}", role.role.name);
        }
        RoleCommand::List => {
            println!("{:<24}  {:<11}  PERMISSIONS", "ROLE", "REQUIRE_MFA");
            for details in admin.list_roles().await? {
                let permissions: Vec<&str> =
                    details.permissions.iter().map(|p| p.as_str()).collect();
                println!(
                    "{:<24}  {:<11}  {}",
                    details.role.name,
                    if details.role.require_mfa {
                        "yes"
                    } else {
                        "no"
                    },
                    permissions.join(",")
                );
            }
        }
        RoleCommand::RequireMfa { role, off } => {
            let details = admin
                .set_role_requires_mfa(&operator, &role, !off)
                .await
                .map_err(not_found_as(|| format!("no role named {role}")))?;
            if details.role.require_mfa {
                println!("role {} now requires a second factor", details.role.name);
            } else {
                println!(
                    "role {} no longer requires a second factor",
                    details.role.name
                );
            }
        }
        RoleCommand::Grant { role, username } => {
            let user = find(admin, &username).await?;
            admin
                .grant_role(&operator, &user, &role)
                .await
                .map_err(not_found_as(|| format!("no role named {role}")))?;
            println!("granted {role} to {}", user.username);
        }
        RoleCommand::Revoke { role, username } => {
            let user = find(admin, &username).await?;
            admin
                .revoke_role(&operator, &user, &role)
                .await
                .map_err(not_found_as(|| format!("no role named {role}")))?;
            println!("revoked {role} from {}", user.username);
        }
    }
    Ok(())
}
