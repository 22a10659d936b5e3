//! The operator command line. Every command reads the same configuration as `serve`, and
//! every management command is a call to `palisade_flow::admin` as the operator
//! ([`palisade_flow::admin::Caller::operator`]): the rules are the admin API's, the output is
//! the terminal's.

use crate::config::LogFormat;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

pub mod admin;
pub mod client;
pub mod keys;
pub mod registration;
pub mod role;
pub mod user;

#[derive(Debug, Parser)]
#[command(
    name = "palisade",
    version,
    about = "An OAuth 2.0 / OpenID Connect authorization server"
)]
pub struct Cli {
    /// A TOML configuration file (settings in it are overridden by PALISADE_* variables).
    #[arg(long, global = true, env = "PALISADE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Allow argon2 parameters below the OWASP minimum (development only; same as
    /// PALISADE_INSECURE_DEV=true).
    #[arg(long, global = true)]
    pub insecure_dev: bool,
    /// Log format; overrides PALISADE_LOG_FORMAT.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default when no command is given).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(user::UserCommand),
    /// First-start bootstrap: `admin init` creates the first administrator.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Manage roles and who holds them.
    #[command(subcommand)]
    Role(role::RoleCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Initial access tokens for dynamic client registration (registration.mode = token).
    #[command(subcommand)]
    Registration(registration::RegistrationCommand),
    /// Inspect, rotate, revoke and re-encrypt the signing keys (docs/keys.md).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
}

/// An error a command reports to the operator; its message is printed as is.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CommandError(pub String);

impl CommandError {
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

impl From<palisade_core::StoreError> for CommandError {
    fn from(e: palisade_core::StoreError) -> Self {
        Self(e.to_string())
    }
}

impl From<palisade_flow::admin::AdminError> for CommandError {
    fn from(e: palisade_flow::admin::AdminError) -> Self {
        Self(e.to_string())
    }
}

/// `NotFound` as the operator's words for it (`no user named bob`); other errors as they are.
pub(crate) fn not_found_as(
    what: impl FnOnce() -> String,
) -> impl FnOnce(palisade_flow::admin::AdminError) -> CommandError {
    move |e| match e {
        palisade_flow::admin::AdminError::NotFound(_) => CommandError(what()),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_that_start_with_a_hyphen_are_ids_not_flags() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("palisade").chain(args.iter().copied()))
                .unwrap_or_else(|e| panic!("{args:?}: {e}"))
                .command
        };
        let id = "-4hSg0pQ_Zk3x2tYb9nLrWcVfEeJdA1uMiOyT7sKqHg";
        for args in [
            ["client", "show", id],
            ["client", "rotate-secret", id],
            ["client", "remove", id],
            ["client", "require-mfa", id],
            ["keys", "revoke", id],
            ["registration", "revoke", id],
        ] {
            let parsed = match parse(&args) {
                Some(Command::Client(
                    client::ClientCommand::Show { client_id }
                    | client::ClientCommand::RotateSecret { client_id }
                    | client::ClientCommand::Remove { client_id }
                    | client::ClientCommand::RequireMfa { client_id, .. },
                )) => client_id,
                Some(Command::Keys(keys::KeysCommand::Revoke { kid })) => kid,
                Some(Command::Registration(registration::RegistrationCommand::Revoke { id })) => id,
                other => panic!("{args:?} parsed as {other:?}"),
            };
            assert_eq!(parsed, id, "{args:?}");
        }
        // Help still works.
        let help = Cli::try_parse_from(["palisade", "client", "show", "--help"]).unwrap_err();
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
    }
}
