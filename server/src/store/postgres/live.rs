//! Waking this node's live readers when any node changes a stream: `LISTEN durastream` on
//! one connection of its own, and a polling pass (the fallback for engines without
//! `NOTIFY`, and the catch-up after a lost listening connection).

use std::sync::Weak;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use super::PgStore;

/// The notification channel.
pub const CHANNEL: &str = "durastream";
/// Notifications buffered between the listening connection and the handles; past it the
/// next polling pass catches up.
const BUFFER: usize = 4096;

/// NOTIFY's payload limit is 8000 bytes; notes are packed below it.
const PAYLOAD_MAX: usize = 7900;

/// A notification's text: notes separated by `;`, each `<id> <tail> <closed 0|1>` or
/// `<id> gone`.
pub fn payload(id: i64, tail: u64, closed: bool) -> String {
    format!("{id} {tail} {}", u8::from(closed))
}

/// The notes of one committed batch `(id, tail, closed)`, packed into as few
/// notifications as the payload limit allows (one for any batch of up to ~300 streams).
pub fn payloads(tails: &[(i64, u64, bool)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for &(id, tail, closed) in tails {
        let note = payload(id, tail, closed);
        if !cur.is_empty() && cur.len() + 1 + note.len() > PAYLOAD_MAX {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(';');
        }
        cur.push_str(&note);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub fn gone_payload(id: i64) -> String {
    format!("{id} gone")
}

/// A parsed notification.
#[derive(Debug, PartialEq, Eq)]
pub enum Note {
    Tail { id: i64, tail: u64, closed: bool },
    Gone { id: i64 },
}

/// The notes of a notification (unreadable ones are skipped: polling catches up).
pub fn parse_all(text: &str) -> impl Iterator<Item = Note> + '_ {
    text.split(';').filter_map(parse)
}

pub fn parse(text: &str) -> Option<Note> {
    let mut it = text.split(' ');
    let id = it.next()?.parse().ok()?;
    match (it.next()?, it.next()) {
        ("gone", None) => Some(Note::Gone { id }),
        (tail, Some(closed)) => {
            Some(Note::Tail { id, tail: tail.parse().ok()?, closed: closed == "1" })
        }
        _ => None,
    }
}

/// Listens until the store is dropped, reconnecting after errors.
pub async fn listen(store: Weak<PgStore>, url: String) {
    loop {
        match tokio_postgres::connect(&url, NoTls).await {
            Ok((client, mut conn)) => {
                let (tx, mut rx) = mpsc::channel::<String>(BUFFER);
                let driver = tokio::spawn(async move {
                    let mut messages = futures_util::stream::poll_fn(|cx| conn.poll_message(cx));
                    while let Some(m) = messages.next().await {
                        match m {
                            Ok(AsyncMessage::Notification(n)) => {
                                // Full buffer: the polling pass catches up.
                                let _ = tx.try_send(n.payload().to_string());
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!("listening connection failed: {e}");
                                break;
                            }
                        }
                    }
                });
                match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    Ok(()) => {
                        // Changes made while not listening: catch up once.
                        match store.upgrade() {
                            Some(s) => s.refresh_live().await,
                            None => return,
                        }
                        while let Some(text) = rx.recv().await {
                            let Some(s) = store.upgrade() else { return };
                            for note in parse_all(&text) {
                                s.on_note(note);
                            }
                        }
                    }
                    Err(e) => tracing::warn!("LISTEN failed: {e}"),
                }
                driver.abort();
            }
            Err(e) => tracing::warn!("cannot open the listening connection: {e}"),
        }
        if store.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Polls the tails of streams with live readers every `interval`.
pub async fn poll(store: Weak<PgStore>, interval: Duration) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(s) = store.upgrade() else { return };
        s.refresh_live().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse_back() {
        assert_eq!(
            parse(&payload(7, 42, true)),
            Some(Note::Tail { id: 7, tail: 42, closed: true })
        );
        assert_eq!(
            parse(&payload(1, 0, false)),
            Some(Note::Tail { id: 1, tail: 0, closed: false })
        );
        assert_eq!(parse(&gone_payload(3)), Some(Note::Gone { id: 3 }));
        assert_eq!(parse("x 1 0"), None);
        assert_eq!(parse("5"), None);
    }

    #[test]
    fn a_batch_packs_its_notes_below_the_payload_limit() {
        let tails: Vec<(i64, u64, bool)> = (0..1000).map(|i| (i, 1 << 40, i % 2 == 0)).collect();
        let texts = payloads(&tails);
        assert!(texts.len() > 1 && texts.len() < 10, "{} notifications", texts.len());
        assert!(texts.iter().all(|t| t.len() <= PAYLOAD_MAX));
        let notes: Vec<Note> = texts.iter().flat_map(|t| parse_all(t)).collect();
        let want: Vec<Note> =
            tails.iter().map(|&(id, tail, closed)| Note::Tail { id, tail, closed }).collect();
        assert_eq!(notes, want);
        assert_eq!(payloads(&[(7, 3, false)]), vec!["7 3 0".to_string()]);
        assert!(payloads(&[]).is_empty());
    }
}
