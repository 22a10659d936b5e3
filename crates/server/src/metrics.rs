//! Prometheus metrics: request counts and latency histograms per route and status, plus
//! storage pool gauges refreshed at scrape time.

use actix_web::http::Method;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

pub const REQUESTS: &str = "palisade_http_requests_total";
pub const LATENCY: &str = "palisade_http_request_duration_seconds";

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// The process-wide recorder (metrics' recorder is global, so several servers in one test
/// process share it; per-route labels keep them apart enough for tests).
pub fn recorder() -> Result<PrometheusHandle, String> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(LATENCY.to_owned()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    ],
                )
                .map_err(|e| e.to_string())?
                .install_recorder()
                .inspect(|handle| spawn_upkeep(handle.clone()))
                .map_err(|e| e.to_string())
        })
        .clone()
}

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// `install_recorder` leaves upkeep to the caller: without it every latency sample is kept
/// until the next scrape, so memory grows with traffic when nobody scrapes. One thread per
/// process (the recorder is global) folds them in every few seconds.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                handle.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "metrics upkeep thread did not start; samples drain at each scrape");
    }
}

/// The `method` label: the methods the server knows, and `OTHER` for any other token a client
/// sends (HTTP allows any), so requests cannot create label values, and series, at will.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// One count and one latency sample for a request (the middleware is request_log.rs),
/// labelled by the route pattern: never the raw path, which would let clients create
/// unbounded label values.
pub fn record_request(method: &'static str, route: &str, status: u16, elapsed: Duration) {
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!(REQUESTS, &labels).increment(1);
    metrics::histogram!(LATENCY, &labels).record(elapsed.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_method_label_is_a_fixed_set() {
        for known in ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
            let method = Method::from_bytes(known.as_bytes()).unwrap();
            assert_eq!(method_label(&method), known);
        }
        for other in ["TRACE", "CONNECT", "FOO", "get", "PROPFIND"] {
            let method = Method::from_bytes(other.as_bytes()).unwrap();
            assert_eq!(method_label(&method), "OTHER", "{other}");
        }
    }
}
