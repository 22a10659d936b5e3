//! Device authorization grant: RFC 8628. A device without a browser (a CLI, a TV) asks
//! `/device_authorization` for a device code and a short user code (§3.1-3.2); the user types the
//! user code at `/device` on another screen, signs in and consents there (§3.3, through the
//! ordinary interaction, which ends in approving the device instead of a redirect); meanwhile the
//! device polls `/token` with the device code (§3.4-3.5).
//!
//! State lives in the ephemeral store for the device code's lifetime, under four keys per
//! request, all named by hashes so the store never holds a usable code:
//!
//! - `device:<hash of device code>`: the pending request ([`DeviceRequest`]);
//! - `device-user:<hash of user code>`: which device code a user code stands for. The user's
//!   decision *takes* it (atomic), so one user code is decided once, by one browser;
//! - `device-decision:<hash of device code>`: the decision ([`DeviceDecision`]). The poll that
//!   finds it approved *takes* it, so of any number of polls exactly one gets tokens;
//! - `device-poll:<hash of device code>`: when the device last polled and its current interval
//!   (§3.5 `slow_down`: every too-fast poll adds 5 s).

mod authorization;
mod user_code;
mod verification;

pub use authorization::DeviceAuthorizationResponse;
pub use user_code::{USER_CODE_ALPHABET, UserCode};
pub use verification::DeviceEntrySubmission;

use crate::grant::Grant;
use crate::scope::ScopeSet;
use chrono::Duration;
use palisade_core::TokenHash;
use serde::{Deserialize, Serialize};

/// Lifetimes of the device flow (`[device]`, docs/device-flow.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceSettings {
    /// How long a device code (and its user code) stays valid: `expires_in` (RFC 8628 §3.2).
    pub code_ttl: Duration,
    /// The least time between two polls, before any `slow_down`: `interval` (RFC 8628 §3.2).
    pub interval: Duration,
}

impl Default for DeviceSettings {
    fn default() -> Self {
        Self {
            // RFC 8628 §3.2's example lifetime (1800 s) is longer than a user needs to walk
            // to another screen; ten minutes also caps what a guesser can try per code.
            code_ttl: Duration::seconds(600),
            // RFC 8628 §3.2: 5 s when the server says nothing.
            interval: Duration::seconds(5),
        }
    }
}

/// RFC 8628 §3.5: each `slow_down` adds this to the interval, for this and every later poll.
pub const SLOW_DOWN_STEP: Duration = Duration::seconds(5);

/// How long after its expiry the request is kept, so a late poll hears `expired_token` rather
/// than `invalid_grant` (the clock decides expiry; the store's TTL only cleans up).
const EXPIRED_GRACE: Duration = Duration::seconds(600);

/// A device's request, waiting for the user's decision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DeviceRequest {
    pub client_id: String,
    pub client_name: String,
    pub scope: ScopeSet,
    /// Unix seconds, by the engine's clock.
    pub expires_at: i64,
}

/// What the user decided for a device's request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum DeviceDecision {
    Approved(Grant),
    Denied,
}

/// The device's polling state (RFC 8628 §3.5).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct PollState {
    /// Unix seconds of the last poll.
    pub last_poll: i64,
    /// The interval in force, grown by every `slow_down`.
    pub interval_secs: i64,
}

/// What an interaction started at `/device` ends in: approving this device request (carried
/// in [`crate::authorize::Ending::ApproveDevice`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDevice {
    /// The hash of the device code, which names the request's keys.
    pub device_code_hash: String,
    /// The hash of the normalised user code, which the decision takes.
    pub user_code_hash: String,
    /// As shown on the device (`XXXX-XXXX`), for the consent page (RFC 8628 §5.4).
    pub user_code: String,
}

pub(crate) fn request_key(device_code_hash: &str) -> String {
    format!("device:{device_code_hash}")
}

pub(crate) fn user_code_key(user_code_hash: &str) -> String {
    format!("device-user:{user_code_hash}")
}

pub(crate) fn decision_key(device_code_hash: &str) -> String {
    format!("device-decision:{device_code_hash}")
}

pub(crate) fn poll_key(device_code_hash: &str) -> String {
    format!("device-poll:{device_code_hash}")
}

/// The hash a raw device code is stored and looked up by.
pub(crate) fn device_code_hash(raw_device_code: &str) -> String {
    TokenHash::of(raw_device_code).as_str().to_owned()
}

/// How long a device's keys are kept in the store: its lifetime and the grace for late polls.
pub(crate) fn stored_for(settings: &DeviceSettings) -> std::time::Duration {
    crate::server::ttl(settings.code_ttl + EXPIRED_GRACE)
}

#[cfg(test)]
mod tests;
