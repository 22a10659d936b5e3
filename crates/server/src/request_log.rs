//! The span of each request, printed as one log line when it closes (telemetry.rs).
//!
//! tracing-actix-web's default span logs the request target with its query string and a
//! client address read from `Forwarded`/`X-Forwarded-For` whoever sent them. A query carries
//! `id_token_hint`, `login_hint`, `state` and, from misbehaving clients, codes and tokens; a
//! forwarded address from a direct client is whatever it wants us to write. This span logs
//! the path without the query, the matched route, and the client address as the
//! trusted-proxy rule resolves it ([`crate::client_ip`]), the same one the limits key on.

use crate::app::AppState;
use crate::metrics::method_label;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage, web};
use tracing::Span;
use tracing::field::Empty;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

/// The root span builder for `TracingLogger`.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let client_ip = request
            .app_data::<web::Data<AppState>>()
            .and_then(|state| {
                crate::client_ip::client_ip(request.request(), &state.settings.trusted_proxies)
            })
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        // Field names follow tracing-actix-web's, so the default end-of-request recording
        // (status, error) lands in them.
        tracing::info_span!(
            "HTTP request",
            http.method = method_label(request.method()),
            http.route = %route,
            http.target = %request.path(),
            http.client_ip = %client_ip,
            http.status_code = Empty,
            otel.status_code = Empty,
            request_id = %request_id,
            exception.message = Empty,
            exception.details = Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
