//! The roles console's pages.
