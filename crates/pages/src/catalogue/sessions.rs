//! Strings of: account console's sessions page (`/account/sessions`), and the session list the admin console shows for a user.

#[derive(Debug)]
pub struct SessionsText {}

pub static EN: SessionsText = SessionsText {};
