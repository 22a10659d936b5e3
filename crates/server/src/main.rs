//! `palisade`: serve, migrate, and manage users, roles, clients and signing keys.

use clap::Parser;
use palisade::cli::{Cli, Command, admin, client, keys, registration, role, user};
use palisade::config::Settings;
use palisade::storage::Storage;
use palisade::{Application, telemetry};
use palisade_core::SystemClock;
use palisade_flow::admin::Admin;
use palisade_flow::password::PasswordHasher;
use std::process::ExitCode;
use std::sync::Arc;

/// Exit code for configuration errors, so scripts can tell them from runtime failures.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut settings = match Settings::load(cli.config.as_deref(), cli.insecure_dev) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("palisade: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Some(format) = cli.log_format {
        settings.log_format = format;
    }
    let command = cli.command.unwrap_or(Command::Serve);
    let quiet = !matches!(command, Command::Serve);
    // CLI commands log only warnings so their output stays readable.
    let filter = if quiet {
        "warn"
    } else {
        settings.log_filter.as_str()
    };
    // Dropping it writes out the lines still buffered.
    let logs = match telemetry::init(settings.log_format, filter) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("palisade: cannot start the log writer: {e}");
            return ExitCode::FAILURE;
        }
    };

    let result = actix_web::rt::System::new().block_on(run(command, settings));
    // Buffered lines first, so a fatal error below is the last thing printed.
    drop(logs);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("palisade: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let app = Application::build(settings.clone(), Arc::new(SystemClock)).await?;
            tracing::info!(
                issuer = %settings.issuer,
                bind = %settings.bind,
                port = app.port(),
                database = settings.database_url.backend().as_str(),
                ephemeral = if settings.redis_url.is_some() { "redis" } else { "in-process" },
                "palisade is serving"
            );
            palisade::shutdown::run_until_signalled(app).await?;
            tracing::info!("palisade stopped");
        }
        Command::Migrate => {
            let storage = Storage::open(&settings).await?;
            let applied = storage.sql.migrate().await?;
            if applied.is_empty() {
                println!("the database is up to date");
            } else {
                for version in applied {
                    println!("applied {version}");
                }
            }
        }
        Command::User(cmd) => user::run(cmd, &open_admin(&settings).await?).await?,
        Command::Admin(cmd) => admin::run(cmd, &open_admin(&settings).await?).await?,
        Command::Role(cmd) => role::run(cmd, &open_admin(&settings).await?).await?,
        Command::Client(cmd) => client::run(cmd, &open_admin(&settings).await?).await?,
        Command::Registration(cmd) => registration::run(cmd, &open_admin(&settings).await?).await?,
        Command::Keys(cmd) => keys::run(cmd, &settings).await?,
    }
    Ok(())
}

/// The administration service for a management command. Management commands work on a fresh
/// data directory too: they migrate first.
async fn open_admin(settings: &Settings) -> anyhow::Result<Admin> {
    let storage = Storage::open(settings).await?;
    storage.sql.migrate().await?;
    let passwords = PasswordHasher::new(settings.argon2, settings.hash_concurrency)?;
    Ok(storage.admin(settings, passwords, Arc::new(SystemClock), None))
}
