//! Palisade's protocol engine.
//!
//! Pure async logic over the ports declared in `palisade-core`: no actix, no Diesel, no Redis.
//! Layers read top-down, as in oxide-auth (docs/adr/0002-own-flow-engine.md): primitives
//! (passwords, PKCE, redirect URIs), then grant logic, then endpoints.

pub mod password;
pub mod pkce;
pub mod prompt;
pub mod redirect_uri;
pub mod scope;
