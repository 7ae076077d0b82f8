//! Error messages that say what to do next.

use std::fmt;

use durastream::client::{Error, ErrorKind};

/// An error of a client command.
#[derive(Debug)]
pub enum CliError {
    /// From the Durable Streams client.
    Client(Error),
    /// Already explained.
    Message(String),
}

impl From<Error> for CliError {
    fn from(e: Error) -> CliError {
        CliError::Client(e)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Client(e) => e.fmt(f),
            CliError::Message(m) => f.write_str(m),
        }
    }
}

/// The error, followed by a hint line when there is something the user can do.
pub fn explain(e: &CliError) -> String {
    let CliError::Client(e) = e else { return e.to_string() };
    match hint(e) {
        Some(h) => format!("{e}\n  hint: {h}"),
        None => e.to_string(),
    }
}

fn hint(e: &Error) -> Option<String> {
    let url = e.url().unwrap_or("the server");
    Some(match e.kind() {
        ErrorKind::Network | ErrorKind::RetryExhausted if e.status().is_none() => format!(
            "cannot reach {url}: is the server running (`durastream serve`)? \
             --url or DURASTREAM_URL names it"
        ),
        ErrorKind::Timeout => "the server did not answer in time: try again, or check its load \
                               (its metrics show request latency)"
            .into(),
        ErrorKind::NotFound => "no such stream: check the name and --url, or create it with \
                                `durastream create NAME`"
            .into(),
        ErrorKind::Gone => "the stream was deleted (its forks still read it); \
                            create a new one under another name"
            .into(),
        ErrorKind::StreamClosed => "the stream is closed and takes no more data: fork it to \
                                    continue (`durastream fork NEW --from NAME`)"
            .into(),
        ErrorKind::Conflict => "a stream exists here with another configuration or content \
                                type: compare with `durastream head NAME`"
            .into(),
        ErrorKind::Unauthorized => {
            "the server refused the request: pass credentials with -H 'Authorization: Bearer TOKEN'"
                .into()
        }
        ErrorKind::InvalidOffset => "offsets are -1 (the beginning), now, or a value printed by \
                                     an earlier command"
            .into(),
        _ => return None,
    })
}
