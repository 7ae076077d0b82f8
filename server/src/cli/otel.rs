//! OpenTelemetry export of the request spans (cargo feature `otel`), over OTLP/HTTP
//! (protobuf) to a collector.
//!
//! Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set,
//! e.g. `http://127.0.0.1:4318`; the exporter reads the other standard `OTEL_*` variables
//! itself. `OTEL_SERVICE_NAME` names the service (default `durastream`). Spans are batched
//! and sent from a background thread; the last batch is flushed at exit.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::SpanExporter;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The tracer provider; flushed and shut down when dropped.
pub struct Exporter(SdkTracerProvider);

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Err(e) = self.0.shutdown() {
            eprintln!("durastream: flushing OpenTelemetry spans failed: {e}");
        }
    }
}

/// The tracing layer that exports spans, when an OTLP endpoint is configured.
pub fn layer<S>() -> Result<(Option<impl Layer<S>>, Option<Exporter>), String>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let configured = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    if !configured {
        return Ok((None, None));
    }
    let exporter = SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| format!("cannot set up the OTLP exporter: {e}"))?;
    let name = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "durastream".into());
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(name).build())
        .build();
    let tracer = provider.tracer("durastream");
    Ok((Some(tracing_opentelemetry::layer().with_tracer(tracer)), Some(Exporter(provider))))
}
