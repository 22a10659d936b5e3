//! Strings of: admin console's signing keys (`/admin/keys`): the lifecycle as a timeline, rotate and revoke.

#[derive(Debug)]
pub struct KeysText {}

pub static EN: KeysText = KeysText {};
