//! The admin console's pages.
