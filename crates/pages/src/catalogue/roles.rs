//! The roles console's strings (see the catalogue's module comment).

#[derive(Debug)]
pub struct RolesText {}

pub static EN: RolesText = RolesText {};
