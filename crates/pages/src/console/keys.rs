//! The admin console's signing keys (`/admin/keys`): the lifecycle as a timeline, rotate and revoke.
