//! Structured logs through `tracing`; `RUST_LOG` filters, text or JSON; and,
//! when `GATEHOUSE_OTLP_ENDPOINT` is set, the same spans exported as traces.

use crate::config::LogFormat;
use crate::telemetry::Traces;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Installs the global subscriber (once; later calls are ignored, so tests
/// that start many servers can all call it).
pub fn init(format: LogFormat) {
    init_with_traces(format, None);
}

/// `init`, also exporting spans through `traces`.
pub fn init_with_traces(format: LogFormat, traces: Option<&Traces>) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    // Colour only on a terminal: a file or the journal would keep the escape
    // codes as noise (and NO_COLOR turns it off there too).
    use std::io::IsTerminal as _;
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let (text, json) = match format {
        LogFormat::Text => (Some(tracing_subscriber::fmt::layer().with_target(true).with_ansi(colour)), None),
        LogFormat::Json => (None, Some(tracing_subscriber::fmt::layer().json().with_target(true))),
    };
    let _ =
        tracing_subscriber::registry().with(filter).with(text).with(json).with(traces.map(Traces::layer)).try_init();
}
