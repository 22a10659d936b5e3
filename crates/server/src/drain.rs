//! Draining: the time between SIGTERM and the stop, when the node still serves but asks
//! everyone to go elsewhere.
//!
//! While draining, `/readyz` answers 503 (readiness/mod.rs), so the balancer stops choosing
//! this node within its check interval times its fall count, and every response carries
//! `Connection: close`, so a client or proxy holding a keep-alive connection here opens its
//! next one through the balancer, to a node that stays. shutdown.rs decides when it starts
//! and how long it lasts.

use crate::app::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::web;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether this node is draining. Clones share the flag; it never turns back.
#[derive(Debug, Clone, Default)]
pub struct Drain(Arc<AtomicBool>);

impl Drain {
    pub fn start(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Middleware: while draining, closes each HTTP/1 connection after its response. (HTTP/2 has
/// no `Connection` header; its connections end with the server's stop.)
pub async fn close_connections_while_draining(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let drain = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.drain.clone());
    let mut res = next.call(req).await?;
    // Read after the handler: a request that arrived before SIGTERM and ends after it closes
    // its connection too.
    if drain.is_some_and(|drain| drain.is_draining()) {
        res.response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    Ok(res)
}
