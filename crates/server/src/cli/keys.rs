//! `palisade keys ...`: the signing keys every node shares (docs/keys.md).
//!
//! These commands talk to the database only — never to Redis — so an operator can revoke a
//! key in the middle of an ephemeral-store outage. They use the same master keys as `serve`
//! (`PALISADE_MASTER_KEY` or the data directory's key file, plus
//! `PALISADE_MASTER_KEYS_PREVIOUS`) and the same rotation policy (`PALISADE_KEYS__*`).

use super::CommandError;
use crate::app;
use crate::config::Settings;
use chrono::{DateTime, SecondsFormat, Utc};
use clap::Subcommand;
use palisade_core::SystemClock;
use palisade_core::model::{KeyState, StoredSigningKey};
use palisade_core::ports::{KeyOperationError, SigningAlgorithm};
use palisade_flow::admin::{Caller, KeyAdmin};
use palisade_keys::{KeyError, KeyManager, RotationPolicy};
use palisade_store::Backend;
use std::sync::Arc;
use std::time::Duration;

/// The rotation-lease holder name of every `palisade keys` process. Key commands run rotation
/// steps as a node does, and may take the lease (when no server holds it). One name for all of
/// them means the next command is still the holder: a `revoke` right after a `list` on a fresh
/// database promotes the replacement itself, instead of leaving the algorithm without a signer
/// until the lease expires.
const CLI_NODE_ID: &str = "palisade-cli";

/// How long a command waits for every enabled algorithm to have a signing key (another node
/// may be generating them).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the stored signing keys: kid, algorithm, state and schedule. On a fresh database
    /// it first creates the keys a server would create on its first start.
    List,
    /// Stage a new `next` key now. It is published at once and starts signing after
    /// publish_ahead (PALISADE_KEYS__PUBLISH_AHEAD_HOURS); the current key signs until then.
    Rotate {
        /// Only this algorithm (RS256, ES256 or EdDSA); default: every enabled algorithm.
        #[arg(long, value_parser = parse_algorithm)]
        alg: Option<SigningAlgorithm>,
    },
    /// Emergency: withdraw a key at once. It leaves the JWKS and tokens it signed are refused.
    Revoke {
        /// The key's kid, as `palisade keys list` shows it.
        // A base64url thumbprint: it may start with '-', which must not read as a flag.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
    /// Re-encrypt every private key under the current master key (PALISADE_MASTER_KEY); keys
    /// under an older one are read with PALISADE_MASTER_KEYS_PREVIOUS.
    Rewrap,
}

pub async fn run(cmd: KeysCommand, settings: &Settings) -> Result<(), CommandError> {
    let database = crate::storage::open_migrated_database(settings)
        .await
        .map_err(|e| CommandError::new(e.to_string()))?;
    let master_keys =
        app::master_keys(settings).map_err(|e| CommandError::new(format!("{e:#}")))?;
    let master_key_id = master_keys.current().id().to_owned();
    let clock = Arc::new(SystemClock);
    let manager = Arc::new(
        KeyManager::new(
            Arc::new(database.clone()),
            clock.clone(),
            settings.key_policy.clone(),
            master_keys.clone(),
            CLI_NODE_ID,
        )
        .map_err(key_error)?,
    );
    let keys = crate::storage::key_admin(&database, manager.clone(), Arc::new(master_keys), clock);
    let backend = database.backend();
    match cmd {
        KeysCommand::List => list(&keys, &manager).await,
        KeysCommand::Rotate { alg } => rotate(&keys, &manager, backend, alg).await,
        KeysCommand::Revoke { kid } => revoke(&keys, &manager, backend, &kid).await,
        KeysCommand::Rewrap => rewrap(&keys, &master_key_id).await,
    }
}

async fn list(keys: &KeyAdmin, manager: &KeyManager) -> Result<(), CommandError> {
    let mut listed = keys.list_keys().await?;
    if listed.is_empty() {
        // A fresh database: make the keys a server's first start would make, so that what is
        // listed is what will be served.
        manager
            .ensure_ready(READY_TIMEOUT)
            .await
            .map_err(key_error)?;
        listed = keys.list_keys().await?;
    }
    listed.sort_by_key(listing_order);
    println!(
        "{:<43}  {:<5}  {:<7}  {:<20}  {:<20}  {:<20}  {:<20}  {:<20}  MASTER_KEY",
        "KID", "ALG", "STATE", "CREATED", "ACTIVATES", "ACTIVATED", "RETIRED", "REMOVE_AFTER"
    );
    for k in &listed {
        println!(
            "{:<43}  {:<5}  {:<7}  {:<20}  {:<20}  {:<20}  {:<20}  {:<20}  {}",
            k.kid,
            k.alg,
            k.state.as_str(),
            timestamp(Some(k.created_at)),
            timestamp(Some(k.activates_at)),
            timestamp(k.activated_at),
            timestamp(k.retired_at),
            timestamp(k.remove_after),
            k.master_key_id
        );
    }
    Ok(())
}

async fn rotate(
    keys: &KeyAdmin,
    manager: &KeyManager,
    backend: Backend,
    alg: Option<SigningAlgorithm>,
) -> Result<(), CommandError> {
    // Bootstrap first: a `next` key staged on an empty ring would be promoted at once, which
    // is not what "rotate" promises.
    manager
        .ensure_ready(READY_TIMEOUT)
        .await
        .map_err(key_error)?;
    for key in keys.rotate_keys(&Caller::operator(), alg).await? {
        println!(
            "staged {} ({}): published now as next, signs from {}",
            key.kid,
            key.alg,
            timestamp(Some(key.activates_at))
        );
    }
    println!(
        "{} publishes the new keys {}; the current keys sign until the new ones activate.",
        running_nodes(backend),
        when_nodes_apply(backend, manager.policy())
    );
    Ok(())
}

async fn revoke(
    keys: &KeyAdmin,
    manager: &KeyManager,
    backend: Backend,
    kid: &str,
) -> Result<(), CommandError> {
    let revoked = keys
        .revoke_key(&Caller::operator(), kid)
        .await
        .map_err(super::not_found_as(|| {
            format!("no signing key with kid {kid}")
        }))?;
    let key = &revoked.key;
    if revoked.was == KeyState::Revoked {
        println!("{kid} ({}) is already revoked", key.alg);
        return Ok(());
    }
    let policy = manager.policy();
    println!("revoked {kid} ({}, was {})", key.alg, revoked.was.as_str());
    print_revocation_consequences(policy, backend);
    if revoked.was == KeyState::Current {
        let replacement = keys
            .list_keys()
            .await?
            .into_iter()
            .find(|k| k.alg == key.alg && k.state == KeyState::Current);
        match replacement {
            Some(new) => println!(
                "- {} now signs {} in its place: it became current in the same transaction as the revocation, so no node is left without a {} key; {} switches to it {}.",
                new.kid,
                key.alg,
                key.alg,
                running_nodes(backend).to_lowercase(),
                when_nodes_apply(backend, policy)
            ),
            None => println!(
                "- No {0} key is current: {0} is not an enabled algorithm (PALISADE_KEYS__ALGORITHMS), so nothing signs with it.",
                key.alg
            ),
        }
    }
    Ok(())
}

/// Who applies a key change the command wrote.
fn running_nodes(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "Every running node",
        Backend::Sqlite => "A server running on this database",
    }
}

/// When running servers apply a key change the command wrote: PostgreSQL announces it to every
/// node's change feed; an SQLite server (one node, no feed) finds it at its next refresh.
fn when_nodes_apply(backend: Backend, policy: &RotationPolicy) -> String {
    let refresh = human_duration(policy.refresh_interval);
    match backend {
        Backend::Postgres => format!(
            "within a second (the database announces the change; a node whose change feed is reconnecting, at its next key refresh, within {refresh})"
        ),
        Backend::Sqlite => format!(
            "at its next key refresh (within {refresh}; the admin API and console apply key changes at once, and a restarted server does too)"
        ),
    }
}

/// What an operator must know after a revocation (docs/keys.md, "Emergency revocation").
fn print_revocation_consequences(policy: &RotationPolicy, backend: Backend) {
    let max_age = human_duration(policy.jwks_max_age);
    println!("Consequences:");
    println!(
        "- It is withdrawn in the database now. {} stops publishing it, stops signing with it and refuses the tokens it signed {}.",
        running_nodes(backend),
        when_nodes_apply(backend, policy)
    );
    println!(
        "- Relying parties that cached the JWKS may accept its tokens until their copy expires (Cache-Control max-age, {max_age}); ask them to refetch the JWKS now."
    );
    println!(
        "- Every access and ID token it signed is now invalid: clients must obtain new ones (refresh tokens are opaque and still work)."
    );
}

async fn rewrap(keys: &KeyAdmin, master_key_id: &str) -> Result<(), CommandError> {
    let outcome = keys.rewrap_keys(&Caller::operator(), master_key_id).await?;
    println!(
        "re-encrypted {} signing key(s) and {} TOTP secret(s) under master key {master_key_id}",
        outcome.rewrapped, outcome.factor_secrets
    );
    if outcome.skipped > 0 {
        println!(
            "skipped {} key(s) that another writer changed meanwhile: run `palisade keys rewrap` again",
            outcome.skipped
        );
    } else {
        println!(
            "Every key is now under master key {master_key_id}: once every node runs with it as PALISADE_MASTER_KEY, remove the old keys from PALISADE_MASTER_KEYS_PREVIOUS."
        );
    }
    Ok(())
}

fn key_error(e: KeyError) -> CommandError {
    CommandError::new(KeyOperationError::from(e).to_string())
}

fn parse_algorithm(raw: &str) -> Result<SigningAlgorithm, String> {
    SigningAlgorithm::parse(raw)
        .ok_or_else(|| format!("unknown algorithm {raw:?}: expected RS256, ES256 or EdDSA"))
}

/// By algorithm, then next, current, retired, revoked, then by schedule.
fn listing_order(k: &StoredSigningKey) -> (usize, u8, DateTime<Utc>, String) {
    let alg = SigningAlgorithm::ALL
        .iter()
        .position(|a| a.as_str() == k.alg)
        .unwrap_or(usize::MAX);
    let state = match k.state {
        KeyState::Next => 0,
        KeyState::Current => 1,
        KeyState::Retired => 2,
        KeyState::Revoked => 3,
    };
    (alg, state, k.activates_at, k.kid.clone())
}

/// RFC 3339 in UTC to the second, or `-`.
fn timestamp(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(
        || "-".to_owned(),
        |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

/// `90 s`, `10 min`, `24 h`, `30 d`: the largest unit that divides the duration exactly.
fn human_duration(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("min", 60)] {
        if secs != 0 && secs % size == 0 {
            return format!("{} {unit}", secs / size);
        }
    }
    format!("{secs} s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_their_largest_exact_unit() {
        let cases = [
            (chrono::Duration::seconds(90), "90 s"),
            (chrono::Duration::minutes(10), "10 min"),
            (chrono::Duration::hours(1), "1 h"),
            (chrono::Duration::hours(24), "1 d"),
            (chrono::Duration::days(30), "30 d"),
            (chrono::Duration::zero(), "0 s"),
        ];
        for (duration, expected) in cases {
            assert_eq!(human_duration(duration), expected);
        }
    }

    #[test]
    fn algorithms_parse_by_their_jose_names_only() {
        assert_eq!(parse_algorithm("ES256"), Ok(SigningAlgorithm::ES256));
        assert!(parse_algorithm("es256").is_err());
        assert!(parse_algorithm("HS256").is_err());
    }
}
