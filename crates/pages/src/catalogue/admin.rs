//! The admin console's strings (see the catalogue's module comment).

#[derive(Debug)]
pub struct AdminText {}

pub static EN: AdminText = AdminText {};
