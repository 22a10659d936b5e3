//! Palisade's protocol engine.
//!
//! Pure async logic over the ports declared in `palisade-core`: no actix, no Diesel, no Redis.
//! Layers read top-down, as in oxide-auth (docs/adr/0002-own-flow-engine.md):
//!
//! - primitives: [`password`], [`guard`] (attempt limits, lockout), [`pkce`], [`redirect_uri`],
//!   [`scope`], [`prompt`];
//! - state: [`grant`], [`session`], [`interaction`], [`revocation`];
//! - endpoints: [`authorize`] (validation), [`interaction`] (login/consent decisions),
//!   [`token`] (one module per grant), [`userinfo`], [`logout`], [`introspection`],
//!   [`token_revocation`], [`registration`] (with [`client_auth`] and [`client_assertion`]);
//!   [`device`] (RFC 8628: device authorization and the user-code page);
//!   [`par`] (pushed authorization requests) and [`resource`] (resource indicators);
//!   [`web_origin`] (which browser origins may call: CORS);
//! - [`server::AuthorizationServer`] holds the ports and the policy.

pub mod account_events;
pub mod account_security;
pub mod admin;
pub mod audit;
pub mod authorize;
pub mod client_assertion;
pub mod client_auth;
pub mod client_id_document;
pub mod console;
pub mod device;
pub mod dpop;
pub mod grant;
pub mod guard;
pub mod housekeeping;
pub mod interaction;
pub mod introspection;
pub mod issue;
pub mod login;
pub mod logout;
pub mod mfa;
pub mod par;
pub mod password;
pub mod pkce;
pub mod prompt;
pub mod redirect_uri;
pub mod registration;
pub mod resource;
pub mod revocation;
pub mod scope;
pub mod server;
pub mod session;
pub mod token;
pub mod token_revocation;
pub mod token_settings;
pub mod userinfo;
pub mod web_origin;

#[cfg(test)]
mod test_server;

pub use server::{AuthorizationServer, TokenPolicy};
pub use token_settings::TokenSettings;
