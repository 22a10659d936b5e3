//! One access-log event per request, and the request's metrics, from one middleware.
//!
//! The event (target `palisade::access`, level info) carries the method, the matched route,
//! the path without its query, the status, the duration and the client address as the
//! trusted-proxy rule resolves it ([`crate::client_ip`], the same one the limits key on). A
//! query carries `id_token_hint`, `login_hint`, `state` and, from misbehaving clients, codes
//! and tokens; a forwarded address from a direct client is whatever it wants us to write: so
//! neither is logged.
//!
//! Logging used to open a span per request and print it when it closed. The span's fields were
//! formatted when it opened, its timings kept, and its line written by the worker: at `info`,
//! the default, that doubled the server's CPU per cheap request (docs/benchmarks.md, issue
//! 16). The event alone costs a fraction of that. A span is still opened when `debug` is on
//! for this module, so that the engine's own events inside a request can be told apart.

use crate::app::AppState;
use crate::metrics::{self, method_label};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, web};
use std::fmt;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tracing::{Instrument, Level};

/// The target of access-log events: `info,palisade::access=off` silences them alone.
pub const ACCESS_TARGET: &str = "palisade::access";

/// A request's id in the logs: random per process, then counting, so ids from several nodes
/// or restarts do not collide, and making one costs an increment, not a random draw.
#[derive(Clone, Copy)]
pub struct RequestId {
    process: u32,
    sequence: u64,
}

impl RequestId {
    fn next() -> Self {
        static PROCESS: OnceLock<u32> = OnceLock::new();
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let process = *PROCESS.get_or_init(|| {
            let bytes = uuid::Uuid::new_v4().into_bytes();
            u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
        });
        Self {
            process,
            sequence: SEQUENCE.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}-{:x}", self.process, self.sequence)
    }
}

/// The client address for the log, resolved once per request.
struct ClientAddress(Option<IpAddr>);

impl fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => Ok(()),
        }
    }
}

/// The middleware: counts and times every request (metrics.rs), and logs it.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    // What only the log needs is worked out only when the log is on.
    let logged = tracing::enabled!(target: ACCESS_TARGET, Level::INFO).then(|| {
        (
            RequestId::next(),
            client_address(&req),
            req.path().to_owned(),
        )
    });
    let span = tracing::debug_span!(
        "request",
        method,
        route = %route,
        request_id = logged.as_ref().map(|(id, ..)| tracing::field::display(id)),
    );
    let res = if span.is_disabled() {
        next.call(req).await
    } else {
        next.call(req).instrument(span).await
    };
    let elapsed = started.elapsed();
    let status = match &res {
        Ok(res) => res.status(),
        // An error that escaped the handlers is answered by actix from the error itself.
        Err(e) => e.as_response_error().status_code(),
    };
    metrics::record_request(method, &route, status.as_u16(), elapsed);
    if let Some((request_id, client_ip, path)) = logged {
        tracing::info!(
            target: ACCESS_TARGET,
            method,
            route = %route,
            path = %path,
            status = status.as_u16(),
            duration_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            client_ip = %client_ip,
            request_id = %request_id,
            "request"
        );
    }
    res
}

fn client_address(req: &ServiceRequest) -> ClientAddress {
    ClientAddress(req.app_data::<web::Data<AppState>>().and_then(|state| {
        crate::client_ip::client_ip(req.request(), &state.settings.trusted_proxies)
    }))
}
