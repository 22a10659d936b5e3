//! The account console's sessions page (`/account/sessions`), and the session list the admin console shows for a user.
