//! The account console's strings (see the catalogue's module comment).

#[derive(Debug)]
pub struct AccountText {}

pub static EN: AccountText = AccountText {};
