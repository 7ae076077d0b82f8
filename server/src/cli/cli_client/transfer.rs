//! Large transfers with progress: `append --file` (through an idempotent producer, so a
//! retried batch is never appended twice) and `read --output` or `read > file`.

use std::fs::File;
use std::io::{BufReader, IsTerminal, Read, Write};
use std::path::Path;
use std::time::Duration;

use durastream::client::{DurableStream, Error, LiveMode, ProducerOptions, ReadOptions, Result};
use durastream::Offset;
use indicatif::{ProgressBar, ProgressStyle};

/// Bytes read from the file per producer item (byte streams).
const PIECE: usize = 256 * 1024;

/// A progress bar on standard error when it is a terminal; hidden otherwise.
fn bar(total: Option<u64>, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Some(n) => (
            ProgressBar::new(n),
            "{msg} [{bar:32.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ),
        None => (ProgressBar::new_spinner(), "{spinner} {msg} {bytes} {bytes_per_sec}"),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::invalid_argument("file", format!("cannot {what} {}: {e}", path.display()))
}

/// Appends the file at `path` in batches; returns the stream's offset after it.
pub async fn upload(s: &DurableStream, path: &Path, json: bool) -> Result<Option<String>> {
    let file = File::open(path).map_err(|e| io_error("open", path, e))?;
    let total = file.metadata().map_err(|e| io_error("read", path, e))?.len();
    let info = s.head().await?;
    let content_type = info.content_type.unwrap_or_else(|| "application/octet-stream".into());
    let json = json || durastream::json::is_json(&content_type);
    let id = format!("durastream-cli-{:016x}", rand::random::<u64>());
    // One batch in flight: a second one could overtake it, be refused with a sequence gap
    // and be sent again, doubling the bytes on the wire.
    let opts = ProducerOptions { content_type: Some(content_type), ..ProducerOptions::default() };
    let producer = s.producer(&id, opts)?;
    let progress = bar(Some(total), "uploading");
    let show = |consumed: u64| {
        progress.set_position(consumed.saturating_sub(producer.buffered_bytes() as u64));
    };
    let mut input = BufReader::with_capacity(PIECE, file);
    if json {
        let values = serde_json::Deserializer::from_reader(&mut input)
            .into_iter::<Box<serde_json::value::RawValue>>();
        let mut values = values.peekable();
        let mut consumed = 0u64;
        while let Some(v) = values.next() {
            let v = v.map_err(|e| {
                Error::invalid_argument("file", format!("{}: invalid JSON: {e}", path.display()))
            })?;
            consumed += v.get().len() as u64;
            producer.append_wait(v.get().as_bytes()).await?;
            show(consumed);
            if values.peek().is_none() {
                break;
            }
        }
    } else {
        let mut piece = vec![0u8; PIECE];
        let mut consumed = 0u64;
        loop {
            let n = input.read(&mut piece).map_err(|e| io_error("read", path, e))?;
            if n == 0 {
                break;
            }
            producer.append_wait(&piece[..n]).await?;
            consumed += n as u64;
            show(consumed);
        }
    }
    // Wait for the last acknowledgements, moving the bar as they arrive.
    let flushed = producer.flush();
    tokio::pin!(flushed);
    loop {
        tokio::select! {
            r = &mut flushed => { r?; break; }
            _ = tokio::time::sleep(Duration::from_millis(100)) => show(total),
        }
    }
    progress.set_position(total);
    progress.finish_and_clear();
    let offset = producer.last_offset();
    producer.detach().await?;
    Ok(offset)
}

/// `read --output PATH`.
pub async fn download(s: &DurableStream, offset: &str, live: LiveMode, path: &Path) -> Result<()> {
    let mut file = File::create(path).map_err(|e| io_error("create", path, e))?;
    let end = copy(s, offset, live, &mut file).await?;
    file.sync_all().map_err(|e| io_error("write", path, e))?;
    if std::io::stdout().is_terminal() {
        println!("wrote {} (next offset {end})", path.display());
    }
    Ok(())
}

/// `read > file`: the data to standard output, the progress bar to the terminal.
pub async fn download_to_stdout(s: &DurableStream, offset: &str) -> Result<()> {
    copy(s, offset, LiveMode::Off, &mut std::io::stdout().lock()).await.map(|_| ())
}

/// Copies the stream from `offset` into `out` like `read` prints it (JSON streams: one
/// message per line); returns the offset after the last chunk.
async fn copy(
    s: &DurableStream,
    offset: &str,
    live: LiveMode,
    out: &mut dyn Write,
) -> Result<String> {
    let position = |o: &str| o.parse::<Offset>().ok().map(Offset::position);
    // Offsets of this server are byte positions; another server's may not be.
    let (start, total) = if live == LiveMode::Off {
        let tail = position(&s.head().await?.next_offset);
        let start = if offset == "-1" { Some(0) } else { position(offset) };
        (start, start.zip(tail).map(|(a, b)| b.saturating_sub(a)))
    } else {
        (None, None)
    };
    let progress = bar(total, "reading");
    let write_err =
        |e: std::io::Error| Error::invalid_argument("output", format!("cannot write: {e}"));
    let mut reader = s.read(ReadOptions::new().offset(offset).live(live));
    let mut end = offset.to_string();
    let mut written = 0u64;
    while let Some(chunk) = reader.next_chunk().await? {
        if chunk.json {
            if !chunk.data.is_empty() {
                let items: Vec<Box<serde_json::value::RawValue>> = chunk.json_items()?;
                for item in items {
                    writeln!(out, "{}", durastream::json::minify(item.get())).map_err(write_err)?;
                }
            }
        } else {
            out.write_all(&chunk.data).map_err(write_err)?;
        }
        written += chunk.data.len() as u64;
        match (start, position(&chunk.next_offset)) {
            (Some(a), Some(b)) if total.is_some() => progress.set_position(b.saturating_sub(a)),
            _ => progress.set_position(written),
        }
        end = chunk.next_offset;
    }
    out.flush().map_err(write_err)?;
    progress.finish_and_clear();
    Ok(end)
}
