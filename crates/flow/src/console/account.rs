//! The self-service account console (`/account/...`).

/// A page of the account console.
#[derive(Debug)]
pub enum AccountView {}
