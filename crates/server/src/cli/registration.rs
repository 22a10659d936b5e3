//! `palisade registration ...`: initial access tokens for `registration.mode = token`
//! (RFC 7591 §3: the registration endpoint may require one).
//!
//! A token is printed once and stored as a SHA-256 hash; its id (not the token) names it in
//! `list` and `revoke`.

use super::{CommandError, not_found_as};
use chrono::Duration;
use clap::Subcommand;
use palisade_core::model::InitialAccessToken;
use palisade_flow::admin::{Admin, Caller};

#[derive(Debug, Subcommand)]
pub enum RegistrationCommand {
    /// Mint an initial access token; printed once.
    Token {
        /// How long it may be used: 30m, 24h, 7d, 3600s, or `never`.
        #[arg(long, default_value = "24h", value_parser = parse_lifetime)]
        expires_in: Lifetime,
        /// How many clients it may register (default: unlimited until it expires).
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
        max_uses: Option<i32>,
    },
    /// List initial access tokens (ids, expiry, uses; never the tokens).
    List,
    /// Revoke an initial access token by its id.
    Revoke {
        // Generated ids may start with '-', which must not read as a flag.
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
}

/// A token lifetime: some duration, or no expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    For(Duration),
    Never,
}

/// `30m`, `24h`, `7d`, `3600s` or `never`.
pub fn parse_lifetime(raw: &str) -> Result<Lifetime, String> {
    if raw == "never" {
        return Ok(Lifetime::Never);
    }
    let bad = || format!("{raw:?} is not a lifetime such as 30m, 24h, 7d or never");
    // Split before the last character (not byte), so a non-ASCII unit is refused, not a panic.
    let split = raw.char_indices().last().map(|(i, _)| i).ok_or_else(bad)?;
    let (number, unit) = raw.split_at(split);
    let n: i64 = number.parse().map_err(|_| bad())?;
    if n <= 0 {
        return Err(bad());
    }
    let duration = match unit {
        "s" => Duration::try_seconds(n),
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        _ => None,
    };
    duration.map(Lifetime::For).ok_or_else(bad)
}

pub async fn run(cmd: RegistrationCommand, admin: &Admin) -> Result<(), CommandError> {
    let operator = Caller::operator();
    match cmd {
        RegistrationCommand::Token {
            expires_in,
            max_uses,
        } => {
            let lifetime = match expires_in {
                Lifetime::For(d) => Some(d),
                Lifetime::Never => None,
            };
            let minted = admin
                .mint_initial_access_token(&operator, lifetime, max_uses)
                .await?;
            let token = &minted.token;
            println!("initial_access_token: {}", minted.raw);
            println!("id: {}", token.id);
            println!("expires_at: {}", describe_expiry(token));
            println!(
                "max_uses: {}",
                max_uses.map_or("unlimited".to_owned(), |m| m.to_string())
            );
            eprintln!(
                "The token is shown only now; send it as `Authorization: Bearer` to /register."
            );
        }
        RegistrationCommand::List => {
            println!("{:<32}  {:<25}  {:<9}  CREATED", "ID", "EXPIRES", "USES");
            for t in admin.list_initial_access_tokens().await? {
                let uses = match t.max_uses {
                    Some(max) => format!("{}/{max}", t.uses),
                    None => t.uses.to_string(),
                };
                println!(
                    "{:<32}  {:<25}  {:<9}  {}",
                    t.id,
                    describe_expiry(&t),
                    uses,
                    t.created_at.to_rfc3339()
                );
            }
        }
        RegistrationCommand::Revoke { id } => {
            admin
                .revoke_initial_access_token(&operator, &id)
                .await
                .map_err(not_found_as(|| format!("no initial access token {id}")))?;
            println!("revoked initial access token {id}");
        }
    }
    Ok(())
}

fn describe_expiry(t: &InitialAccessToken) -> String {
    t.expires_at
        .map_or("never".to_owned(), |at| at.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_read_like_durations() {
        assert_eq!(
            parse_lifetime("24h"),
            Ok(Lifetime::For(Duration::hours(24)))
        );
        assert_eq!(
            parse_lifetime("30m"),
            Ok(Lifetime::For(Duration::minutes(30)))
        );
        assert_eq!(parse_lifetime("7d"), Ok(Lifetime::For(Duration::days(7))));
        assert_eq!(
            parse_lifetime("90s"),
            Ok(Lifetime::For(Duration::seconds(90)))
        );
        assert_eq!(parse_lifetime("never"), Ok(Lifetime::Never));
        for bad in [
            "",
            "h",
            "0h",
            "-1h",
            "24",
            "24x",
            "1.5h",
            "99999999999999d",
            "5é",
            "é",
        ] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }
}
