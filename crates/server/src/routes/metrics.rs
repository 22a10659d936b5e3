//! `GET /metrics`: Prometheus text exposition.

use crate::app::AppState;
use actix_web::{HttpResponse, web};

pub async fn render(state: web::Data<AppState>) -> HttpResponse {
    // Refreshes the readiness and dependency gauges (one look serves probes and scrapes).
    state.readiness.report().await;
    let pool = state.sql.pool_status();
    metrics::gauge!("palisade_db_pool_connections").set(pool.size as f64);
    metrics::gauge!("palisade_db_pool_idle_connections").set(pool.available as f64);
    metrics::gauge!("palisade_db_pool_max_connections").set(pool.max_size as f64);
    if let Some(bytes) = state.ephemeral.memory_held() {
        metrics::gauge!("palisade_ephemeral_store_bytes").set(bytes as f64);
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
