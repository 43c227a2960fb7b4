//! Optional trace export over OTLP/HTTP (JSON) to `GATEHOUSE_OTLP_ENDPOINT`
//! (a collector's base URL; spans go to `<endpoint>/v1/traces`). Each
//! request's `request` span is the root, and every SQL statement
//! (`db.statement`) and Redis round trip (`state_store.call`) is a child of
//! the request it serves. Spans are batched off the request path; the batch
//! left at shutdown is flushed.
//!
//! The exporter's HTTP client is Gatehouse's own `reqwest` client (so the
//! collector is reached through the same `GATEHOUSE_CA_FILE` roots as every
//! other TLS connection) rather than the exporter's bundled one.

use gatehouse_store::tls::ExtraRoots;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;

/// The exporter's HTTP client: `reqwest`, run on the server's runtime (the
/// batch exporter calls from a thread of its own, outside the runtime).
#[derive(Debug, Clone)]
struct RuntimeClient {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for RuntimeClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let http = self.http.clone();
        let request = reqwest::Request::try_from(request.map(reqwest::Body::from))?;
        let sent = self.runtime.spawn(async move {
            let response = http.execute(request).await?;
            let mut answer = Response::builder().status(response.status().as_u16());
            for (name, value) in response.headers() {
                answer = answer.header(name.as_str(), value.as_bytes());
            }
            let body = response.bytes().await?;
            Ok::<_, HttpError>(answer.body(body)?)
        });
        sent.await?
    }
}

/// The trace pipeline: the `tracing` layer to install and the provider to
/// flush at shutdown.
pub struct Traces {
    pub provider: SdkTracerProvider,
}

impl Traces {
    /// Builds the exporter for `endpoint` (an `http://` or `https://` base
    /// URL). Must run inside the Tokio runtime.
    pub fn new(endpoint: &str, roots: &ExtraRoots) -> Result<Self, String> {
        let mut http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10));
        for certificate in roots.for_reqwest() {
            http = http.add_root_certificate(certificate);
        }
        let http = http.build().map_err(|e| e.to_string())?;
        let client = RuntimeClient { http, runtime: tokio::runtime::Handle::current() };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpJson)
            .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
            .with_http_client(client)
            .build()
            .map_err(|e| e.to_string())?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name("gatehouse")
            .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build();
        Ok(Self { provider })
    }

    /// The layer that turns `tracing` spans into exported spans.
    pub fn layer<S>(&self) -> impl tracing_subscriber::Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(self.provider.tracer("gatehouse"))
    }

    /// Sends what is still batched (at shutdown).
    pub fn flush(&self) {
        if let Err(err) = self.provider.shutdown() {
            tracing::warn!(error = %err, "could not flush the last trace spans");
        }
    }
}
