//! Palisade's protocol engine.
//!
//! Pure async logic over the ports declared in `palisade-core`: no actix, no Diesel, no Redis.
//! Layers read top-down, as in oxide-auth (docs/adr/0002-own-flow-engine.md):
//!
//! - primitives: [`password`], [`pkce`], [`redirect_uri`], [`scope`], [`prompt`];
//! - state: [`grant`], [`session`], [`interaction`], [`revocation`];
//! - endpoints: [`authorize`] (validation), [`interaction`] (login/consent decisions),
//!   [`token`] (one module per grant), [`userinfo`], [`logout`];
//! - [`server::AuthorizationServer`] holds the ports and the policy.

pub mod authorize;
pub mod client_auth;
pub mod grant;
pub mod interaction;
pub mod issue;
pub mod login;
pub mod logout;
pub mod password;
pub mod pkce;
pub mod prompt;
pub mod redirect_uri;
pub mod revocation;
pub mod scope;
pub mod server;
pub mod session;
pub mod token;
pub mod userinfo;

pub use server::{AuthorizationServer, TokenPolicy};
