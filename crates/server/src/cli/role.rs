//! `palisade role ...`

use super::user::find;
use super::{CommandError, not_found_as};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::Subcommand;
use palisade_flow::admin::reviews::{self, GrantKey};
use palisade_flow::admin::roles::parse_role_name;
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
    /// Give a user a role (granting again replaces the expiry).
    Grant {
        role: String,
        username: String,
        /// When the grant lapses by itself: an RFC 3339 date and time, or a date YYYY-MM-DD
        /// (through that day, UTC).
        #[arg(long)]
        expires: Option<String>,
    },
    /// Take a role away from a user.
    Revoke { role: String, username: String },
    /// Access review: list the grants whose holder has not signed in, or that were not
    /// granted or confirmed, for N days; or decide on grants (USERNAME:ROLE, repeatable).
    Review {
        #[arg(long, default_value_t = reviews::DEFAULT_STALE_AFTER_DAYS)]
        stale_days: u32,
        /// Keep this grant (records the confirmation).
        #[arg(long, value_name = "USERNAME:ROLE")]
        confirm: Vec<String>,
        /// Take this grant away.
        #[arg(long, value_name = "USERNAME:ROLE")]
        revoke: Vec<String>,
    },
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "-".into(),
        |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

/// `USERNAME:ROLE` (split at the first colon: role names may hold one) to the grant it names.
async fn grant_named(admin: &Admin, raw: &str) -> Result<GrantKey, CommandError> {
    let (username, role) = raw
        .split_once(':')
        .ok_or_else(|| CommandError::new(format!("{raw:?} is not USERNAME:ROLE")))?;
    let user = find(admin, username).await?;
    Ok(GrantKey {
        user_id: user.id,
        role: parse_role_name(role)?,
    })
}

async fn review(
    admin: &Admin,
    operator: &Caller,
    stale_days: u32,
    confirm: Vec<String>,
    revoke: Vec<String>,
) -> Result<(), CommandError> {
    if confirm.is_empty() && revoke.is_empty() {
        println!(
            "{:<24}  {:<16}  {:<20}  {:<20}  {:<20}  {:<20}  LAST_SIGN_IN",
            "USER", "ROLE", "GRANTED_BY", "GRANTED_AT", "EXPIRES_AT", "CONFIRMED_AT"
        );
        let mut page = 0;
        loop {
            let found = admin.review(operator, stale_days, page).await?;
            for held in &found.grants {
                let g = &held.grant;
                println!(
                    "{:<24}  {:<16}  {:<20}  {:<20}  {:<20}  {:<20}  {}",
                    held.username.as_str(),
                    g.role,
                    g.granted_by.as_deref().unwrap_or("-"),
                    when(g.granted_at),
                    when(g.expires_at),
                    when(g.confirmed_at),
                    when(held.last_sign_in_at),
                );
            }
            if !found.has_next {
                return Ok(());
            }
            page += 1;
        }
    }
    let mut confirm_keys = Vec::new();
    for raw in &confirm {
        confirm_keys.push(grant_named(admin, raw).await?);
    }
    let mut revoke_keys = Vec::new();
    for raw in &revoke {
        revoke_keys.push(grant_named(admin, raw).await?);
    }
    let (confirmed, revoked) = admin
        .decide_grants(operator, &confirm_keys, &revoke_keys)
        .await?;
    let named = |key: &GrantKey, raws: &[String], keys: &[GrantKey]| {
        keys.iter()
            .position(|k| k == key)
            .map_or_else(|| key.to_string(), |i| raws[i].clone())
    };
    for key in &confirmed.decided {
        println!("confirmed {}", named(key, &confirm, &confirm_keys));
    }
    for key in &revoked.decided {
        println!("revoked {}", named(key, &revoke, &revoke_keys));
    }
    for key in &confirmed.not_held {
        println!("not held: {}", named(key, &confirm, &confirm_keys));
    }
    for key in &revoked.not_held {
        println!("not held: {}", named(key, &revoke, &revoke_keys));
    }
    Ok(())
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
        RoleCommand::Grant {
            role,
            username,
            expires,
        } => {
            let expires_at = expires.as_deref().map(reviews::parse_expiry).transpose()?;
            let user = find(admin, &username).await?;
            admin
                .grant_role(&operator, &user, &role, expires_at)
                .await
                .map_err(not_found_as(|| format!("no role named {role}")))?;
            match expires_at {
                Some(at) => println!(
                    "granted {role} to {} until {}",
                    user.username,
                    at.to_rfc3339_opts(SecondsFormat::Secs, true)
                ),
                None => println!("granted {role} to {}", user.username),
            }
        }
        RoleCommand::Revoke { role, username } => {
            let user = find(admin, &username).await?;
            admin
                .revoke_role(&operator, &user, &role)
                .await
                .map_err(not_found_as(|| format!("no role named {role}")))?;
            println!("revoked {role} from {}", user.username);
        }
        RoleCommand::Review {
            stale_days,
            confirm,
            revoke,
        } => review(admin, &operator, stale_days, confirm, revoke).await?,
    }
    Ok(())
}
