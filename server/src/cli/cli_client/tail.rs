//! `durastream tail`: follow a stream and print each message as it arrives.

use std::io::Write;

use durastream::client::{DurableStream, Error, LiveMode, ReadOptions, Result};

/// Follows `s` from `from` until the stream closes (or Ctrl-C ends the process).
pub async fn run(s: &DurableStream, from: &str, pretty: bool, live: LiveMode) -> Result<()> {
    let mut reader = s.read(ReadOptions::new().offset(from).live(live));
    let mut out = std::io::stdout().lock();
    let write_err =
        |e: std::io::Error| Error::invalid_argument("stdout", format!("cannot write: {e}"));
    while let Some(chunk) = reader.next_chunk().await? {
        if chunk.json {
            if !chunk.data.is_empty() {
                for item in chunk.json_items::<Box<serde_json::value::RawValue>>()? {
                    writeln!(out, "{}", format_json(item.get(), pretty)).map_err(write_err)?;
                }
            }
        } else {
            out.write_all(&chunk.data).map_err(write_err)?;
        }
        out.flush().map_err(write_err)?;
        if chunk.closed {
            eprintln!("-- stream closed at offset {}", chunk.next_offset);
        }
    }
    Ok(())
}

/// One JSON message: compact, or indented (keys in their original order) followed by a
/// blank line.
fn format_json(raw: &str, pretty: bool) -> String {
    if !pretty {
        return durastream::json::minify(raw);
    }
    let mut out = serde_json::Serializer::pretty(Vec::new());
    let mut input = serde_json::Deserializer::from_str(raw);
    match serde_transcode::transcode(&mut input, &mut out) {
        Ok(()) => {
            String::from_utf8(out.into_inner()).map_or_else(|_| raw.to_string(), |t| t + "\n")
        }
        Err(_) => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_formats() {
        assert_eq!(format_json("{ \"a\" : 1 }", false), "{\"a\":1}");
        assert_eq!(format_json("{\"b\":1,\"a\":[]}", true), "{\n  \"b\": 1,\n  \"a\": []\n}\n");
    }
}
