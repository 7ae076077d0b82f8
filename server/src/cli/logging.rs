//! Log set-up of the binary: text or JSON lines on standard error, filtered by
//! `DURASTREAM_LOG` (default `info`), and with the `otel` feature an OpenTelemetry exporter
//! (`otel.rs`) for the request spans.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable lines.
    Text,
    /// One JSON object per line: timestamp, level, target, fields, and the current span
    /// (the request's method, path, offsets and producer).
    Json,
}

/// Keeps the exporters running; flushes them when dropped at exit.
pub struct Guard {
    #[cfg(feature = "otel")]
    _otel: Option<crate::cli::otel::Exporter>,
}

/// Installs the global subscriber.
pub fn init(format: Format) -> Result<Guard, String> {
    let filter =
        EnvFilter::try_from_env("DURASTREAM_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let lines = match format {
        Format::Text => fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .boxed(),
        Format::Json => fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let registry = tracing_subscriber::registry().with(filter).with(lines);
    #[cfg(feature = "otel")]
    {
        let (layer, otel) = crate::cli::otel::layer()?;
        registry.with(layer).try_init().map_err(|e| e.to_string())?;
        Ok(Guard { _otel: otel })
    }
    #[cfg(not(feature = "otel"))]
    {
        registry.try_init().map_err(|e| e.to_string())?;
        Ok(Guard {})
    }
}
