//! The admin console's roles and access reviews (`/admin/roles...`, `/admin/reviews`).

/// A page of the roles console.
#[derive(Debug)]
pub enum RolesView {}
