//! `palisade client ...`: the operator's side of client registration.
//!
//! `add` builds the same metadata document a dynamic registration would send and hands it to
//! `palisade_flow::admin` as the admin API does (validated as the operator: reserved scopes
//! such as `roles` are allowed here and nowhere else). Secrets are printed once and stored as
//! SHA-256 hashes. The CLI writes to the database directly; running servers see a change
//! when PostgreSQL announces it (within a second, `crate::change_feed`), at most after their
//! client cache's lifetime (5 s, the bound on SQLite).

use super::{CommandError, not_found_as};
use clap::Subcommand;
use palisade_core::model::Client;
use palisade_flow::admin::{Admin, Caller};
use palisade_flow::client_assertion::ClientJwks;
use palisade_flow::registration::Registered;
use serde_json::{Map, Value, json};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its client_id and, once, its secret.
    Add {
        /// The name users see on the consent page.
        #[arg(long)]
        name: String,
        /// A redirect URI (repeat for several); required for the authorization_code grant.
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Where the browser may go after logout (repeat for several).
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (no secret; token_endpoint_auth_method none): SPAs, mobile, CLIs.
        #[arg(long)]
        public: bool,
        /// A native app (private-use scheme or loopback redirect URIs, any loopback port).
        #[arg(long)]
        native: bool,
        /// A grant type (repeat): authorization_code, refresh_token, client_credentials,
        /// urn:ietf:params:oauth:grant-type:device_code (RFC 8628, no redirect URI needed).
        /// Default: authorization_code and refresh_token.
        #[arg(long = "grant", value_name = "GRANT")]
        grants: Vec<String>,
        /// A scope the client may request beyond openid, profile, email, offline_access
        /// (repeat); for client_credentials, the scopes its tokens may carry.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// client_secret_basic (default), client_secret_post, private_key_jwt or none.
        #[arg(long, value_name = "METHOD")]
        auth_method: Option<String>,
        /// The client's public keys (a JWK Set file), for private_key_jwt.
        #[arg(long, value_name = "FILE")]
        jwks_file: Option<PathBuf>,
        /// Sign this client's ID tokens with RS256 (default), ES256 or EdDSA.
        #[arg(long, value_name = "ALG")]
        id_token_alg: Option<String>,
        /// Users signing in to this client must use a second factor.
        #[arg(long)]
        require_mfa: bool,
        /// Every access token of this client must be DPoP-bound (RFC 9449).
        #[arg(long)]
        dpop_bound: bool,
        /// The client must push its authorization requests to /par first (RFC 9126).
        #[arg(long)]
        require_par: bool,
        /// A resource (absolute URI, RFC 8707) the client may ask tokens for (repeat); each
        /// must also be listed in the server's `[[resources]]` setting.
        #[arg(long = "resource", value_name = "URI")]
        resources: Vec<String>,
    },
    /// List registered clients.
    List,
    // Generated ids are base64url: one in 64 starts with '-', which must not read as a flag.
    /// Show a client's registered metadata (never its secret).
    Show {
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
    /// Issue a new secret (printed once); the old one stops working.
    RotateSecret {
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
    /// Delete a client with its consents and refresh tokens.
    Remove {
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
    /// Require a second factor of users signing in to the client (--off: stop requiring it).
    RequireMfa {
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        #[arg(long)]
        off: bool,
    },
}

pub async fn run(cmd: ClientCommand, admin: &Admin) -> Result<(), CommandError> {
    let operator = Caller::operator();
    match cmd {
        ClientCommand::Add {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            native,
            grants,
            scopes,
            auth_method,
            jwks_file,
            id_token_alg,
            require_mfa,
            dpop_bound,
            require_par,
            resources,
        } => {
            let auth_method = match (public, auth_method) {
                (true, Some(m)) if m != "none" => {
                    return Err(CommandError::new("--public clients use --auth-method none"));
                }
                (true, _) => "none".to_owned(),
                (false, m) => m.unwrap_or_else(|| "client_secret_basic".into()),
            };
            let grants = if grants.is_empty() {
                vec!["authorization_code".to_owned(), "refresh_token".to_owned()]
            } else {
                grants
            };
            let mut body = Map::new();
            body.insert("client_name".into(), json!(name));
            body.insert(
                "application_type".into(),
                json!(if native { "native" } else { "web" }),
            );
            body.insert("token_endpoint_auth_method".into(), json!(auth_method));
            body.insert("grant_types".into(), json!(grants));
            body.insert("redirect_uris".into(), json!(redirect_uris));
            body.insert(
                "post_logout_redirect_uris".into(),
                json!(post_logout_redirect_uris),
            );
            if !scopes.is_empty() {
                body.insert("scope".into(), json!(scopes.join(" ")));
            }
            if let Some(alg) = id_token_alg {
                body.insert("id_token_signed_response_alg".into(), json!(alg));
            }
            for (member, set) in [
                ("require_mfa", require_mfa),
                ("dpop_bound_access_tokens", dpop_bound),
                ("require_pushed_authorization_requests", require_par),
            ] {
                if set {
                    body.insert(member.into(), json!(true));
                }
            }
            if !resources.is_empty() {
                body.insert("resources".into(), json!(resources));
            }
            if let Some(path) = jwks_file {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    CommandError::new(format!("cannot read {}: {e}", path.display()))
                })?;
                let jwks: Value = serde_json::from_str(&text).map_err(|e| {
                    CommandError::new(format!("{} is not JSON: {e}", path.display()))
                })?;
                body.insert("jwks".into(), jwks);
            }
            let registered = admin
                .register_client(&operator, &Value::Object(body))
                .await?;
            print_credentials(&registered);
        }
        ClientCommand::List => {
            println!(
                "{:<44}  {:<12}  {:<28}  NAME",
                "CLIENT_ID", "TYPE", "GRANTS"
            );
            for c in admin.list_clients().await? {
                println!(
                    "{:<44}  {:<12}  {:<28}  {}",
                    c.id,
                    c.client_type.as_str(),
                    c.grant_types
                        .iter()
                        .map(|g| g.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    c.name
                );
            }
        }
        ClientCommand::Show { client_id } => {
            let client = admin
                .find_client(&client_id)
                .await
                .map_err(no_client(&client_id))?;
            show(&client);
        }
        ClientCommand::RotateSecret { client_id } => {
            let rotated = admin
                .rotate_client_secret(&operator, &client_id)
                .await
                .map_err(no_client(&client_id))?;
            print_credentials(&rotated);
        }
        ClientCommand::Remove { client_id } => {
            admin
                .remove_client(&operator, &client_id)
                .await
                .map_err(no_client(&client_id))?;
            println!("removed client {client_id}");
        }
        ClientCommand::RequireMfa { client_id, off } => {
            let client = admin
                .find_client(&client_id)
                .await
                .map_err(no_client(&client_id))?;
            // The client's own metadata with one member changed: an update replaces every
            // member (RFC 7592 §2.2), and the identifiers in the document are ignored.
            let current = Registered {
                client,
                client_secret: None,
                registration_access_token: None,
            };
            let mut body = current.to_response(None);
            body.insert("require_mfa".into(), json!(!off));
            let updated = admin
                .update_client(&operator, &client_id, &Value::Object(body))
                .await
                .map_err(no_client(&client_id))?;
            if updated.client.require_mfa {
                println!("client {client_id} now requires a second factor");
            } else {
                println!("client {client_id} no longer requires a second factor");
            }
        }
    }
    Ok(())
}

fn no_client(id: &str) -> impl FnOnce(palisade_flow::admin::AdminError) -> CommandError {
    let message = format!("no client {id}");
    not_found_as(move || message)
}

fn print_credentials(registered: &Registered) {
    println!("client_id: {}", registered.client.id);
    if let Some(secret) = &registered.client_secret {
        println!("client_secret: {secret}");
        eprintln!("The secret is shown only now; Palisade keeps only its hash.");
    }
}

fn show(c: &Client) {
    let list = |items: &[String]| {
        if items.is_empty() {
            "-".to_owned()
        } else {
            items.join(" ")
        }
    };
    println!("client_id:                  {}", c.id);
    println!("name:                       {}", c.name);
    println!("type:                       {}", c.client_type.as_str());
    println!("application_type:           {}", c.application_type);
    println!(
        "token_endpoint_auth_method: {}",
        c.token_endpoint_auth_method
    );
    let grant_types: Vec<String> = c.grant_types.iter().map(|g| g.to_string()).collect();
    println!("grant_types:                {}", list(&grant_types));
    println!("response_types:             {}", list(&c.response_types));
    println!("redirect_uris:              {}", list(&c.redirect_uris));
    println!(
        "post_logout_redirect_uris:  {}",
        list(&c.post_logout_redirect_uris)
    );
    println!("scope:                      {}", list(&c.scopes));
    println!(
        "id_token_signed_response_alg: {}",
        c.id_token_signed_response_alg
            .map_or("RS256 (default)", |alg| alg.as_str())
    );
    let keys = c
        .jwks
        .as_deref()
        .and_then(|j| ClientJwks::parse_stored(j).ok())
        .map_or(0, |k| k.len());
    println!("jwks keys:                  {keys}");
    println!(
        "require_mfa:                {}",
        if c.require_mfa { "yes" } else { "no" }
    );
    println!(
        "dpop_bound_access_tokens:   {}",
        if c.dpop_bound_access_tokens {
            "yes"
        } else {
            "no"
        }
    );
    println!(
        "require_pushed_auth_reqs:   {}",
        if c.require_pushed_authorization_requests {
            "yes"
        } else {
            "no"
        }
    );
    println!("resources:                  {}", list(&c.resources));
    println!(
        "has secret:                 {}",
        if c.secret_hash.is_some() { "yes" } else { "no" }
    );
    println!(
        "registered by:              {}",
        if c.registration_access_token_hash.is_some() {
            "dynamic registration"
        } else {
            "operator"
        }
    );
    println!("registered at:              {}", c.created_at.to_rfc3339());
}
