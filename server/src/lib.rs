//! The durastream server: the Durable Streams protocol over an embedded durable engine.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let server = durastream_server::Server::start(durastream_server::Config::memory()).await?;
//! println!("streams at {}/v1/stream/", server.url());
//! server.shutdown().await
//! # }
//! ```

pub mod admin;
pub mod auth;
#[cfg(feature = "cli")]
pub mod cli;
pub mod compact;
pub mod config;
pub mod console;
pub mod http;
pub mod limits;
mod listen;
pub mod metrics;
pub mod options;
mod server;
mod stop;
pub mod store;
pub mod subscriptions;
pub mod tls;

pub use config::{Config, FsyncPolicy};
pub use options::{OptionError, ServerOptions};
pub use server::{run, Server};
