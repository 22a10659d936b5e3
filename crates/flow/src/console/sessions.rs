//! The account console's sessions page (`/account/sessions`), and the session list the admin console shows for a user.

/// A page of this area.
#[derive(Debug)]
pub enum SessionsView {}
