//! The metrics the use cases record, named once here. They go through the
//! `metrics` facade: recorded by whatever exporter the binary installs
//! (Prometheus on `GATEHOUSE_METRICS_BIND`), free when none is.

use crate::rate_limit::Limiter;

/// A limiter refused a request.
pub fn rate_limited(limiter: Limiter) {
    metrics::counter!("gatehouse_rate_limited_total", "limiter" => limiter.as_str()).increment(1);
}

/// Password hashes running or waiting for a slot.
pub fn sign_in_queue_depth(depth: usize) {
    metrics::gauge!("gatehouse_sign_in_queue_depth").set(depth as f64);
}
