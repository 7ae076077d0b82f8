//! `durastream ls`: the paginated stream listing of `{prefix}/__ds/streams`.

use super::CliError;
use clap::Args;
use serde::Deserialize;

/// Arguments of `ls`.
#[derive(Args, Debug, Clone)]
pub struct LsArgs {
    /// Only streams whose path starts with this.
    pub prefix: Option<String>,
    /// Streams per page (1 to 1000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub limit: u64,
    /// Start after this path (the "next" hint of the previous page).
    #[arg(long)]
    pub after: Option<String>,
    /// Fetch every page, not only the first.
    #[arg(long)]
    pub all: bool,
    /// Print the listing as JSON lines (one stream per line).
    #[arg(long)]
    pub json: bool,
    /// Extra request header, "Name: value" (repeatable), e.g. for authorization.
    #[arg(long = "header", short = 'H')]
    pub headers: Vec<String>,
}

#[derive(Deserialize)]
struct Page {
    streams: Vec<serde_json::Value>,
    next_after: Option<String>,
}

type Result<T> = std::result::Result<T, CliError>;

fn net_error(url: &str, e: &reqwest::Error) -> CliError {
    CliError::Message(format!(
        "cannot reach {url}: {e}\n  hint: is the server running (`durastream serve`)? \
         --url or DURASTREAM_URL names it"
    ))
}

async fn fetch(
    client: &reqwest::Client,
    url: &str,
    args: &LsArgs,
    after: Option<&str>,
) -> Result<Page> {
    let mut query: Vec<(&str, String)> = vec![("limit", args.limit.to_string())];
    if let Some(a) = after {
        query.push(("after", a.to_string()));
    }
    if let Some(p) = &args.prefix {
        query.push(("prefix", p.clone()));
    }
    let mut req = client.get(url).query(&query);
    for (name, value) in super::parse_headers(&args.headers)? {
        req = req.header(name, value);
    }
    let resp = req.send().await.map_err(|e| net_error(url, &e))?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| net_error(url, &e))?;
    if status == reqwest::StatusCode::NOT_FOUND {
        return Err(CliError::Message(format!(
            "{url} answered 404\n  hint: start the server with --admin-api (or --console) to \
             allow listing, and check that --url is the streams base URL \
             (e.g. http://127.0.0.1:4437/v1/stream)"
        )));
    }
    if !status.is_success() {
        let hint = if status.as_u16() == 401 || status.as_u16() == 403 {
            "\n  hint: pass credentials, e.g. -H 'Authorization: Bearer TOKEN'"
        } else {
            ""
        };
        return Err(CliError::Message(format!(
            "listing failed with {status}: {}{hint}",
            body.trim()
        )));
    }
    serde_json::from_str(&body)
        .map_err(|e| CliError::Message(format!("unexpected listing from {url}: {e}")))
}

/// Runs `ls` against the streams base URL `base`.
pub async fn run(base: &str, args: LsArgs, tty: bool) -> Result<()> {
    let url = format!("{}/__ds/streams", base.trim_end_matches('/'));
    let client = reqwest::Client::new();
    let mut after = args.after.clone();
    let mut rows = Vec::new();
    loop {
        let page = fetch(&client, &url, &args, after.as_deref()).await?;
        rows.extend(page.streams);
        after = page.next_after;
        if after.is_none() || !args.all {
            break;
        }
    }
    if args.json {
        for r in &rows {
            println!("{r}");
        }
    } else if tty {
        print_table(&rows);
    } else {
        for r in &rows {
            println!("{}", r["path"].as_str().unwrap_or_default());
        }
    }
    if let Some(next) = after {
        eprintln!("-- more: durastream ls --after {next:?} (or --all)");
    } else if tty && rows.is_empty() {
        eprintln!("-- no streams");
    }
    Ok(())
}

fn print_table(rows: &[serde_json::Value]) {
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or("").to_string();
            let ttl = match (r["ttl_seconds"].as_u64(), r["expires_at"].as_str()) {
                (Some(t), _) => format!("{t}s"),
                (None, Some(at)) => at.to_string(),
                _ => "-".into(),
            };
            [
                text("path"),
                text("content_type"),
                human_bytes(r["bytes"].as_u64().unwrap_or(0)),
                if r["closed"].as_bool() == Some(true) { "closed".into() } else { "open".into() },
                ttl,
                r["producers"].as_u64().unwrap_or(0).to_string(),
            ]
        })
        .collect();
    let header = ["PATH", "CONTENT TYPE", "SIZE", "STATE", "TTL", "PRODUCERS"].map(String::from);
    let mut width = header.clone().map(|h| h.len());
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&cells) {
        let line: Vec<String> = row.iter().zip(width).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", line.join("  ").trim_end());
    }
}

/// 1536 → "1.5 KiB".
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
