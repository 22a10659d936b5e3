//! `palisade admin init`: the first administrator, on a fresh installation
//! (`palisade_flow::admin::bootstrap` holds the rules).
//!
//! The operator chooses the password, typed twice on a terminal or piped with
//! `--password-stdin` (for automation). More administrators are made with `palisade role grant
//! admin USERNAME` (an operator with database access) or `PUT /admin/v1/users/{id}/roles/admin`
//! (an administrator).

use super::CommandError;
use super::user::read_new_password;
use clap::Subcommand;
use palisade_flow::admin::users::NewAccount;
use palisade_flow::admin::{Admin, Caller};

pub use palisade_flow::admin::bootstrap::ADMIN_ROLE;

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

pub async fn run(cmd: AdminCommand, admin: &Admin) -> Result<(), CommandError> {
    match cmd {
        AdminCommand::Init {
            username,
            email,
            password_stdin,
        } => {
            // Refuse before asking for a password that could not be used.
            admin.check_administrator_init(&username).await?;
            let password = read_new_password(password_stdin)?;
            let user = admin
                .init_administrator(
                    &Caller::operator(),
                    NewAccount {
                        username: &username,
                        password: &password,
                        email: email.as_deref(),
                        display_name: None,
                    },
                )
                .await?;
            println!("created administrator {} ({})", user.username, user.id);
            println!(
                "To use the admin API, sign in through a client registered for the `admin` scope (docs/admin-api.md)."
            );
        }
    }
    Ok(())
}
