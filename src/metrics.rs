//! Prometheus metrics on their own listener (`GATEHOUSE_METRICS_BIND`, off
//! by default, never the public one). The use cases record through the
//! `metrics` facade (`gatehouse_core::metrics`); this installs the
//! Prometheus recorder, times every request by route, and serves the text
//! format at `/metrics`.
//!
//! `metrics-exporter-prometheus` runs with its default features off: they
//! would pull an HTTP listener with a C crypto build. Axum serves the text.

use axum::Router;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Request latency buckets, seconds: sub-millisecond polls to slow sign-ins.
const LATENCY_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// How often histograms are folded in (the recorder needs it done).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use. A process has
/// one global recorder, so servers started in one test process share it.
pub fn recorder() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let built =
                PrometheusBuilder::new().set_buckets(&LATENCY_BUCKETS).and_then(|builder| builder.install_recorder());
            match built {
                Ok(handle) => {
                    build_info();
                    let upkeep = handle.clone();
                    tokio::spawn(async move {
                        loop {
                            tokio::time::sleep(UPKEEP_EVERY).await;
                            upkeep.run_upkeep();
                        }
                    });
                    Some(handle)
                }
                Err(err) => {
                    tracing::error!(error = %err, "cannot install the Prometheus recorder; /metrics stays empty");
                    None
                }
            }
        })
        .clone()
}

/// `gatehouse_build_info{version, …} 1`: which release each instance runs
/// (a rolling upgrade shows as two series).
fn build_info() {
    metrics::gauge!(
        "gatehouse_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
        "profile" => if cfg!(debug_assertions) { "debug" } else { "release" }
    )
    .set(1.0);
}

/// The metrics listener's router: `GET /metrics`, with the process's own
/// figures (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
/// `process_open_fds`, `process_threads`, …) read at each scrape.
pub fn router(handle: PrometheusHandle) -> Router {
    let process = std::sync::Arc::new(metrics_process::Collector::default());
    process.describe();
    Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (handle, process) = (handle.clone(), process.clone());
            async move {
                process.collect();
                ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
            }
        }),
    )
}

/// Counts and times one request by route template (never the raw path,
/// which would carry codes and grow without bound), method and status.
/// Without a recorder (no `GATEHOUSE_METRICS_BIND`) the labels are not even
/// built.
pub fn request_served(route: &str, method: &str, status: u16, elapsed: Duration) {
    if !HANDLE.get().is_some_and(Option::is_some) {
        return;
    }
    metrics::histogram!("gatehouse_http_request_duration_seconds", "route" => route.to_owned(), "method" => method.to_owned())
        .record(elapsed.as_secs_f64());
    metrics::counter!(
        "gatehouse_http_requests_total",
        "route" => route.to_owned(),
        "method" => method.to_owned(),
        "status" => status.to_string()
    )
    .increment(1);
}
