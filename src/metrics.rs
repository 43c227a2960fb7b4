//! Prometheus metrics on their own listener (`GATEHOUSE_METRICS_BIND`, off
//! by default, never the public one). The use cases record through the
//! `metrics` facade (`gatehouse_core::metrics`); this installs the
//! Prometheus recorder, times every request by route, and serves the text
//! format at `/metrics`.
//!
//! `metrics-exporter-prometheus` runs with its default features off: they
//! would pull an HTTP listener with a C crypto build. Axum serves the text.

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

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

/// The metrics listener's router: `GET /metrics`.
pub fn router(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move {
                ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
            }
        }),
    )
}

/// Counts and times every request by route template (never the raw path,
/// which would carry codes and grow without bound), method and status.
#[allow(clippy::disallowed_methods)] // a request's real duration, not domain time
pub async fn record_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route =
        request.extensions().get::<MatchedPath>().map(|path| path.as_str().to_owned()).unwrap_or_else(|| {
            if request.uri().path().starts_with("/pkg/") { "/pkg/*" } else { "unmatched" }.to_owned()
        });
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let seconds = started.elapsed().as_secs_f64();
    metrics::histogram!("gatehouse_http_request_duration_seconds", "route" => route.clone(), "method" => method.clone())
        .record(seconds);
    metrics::counter!("gatehouse_http_requests_total", "route" => route, "method" => method, "status" => status)
        .increment(1);
    response
}
