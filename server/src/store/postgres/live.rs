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

/// A notification's text: `<id> <tail> <closed 0|1>`, or `<id> gone`.
pub fn payload(id: i64, tail: u64, closed: bool) -> String {
    format!("{id} {tail} {}", u8::from(closed))
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
                            if let Some(note) = parse(&text) {
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
}
