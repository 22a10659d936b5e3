//! The account console's pages.
