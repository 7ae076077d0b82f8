//! `durastream create|append|read|tail|ls|head|close|delete|fork`: a command-line client
//! built on `durastream::client`.
//!
//! The stream URL is the global `--url` / `DURASTREAM_URL`: either a full stream URL, or a
//! base URL to which each command's STREAM argument is appended. Output is meant for people
//! on a terminal and for programs when piped: `read` writes the raw bytes (JSON streams: one
//! message per line), write commands print the new offset, `head` prints JSON. Long uploads
//! and downloads draw a progress bar on standard error when it is a terminal.
//!
//! Files: `listing.rs` (`ls`), `tail.rs` (`tail`), `transfer.rs` (`append --file`,
//! `read --output`, progress bars), `hints.rs` (what to do about an error).

mod hints;
mod listing;
mod tail;
mod transfer;

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use durastream::client::{
    AppendOptions, Client, CreateOptions, DurableStream, Error, ForkOptions, LiveMode, ReadOptions,
    Result,
};

pub use hints::{explain, CliError};

/// Client subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum ClientCommand {
    /// Create a stream (idempotent when the configuration matches).
    Create {
        #[command(flatten)]
        target: Target,
        /// Content type of the stream.
        #[arg(long, short = 't', default_value = "application/octet-stream")]
        content_type: String,
        /// Sliding time-to-live in seconds.
        #[arg(long)]
        ttl: Option<u64>,
        /// Absolute expiry (RFC 3339).
        #[arg(long)]
        expires_at: Option<String>,
        /// Create the stream already closed.
        #[arg(long)]
        closed: bool,
        /// Initial content.
        #[arg(long)]
        data: Option<String>,
    },
    /// Append DATA (or standard input) to a stream.
    Append {
        #[command(flatten)]
        target: Target,
        /// The data; read from standard input when absent.
        #[arg(conflicts_with = "file")]
        data: Option<String>,
        /// Upload a file, of any size, in batches through an idempotent producer (retries
        /// never duplicate data), with a progress bar on a terminal. Not atomic: a failure
        /// can leave a prefix appended. With --json the file holds JSON values (e.g. NDJSON).
        #[arg(long, short = 'f', conflicts_with = "seq")]
        file: Option<PathBuf>,
        /// The input is JSON: one or more values (e.g. NDJSON), each appended as one
        /// message, all in one request.
        #[arg(long)]
        json: bool,
        /// Stream-Seq value (must increase); makes the append safe to retry.
        #[arg(long)]
        seq: Option<String>,
    },
    /// Read a stream: catch up and exit, or follow it with --live.
    Read {
        #[command(flatten)]
        target: Target,
        /// Start offset: -1 (beginning), now, or an offset printed earlier.
        #[arg(long, short = 'o', default_value = "-1", allow_hyphen_values = true)]
        offset: String,
        /// Keep following new data until the stream is closed (or Ctrl-C).
        #[arg(long, short = 'f')]
        live: bool,
        /// Live transport: auto (SSE, falling back to long-poll), sse or long-poll.
        #[arg(long, default_value = "auto", value_parser = ["auto", "sse", "long-poll"])]
        mode: String,
        /// Write the data to this file (with a progress bar on a terminal) instead of
        /// standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Follow a stream, printing messages as they arrive (Ctrl-C stops).
    Tail {
        #[command(flatten)]
        target: Target,
        /// Where to start: now (only new data), -1 (the beginning), or an offset.
        #[arg(long, default_value = "now", allow_hyphen_values = true)]
        from: String,
        /// Pretty-print JSON messages (indented, one blank line between them).
        #[arg(long)]
        json: bool,
        /// Live transport: auto (SSE, falling back to long-poll), sse or long-poll.
        #[arg(long, default_value = "auto", value_parser = ["auto", "sse", "long-poll"])]
        mode: String,
    },
    /// List streams (needs a server started with --admin-api or --console).
    Ls(listing::LsArgs),
    /// Show a stream's metadata.
    Head {
        #[command(flatten)]
        target: Target,
    },
    /// Close a stream, optionally appending a final message atomically.
    Close {
        #[command(flatten)]
        target: Target,
        /// Final message.
        #[arg(long)]
        data: Option<String>,
    },
    /// Delete a stream.
    Delete {
        #[command(flatten)]
        target: Target,
    },
    /// Create STREAM as a fork of another stream.
    Fork {
        #[command(flatten)]
        target: Target,
        /// The source stream (path on the same server, or full URL).
        #[arg(long)]
        from: String,
        /// Divergence offset (default: the source's tail).
        #[arg(long, allow_hyphen_values = true)]
        offset: Option<String>,
        /// Messages (JSON) or bytes inherited past --offset.
        #[arg(long)]
        sub_offset: Option<u64>,
        /// Sliding time-to-live in seconds.
        #[arg(long)]
        ttl: Option<u64>,
    },
}

/// Which stream a command addresses, and extra request headers.
#[derive(Args, Debug, Clone)]
pub struct Target {
    /// Stream name or path, appended to --url (omit when --url is the full stream URL).
    pub stream: Option<String>,
    /// Extra request header, "Name: value" (repeatable), e.g. for authorization.
    #[arg(long = "header", short = 'H')]
    pub headers: Vec<String>,
}

/// Runs one client command against `url` (a stream URL, or a base URL that the command's
/// STREAM argument is appended to). Must run inside a tokio runtime.
pub async fn run(url: &str, cmd: ClientCommand) -> std::result::Result<(), CliError> {
    let client = Client::new();
    let tty = std::io::stdout().is_terminal();
    match cmd {
        ClientCommand::Create { target, content_type, ttl, expires_at, closed, data } => {
            let s = open(&client, url, &target)?;
            let mut opts = CreateOptions::new().content_type(content_type).closed(closed);
            opts.ttl_seconds = ttl;
            opts.expires_at = expires_at;
            opts.body = data.map(|d| d.into_bytes().into());
            let r = s.create(opts).await?;
            let what = if r.created { "created" } else { "already exists" };
            report(tty, &format!("{} {what}", s.url()), r.next_offset.as_deref());
        }
        ClientCommand::Append { target, file: Some(path), json, .. } => {
            let s = open(&client, url, &target)?;
            let offset = transfer::upload(&s, &path, json).await?;
            report(tty, &format!("appended {} to {}", path.display(), s.url()), offset.as_deref());
        }
        ClientCommand::Append { target, data, json, seq, file: None } => {
            let s = open(&client, url, &target)?;
            let input = match data {
                Some(d) => d.into_bytes(),
                None => read_stdin()?,
            };
            let body = if json { json_batch(&input)? } else { input };
            let r = s.append_with(body, AppendOptions { seq, content_type: None }).await?;
            report(tty, &format!("appended to {}", s.url()), Some(&r.next_offset));
        }
        ClientCommand::Read { target, offset, live, mode, output } => {
            let s = open(&client, url, &target)?;
            let live = if live { live_mode(&mode) } else { LiveMode::Off };
            match output {
                Some(path) => transfer::download(&s, &offset, live, &path).await?,
                None if !tty && std::io::stderr().is_terminal() && live == LiveMode::Off => {
                    transfer::download_to_stdout(&s, &offset).await?
                }
                None => read(&s, &offset, live, tty).await?,
            }
        }
        ClientCommand::Tail { target, from, json, mode } => {
            let s = open(&client, url, &target)?;
            tail::run(&s, &from, json, live_mode(&mode)).await?;
        }
        ClientCommand::Ls(args) => listing::run(url, args, tty).await?,
        ClientCommand::Head { target } => {
            let s = open(&client, url, &target)?;
            let info = s.head().await?;
            let v = serde_json::json!({
                "url": s.url(),
                "contentType": info.content_type,
                "nextOffset": info.next_offset,
                "closed": info.closed,
                "ttlSeconds": info.ttl_seconds,
                "expiresAt": info.expires_at,
            });
            let text =
                if tty { serde_json::to_string_pretty(&v) } else { serde_json::to_string(&v) };
            println!("{}", text.unwrap_or_default());
        }
        ClientCommand::Close { target, data } => {
            let s = open(&client, url, &target)?;
            let r = match data {
                Some(d) => s.close_with(d.into_bytes()).await?,
                None => s.close().await?,
            };
            report(tty, &format!("closed {}", s.url()), Some(&r.final_offset));
        }
        ClientCommand::Delete { target } => {
            let s = open(&client, url, &target)?;
            s.delete().await?;
            if tty {
                println!("deleted {}", s.url());
            }
        }
        ClientCommand::Fork { target, from, offset, sub_offset, ttl } => {
            let s = open(&client, url, &target)?;
            // A bare name is resolved like the STREAM argument: against --url.
            let source =
                if from.starts_with('/') { from.clone() } else { stream_url(url, Some(&from)) };
            let fork = ForkOptions { source, offset, sub_offset };
            let mut opts = CreateOptions::new();
            opts.ttl_seconds = ttl;
            let r = s.create_fork(fork, opts).await?;
            report(tty, &format!("forked {from} into {}", s.url()), r.next_offset.as_deref());
        }
    }
    Ok(())
}

fn live_mode(mode: &str) -> LiveMode {
    match mode {
        "sse" => LiveMode::Sse,
        "long-poll" => LiveMode::LongPoll,
        _ => LiveMode::Auto,
    }
}

/// The stream URL of a command: `url` alone, `url` + "/" + STREAM, or STREAM when it is
/// itself a full URL.
pub fn stream_url(url: &str, stream: Option<&str>) -> String {
    match stream {
        None => url.to_string(),
        Some(s) if s.contains("://") => s.to_string(),
        Some(s) => format!("{}/{}", url.trim_end_matches('/'), s.trim_start_matches('/')),
    }
}

/// Parses the repeatable "Name: value" header arguments.
fn parse_headers(headers: &[String]) -> Result<Vec<(String, String)>> {
    headers
        .iter()
        .map(|h| {
            let (name, value) = h.split_once(':').ok_or_else(|| {
                Error::invalid_argument("header", format!("header {h:?} is not \"Name: value\""))
            })?;
            Ok((name.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}

fn open(client: &Client, url: &str, target: &Target) -> Result<DurableStream> {
    let full = stream_url(url, target.stream.as_deref());
    if full.is_empty() {
        return Err(Error::invalid_argument("url", "no stream URL: set --url or DURASTREAM_URL"));
    }
    let mut s = client.stream(&full)?;
    for (name, value) in parse_headers(&target.headers)? {
        s = s.with_header(&name, &value)?;
    }
    Ok(s)
}

/// Prints the outcome of a write: a sentence on a terminal, the offset alone when piped.
fn report(tty: bool, what: &str, offset: Option<&str>) {
    match (tty, offset) {
        (true, Some(o)) => println!("{what} (next offset {o})"),
        (true, None) => println!("{what}"),
        (false, Some(o)) => println!("{o}"),
        (false, None) => {}
    }
}

fn read_stdin() -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .map_err(|e| Error::invalid_argument("data", format!("cannot read standard input: {e}")))?;
    Ok(buf)
}

/// One or more whitespace-separated JSON values → a JSON array body (one message each).
pub(crate) fn json_batch(input: &[u8]) -> Result<Vec<u8>> {
    let values = serde_json::Deserializer::from_slice(input)
        .into_iter::<Box<serde_json::value::RawValue>>()
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::invalid_argument("data", format!("invalid JSON input: {e}")))?;
    if values.is_empty() {
        return Err(Error::invalid_argument("data", "no JSON value in the input"));
    }
    serde_json::to_vec(&values)
        .map_err(|e| Error::invalid_argument("data", format!("cannot encode JSON: {e}")))
}

async fn read(s: &DurableStream, offset: &str, live: LiveMode, tty: bool) -> Result<()> {
    let mut reader = s.read(ReadOptions::new().offset(offset).live(live));
    let mut out = std::io::stdout().lock();
    let io_err =
        |e: std::io::Error| Error::invalid_argument("stdout", format!("cannot write: {e}"));
    let mut last = None;
    let mut closed = false;
    while let Some(chunk) = reader.next_chunk().await? {
        if chunk.json {
            if !chunk.data.is_empty() {
                let items: Vec<Box<serde_json::value::RawValue>> = chunk.json_items()?;
                for item in items {
                    let text = durastream::json::minify(item.get());
                    writeln!(out, "{text}").map_err(io_err)?;
                }
            }
        } else if tty && std::str::from_utf8(&chunk.data).is_err() {
            writeln!(out, "<{} bytes of binary data>", chunk.data.len()).map_err(io_err)?;
        } else {
            out.write_all(&chunk.data).map_err(io_err)?;
        }
        out.flush().map_err(io_err)?;
        closed = chunk.closed;
        last = Some(chunk.next_offset);
    }
    if tty {
        if let Some(o) = last {
            let state = if closed { "stream closed" } else { "up to date" };
            eprintln!("\n-- {state} at offset {o}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use durastream::client::ErrorKind;

    #[test]
    fn urls_and_json_input() {
        assert_eq!(stream_url("http://h/v1/stream/", Some("/a")), "http://h/v1/stream/a");
        assert_eq!(stream_url("http://h/v1/stream/a", None), "http://h/v1/stream/a");
        assert_eq!(stream_url("http://h", Some("http://x/y")), "http://x/y");
        assert_eq!(json_batch(b"{\"a\":1}\n[2]\n").ok(), Some(b"[{\"a\":1},[2]]".to_vec()));
        assert_eq!(json_batch(b" ").map_err(|e| e.kind()), Err(ErrorKind::InvalidArgument));
    }
}
