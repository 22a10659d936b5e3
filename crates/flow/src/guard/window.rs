//! "Sliding-ish" windows: two fixed windows, the previous one weighted by how much of it still
//! overlaps the sliding window (`current + previous * (1 - elapsed_fraction)`, the approach of
//! Cloudflare's and nginx's limiters). Window boundaries come from the injected clock, and
//! each window has its own key, so tests that move the clock move the windows; the store's TTL
//! (two windows of wall-clock time) only bounds how long a key lingers.

use chrono::{DateTime, Utc};
use std::time::Duration;

/// One window's position at an instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct WindowPosition {
    pub(super) index: i64,
    /// How much of the current window has passed, in [0, 1).
    elapsed: f64,
    length: Duration,
}

impl WindowPosition {
    pub(super) fn at(now: DateTime<Utc>, length_secs: u64) -> Self {
        let length = i64::try_from(length_secs.max(1)).unwrap_or(i64::MAX);
        let millis = now.timestamp_millis();
        let length_millis = length.saturating_mul(1000);
        let index = millis.div_euclid(length_millis);
        let into = millis.rem_euclid(length_millis);
        Self {
            index,
            elapsed: into as f64 / length_millis as f64,
            length: Duration::from_secs(length_secs.max(1)),
        }
    }

    /// The sliding estimate from the current and previous windows' counts.
    pub(super) fn estimate(&self, current: u64, previous: u64) -> u64 {
        current + (previous as f64 * (1.0 - self.elapsed)).floor() as u64
    }

    /// How long until the estimate drops below `limit`, assuming no new hits.
    pub(super) fn time_until_below(&self, limit: u64, current: u64, previous: u64) -> Duration {
        let w = self.length.as_secs_f64();
        let left_in_window = (1.0 - self.elapsed) * w;
        let wait = if current < limit {
            // Within this window, as the previous one's weight shrinks.
            if previous == 0 {
                0.0
            } else {
                let fraction = 1.0 - self.elapsed - (limit - current) as f64 / previous as f64;
                (fraction * w).clamp(0.0, left_in_window)
            }
        } else {
            // Only once this window is the previous one and has shrunk enough.
            left_in_window + w * (1.0 - limit as f64 / current as f64)
        };
        // To the millisecond first, so float noise does not add a second.
        let wait = (wait.max(0.0) * 1000.0).round() / 1000.0;
        Duration::from_secs_f64(wait.ceil()).max(Duration::from_secs(1))
    }

    /// The keys of the current and the previous window of the counter named `base`.
    pub(super) fn current_and_previous_keys(&self, base: &str) -> [String; 2] {
        [
            window_key(base, self.index),
            window_key(base, self.index - 1),
        ]
    }

    pub(super) fn current_key(&self, base: &str) -> String {
        window_key(base, self.index)
    }

    /// Keys live two windows: long enough to be read as "the previous window".
    pub(super) fn key_ttl(&self) -> Duration {
        self.length.saturating_mul(2)
    }
}

fn window_key(base: &str, index: i64) -> String {
    format!("{base}:{index}")
}

/// A counter as the store holds it (decimal text); absent or unreadable counts as zero.
pub(super) fn parse_count(value: Option<&[u8]>) -> u64 {
    value
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    #[test]
    fn the_previous_window_counts_for_the_part_that_still_overlaps() {
        // 900 s windows; 300 s into window 2 the previous one weighs 2/3.
        let p = WindowPosition::at(at(2 * 900 + 300), 900);
        assert_eq!(p.index, 2);
        assert_eq!(p.estimate(1, 6), 1 + 4);
        assert_eq!(p.estimate(0, 0), 0);
        // At the start of a window the previous one counts fully.
        assert_eq!(WindowPosition::at(at(900), 900).estimate(0, 5), 5);
    }

    #[test]
    fn retry_after_is_when_the_estimate_falls_below_the_limit() {
        let p = WindowPosition::at(at(900 + 300), 900);
        // Over the limit in this window alone: wait for the window to end (600 s), then until
        // the weight of 10 falls below 5 (half of the next window, 450 s).
        assert_eq!(p.time_until_below(5, 10, 0).as_secs(), 600 + 450);
        // Over only through the previous window: 2 + 6 * (1 - f) < 5 once f > 1/2 (150 s).
        assert_eq!(p.time_until_below(5, 2, 6).as_secs(), 150);
        // Never less than a second.
        assert_eq!(p.time_until_below(5, 4, 0).as_secs(), 1);
    }
}
