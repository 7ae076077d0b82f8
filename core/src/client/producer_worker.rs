//! The producer's background task: seals batches, assigns sequence numbers, keeps up to
//! `max_in_flight` requests going, and applies the rules of [`super::producer`] to every
//! answer. All decisions are made under the state lock; requests run outside it.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use reqwest::Method;
use tokio::time::Instant;

use super::error::{Error, ErrorKind, Result};
use super::http::{header_str, header_u64, is_success, status_error, Op};
use super::producer::Shared;
use super::retry::{is_transient_status, parse_retry_after};
use crate::headers as h;

/// Items being collected into the next batch.
pub(crate) struct OpenBatch {
    data: Vec<u8>,
    ends: Vec<usize>,
    pub(crate) items: usize,
    pub(crate) bytes: usize,
    started: Instant,
}

impl OpenBatch {
    pub(crate) fn new() -> OpenBatch {
        OpenBatch {
            data: Vec::new(),
            ends: Vec::new(),
            items: 0,
            bytes: 0,
            started: Instant::now(),
        }
    }

    pub(crate) fn push(&mut self, item: &[u8]) {
        self.data.extend_from_slice(item);
        self.ends.push(self.data.len());
        self.items += 1;
        self.bytes += item.len();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a send slot.
    Ready,
    InFlight,
    /// Transient failure: send again at this time.
    RetryAt(Instant),
    /// Refused with a sequence gap while earlier batches were outstanding.
    Parked,
}

/// A sealed batch.
struct Batch {
    data: Vec<u8>,
    ends: Vec<usize>,
    items: usize,
    bytes: usize,
    body: Option<Bytes>,
    failures: u32,
    gap_retries: u32,
    phase: Phase,
}

impl Batch {
    fn body(&mut self, json: bool) -> Bytes {
        if let Some(b) = &self.body {
            return b.clone();
        }
        let body = if json {
            let mut out = Vec::with_capacity(self.data.len() + self.items + 2);
            out.push(b'[');
            let mut start = 0;
            for (i, end) in self.ends.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&self.data[start..*end]);
                start = *end;
            }
            out.push(b']');
            Bytes::from(out)
        } else {
            Bytes::from(std::mem::take(&mut self.data))
        };
        self.body = Some(body.clone());
        body
    }
}

/// Everything the producer knows, behind one lock.
pub(crate) struct State {
    pub(crate) open: Option<OpenBatch>,
    queue: VecDeque<Batch>,
    unacked: BTreeMap<u64, Batch>,
    in_flight: usize,
    pub(crate) epoch: u64,
    pub(crate) next_seq: u64,
    pub(crate) epoch_confirmed: bool,
    /// A stale-epoch answer asked to move to this epoch once nothing is in flight.
    claim_epoch: Option<u64>,
    pub(crate) json: Option<bool>,
    pub(crate) content_type: Option<String>,
    pub(crate) buffered_bytes: usize,
    pub(crate) appended_items: u64,
    sealed_items: u64,
    pub(crate) acked_items: u64,
    pub(crate) flush_upto: u64,
    pub(crate) last_offset: Option<String>,
    pub(crate) error: Option<Error>,
    pub(crate) closing: bool,
    pub(crate) close_result: Option<super::stream::CloseResult>,
    pub(crate) stopped: bool,
    pub(crate) dropped: bool,
    pub(crate) worker_gone: bool,
}

impl State {
    /// Batches sent and not yet answered.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    pub(crate) fn new(epoch: u64, json: Option<bool>, content_type: Option<String>) -> State {
        State {
            open: None,
            queue: VecDeque::new(),
            unacked: BTreeMap::new(),
            in_flight: 0,
            epoch,
            next_seq: 0,
            epoch_confirmed: false,
            claim_epoch: None,
            json,
            content_type,
            buffered_bytes: 0,
            appended_items: 0,
            sealed_items: 0,
            acked_items: 0,
            flush_upto: 0,
            last_offset: None,
            error: None,
            closing: false,
            close_result: None,
            stopped: false,
            dropped: false,
            worker_gone: false,
        }
    }

    /// Fails unless the producer accepts appends.
    pub(crate) fn usable(&self, url: &str) -> Result<()> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.stopped || self.closing || self.close_result.is_some() || self.worker_gone {
            return Err(Error::builder(
                ErrorKind::ProducerClosed,
                "producer is closed or detached",
            )
            .url(url)
            .build());
        }
        Ok(())
    }

    pub(crate) fn seal_open(&mut self) {
        if let Some(b) = self.open.take().filter(|b| b.items > 0) {
            self.sealed_items += b.items as u64;
            self.queue.push_back(Batch {
                data: b.data,
                ends: b.ends,
                items: b.items,
                bytes: b.bytes,
                body: None,
                failures: 0,
                gap_retries: 0,
                phase: Phase::Ready,
            });
        }
    }

    fn has_work(&self) -> bool {
        self.open.is_some() || !self.queue.is_empty() || !self.unacked.is_empty()
    }

    fn fail(&mut self, e: Error) {
        self.error = Some(e);
        self.open = None;
        self.queue.clear();
        self.unacked.clear();
        self.claim_epoch = None;
        self.buffered_bytes = 0;
        // The discarded items count as settled, so a flush after `restart()` waits only
        // for later items.
        self.sealed_items = self.appended_items;
        self.acked_items = self.appended_items;
    }
}

/// What one batch request came back with.
enum Outcome {
    Acked { offset: Option<String> },
    Transient { error: Error, retry_after: Option<Duration> },
    Gap(Error),
    Stale { error: Error, server_epoch: u64 },
    Fatal(Error),
}

type Pending = Pin<Box<dyn Future<Output = (u64, u64, Outcome)> + Send>>;

/// The background task.
pub(crate) async fn run_worker(shared: Arc<Shared>) {
    let mut in_flight: FuturesUnordered<Pending> = FuturesUnordered::new();
    loop {
        // Learn the content type before the first send.
        let need_ct = {
            let st = shared.lock();
            st.json.is_none() && st.error.is_none() && (!st.queue.is_empty() || st.open.is_some())
        };
        if need_ct {
            match shared.stream.resolve_content_type().await {
                Ok(ct) => {
                    let mut st = shared.lock();
                    st.json = Some(crate::json::is_json(&ct));
                    st.content_type = Some(ct);
                }
                Err(e) => fail(&shared, e),
            }
        }
        let deadline = schedule(&shared, &mut in_flight);
        let exit = {
            let mut st = shared.lock();
            let idle = in_flight.is_empty() && (st.error.is_some() || !st.has_work());
            if (st.dropped || st.stopped) && idle {
                st.worker_gone = true;
                true
            } else {
                false
            }
        };
        if exit {
            shared.bump();
            return;
        }
        tokio::select! {
            Some((epoch, seq, outcome)) = in_flight.next(), if !in_flight.is_empty() => {
                settle(&shared, epoch, seq, outcome);
            }
            _ = shared.wake.notified() => {}
            _ = sleep_until(deadline) => {}
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn fail(shared: &Shared, e: Error) {
    {
        let mut st = shared.lock();
        if st.error.is_some() {
            return;
        }
        st.fail(e.clone());
    }
    if let Some(cb) = &shared.opts.on_error {
        cb(&e);
    }
    shared.bump();
}

/// Seals and sends what the rules allow; returns when the task must wake up next.
fn schedule(shared: &Arc<Shared>, in_flight: &mut FuturesUnordered<Pending>) -> Option<Instant> {
    let opts = &shared.opts;
    let now = Instant::now();
    let mut st = shared.lock();
    if st.error.is_some() || st.json.is_none() && st.has_work() {
        return None;
    }
    // Move to a claimed epoch once nothing is in flight: renumber from 0.
    if let Some(epoch) = st.claim_epoch {
        if st.in_flight > 0 {
            return None;
        }
        let mut redo: Vec<Batch> = std::mem::take(&mut st.unacked).into_values().collect();
        for b in &mut redo {
            b.phase = Phase::Ready;
            b.failures = 0;
        }
        for b in redo.into_iter().rev() {
            st.queue.push_front(b);
        }
        st.epoch = epoch;
        st.next_seq = 0;
        st.epoch_confirmed = false;
        st.claim_epoch = None;
    }
    let limit = if opts.auto_claim && !st.epoch_confirmed { 1 } else { opts.max_in_flight };
    let mut next_wake: Option<Instant> = None;
    let json = st.json.unwrap_or(false);
    let epoch = st.epoch;
    loop {
        if st.in_flight >= limit {
            break;
        }
        // Due retries and unparked batches first, in sequence order.
        let due = st.unacked.iter().find_map(|(seq, b)| match b.phase {
            Phase::Ready => Some(*seq),
            Phase::RetryAt(t) if t <= now => Some(*seq),
            _ => None,
        });
        let seq = match due {
            Some(seq) => seq,
            None => {
                if st.queue.is_empty() {
                    let linger_due = st.open.as_ref().is_some_and(|b| {
                        b.started + opts.linger <= now || st.sealed_items < st.flush_upto
                    });
                    let must = st.dropped || st.stopped;
                    if linger_due || must && st.open.is_some() {
                        st.seal_open();
                    }
                }
                let Some(batch) = st.queue.pop_front() else { break };
                let seq = st.next_seq;
                st.next_seq += 1;
                st.unacked.insert(seq, batch);
                seq
            }
        };
        let Some(batch) = st.unacked.get_mut(&seq) else { break };
        batch.phase = Phase::InFlight;
        let body = batch.body(json);
        st.in_flight += 1;
        let ct = st.content_type.clone().unwrap_or_else(|| "application/octet-stream".to_string());
        in_flight.push(Box::pin(send_batch(shared.clone(), epoch, seq, ct, body)));
    }
    // When must the task look again?
    for b in st.unacked.values() {
        if let Phase::RetryAt(t) = b.phase {
            next_wake = Some(next_wake.map_or(t, |w| w.min(t)));
        }
    }
    if let Some(b) = &st.open {
        let t = b.started + opts.linger;
        next_wake = Some(next_wake.map_or(t, |w| w.min(t)));
    }
    next_wake
}

async fn send_batch(
    shared: Arc<Shared>,
    epoch: u64,
    seq: u64,
    ct: String,
    body: Bytes,
) -> (u64, u64, Outcome) {
    let stream = &shared.stream;
    let mut req = stream
        .req(Method::POST, Op::Produce)
        .header("content-type", ct)
        .header(h::PRODUCER_ID, shared.id.clone())
        .header(h::PRODUCER_EPOCH, epoch.to_string())
        .header(h::PRODUCER_SEQ, seq.to_string());
    req.body = Some(body);
    let outcome = match stream.client.send_once(&req).await {
        Err(e) => match e.kind() {
            ErrorKind::Network | ErrorKind::Timeout => {
                Outcome::Transient { error: e, retry_after: None }
            }
            _ => Outcome::Fatal(e),
        },
        Ok(resp) if is_success(resp.status()) => Outcome::Acked {
            offset: header_str(resp.headers(), h::STREAM_NEXT_OFFSET).map(str::to_string),
        },
        Ok(resp) => {
            let status = resp.status().as_u16();
            let retry_after = header_str(resp.headers(), "retry-after").and_then(parse_retry_after);
            let server_epoch = header_u64(resp.headers(), h::PRODUCER_EPOCH);
            let error = status_error(resp, &stream.url, Op::Produce).await;
            match error.kind() {
                ErrorKind::SequenceGap => Outcome::Gap(error),
                ErrorKind::StaleEpoch => {
                    Outcome::Stale { error, server_epoch: server_epoch.unwrap_or(0) }
                }
                _ if is_transient_status(status) => Outcome::Transient { error, retry_after },
                _ => Outcome::Fatal(error),
            }
        }
    };
    (epoch, seq, outcome)
}

/// Applies one answer to the state.
fn settle(shared: &Arc<Shared>, epoch: u64, seq: u64, outcome: Outcome) {
    let retry = shared.stream.client.retry_options().clone();
    let mut fatal = None;
    {
        let mut st = shared.lock();
        st.in_flight = st.in_flight.saturating_sub(1);
        if st.error.is_some() || epoch != st.epoch {
            return;
        }
        match outcome {
            Outcome::Acked { offset } => {
                if let Some(b) = st.unacked.remove(&seq) {
                    st.acked_items += b.items as u64;
                    st.buffered_bytes = st.buffered_bytes.saturating_sub(b.bytes);
                }
                st.epoch_confirmed = true;
                if offset.is_some() {
                    st.last_offset = offset;
                }
                // The lowest outstanding batch may have been waiting for this one.
                if let Some((_, first)) = st.unacked.iter_mut().next() {
                    if first.phase == Phase::Parked {
                        first.phase = Phase::Ready;
                    }
                }
            }
            Outcome::Transient { error, retry_after } => {
                if let Some(b) = st.unacked.get_mut(&seq) {
                    if b.failures >= retry.max_retries {
                        fatal = Some(error.with_attempts(b.failures + 1));
                    } else {
                        b.phase =
                            Phase::RetryAt(Instant::now() + retry.delay(b.failures, retry_after));
                        b.failures += 1;
                    }
                }
            }
            Outcome::Gap(error) => {
                // An earlier batch still outstanding: this one overtook it; wait for it.
                // Otherwise the earlier ones were acknowledged after the server answered:
                // send again, a few times at most (a server that lost our state keeps
                // answering with a gap).
                let earlier_outstanding = st.unacked.range(..seq).next().is_some();
                match st.unacked.get_mut(&seq) {
                    Some(b) if earlier_outstanding => b.phase = Phase::Parked,
                    Some(b) if b.gap_retries < 3 => {
                        b.gap_retries += 1;
                        b.phase = Phase::Ready;
                    }
                    _ => fatal = Some(error),
                }
            }
            Outcome::Stale { error, server_epoch } => {
                if shared.opts.auto_claim {
                    let target = server_epoch.max(st.epoch) + 1;
                    st.claim_epoch = Some(st.claim_epoch.map_or(target, |c| c.max(target)));
                    if let Some(b) = st.unacked.get_mut(&seq) {
                        b.phase = Phase::Parked;
                    }
                } else {
                    fatal = Some(error);
                }
            }
            Outcome::Fatal(error) => {
                if error.kind() == ErrorKind::StreamClosed {
                    st.stopped = true;
                }
                fatal = Some(error);
            }
        }
    }
    match fatal {
        Some(e) => fail(shared, e),
        None => shared.bump(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::producer::ProducerOptions;
    use crate::client::Client;
    use std::sync::Mutex;

    fn shared(opts: ProducerOptions) -> Arc<Shared> {
        let stream = Client::new().stream("http://127.0.0.1:9/s").expect("url");
        let (progress, _) = tokio::sync::watch::channel(0);
        Arc::new(Shared {
            stream,
            id: "p".into(),
            opts,
            state: Mutex::new(State::new(0, Some(false), Some("text/plain".into()))),
            wake: tokio::sync::Notify::new(),
            progress,
        })
    }

    fn batch(bytes: &[u8], phase: Phase) -> Batch {
        Batch {
            data: bytes.to_vec(),
            ends: vec![bytes.len()],
            items: 1,
            bytes: bytes.len(),
            body: None,
            failures: 0,
            gap_retries: 0,
            phase,
        }
    }

    fn in_flight(sh: &Shared, seqs: &[u64]) {
        let mut st = sh.lock();
        for s in seqs {
            st.unacked.insert(*s, batch(b"x", Phase::InFlight));
            st.appended_items += 1;
            st.buffered_bytes += 1;
        }
        st.in_flight = seqs.len();
        st.next_seq = seqs.len() as u64;
    }

    fn phase(sh: &Shared, seq: u64) -> Option<Phase> {
        sh.lock().unacked.get(&seq).map(|b| b.phase)
    }

    fn gap(expected: u64, received: u64) -> Outcome {
        Outcome::Gap(
            Error::builder(ErrorKind::SequenceGap, "gap")
                .seqs(Some(expected), Some(received))
                .build(),
        )
    }

    #[test]
    fn batch_bodies() {
        let mut b = OpenBatch::new();
        b.push(b"{\"a\":1}");
        b.push(b"[1,2]");
        let mut st = State::new(0, Some(true), None);
        st.open = Some(b);
        st.appended_items = 2;
        st.seal_open();
        let mut sealed = st.queue.pop_front().expect("sealed");
        assert_eq!(&sealed.body(true)[..], b"[{\"a\":1},[1,2]]");
        assert_eq!(&sealed.body(true)[..], b"[{\"a\":1},[1,2]]", "built once, reused on retry");
        let mut raw = batch(b"abc", Phase::Ready);
        assert_eq!(&raw.body(false)[..], b"abc");
        assert_eq!(st.sealed_items, 2);
    }

    #[test]
    fn overtaking_batch_is_parked_until_its_predecessor_is_acked() {
        let sh = shared(ProducerOptions { max_in_flight: 3, ..ProducerOptions::default() });
        in_flight(&sh, &[0, 1, 2]);
        settle(&sh, 0, 2, gap(0, 2));
        settle(&sh, 0, 1, gap(0, 1));
        assert_eq!(phase(&sh, 1), Some(Phase::Parked));
        assert_eq!(phase(&sh, 2), Some(Phase::Parked));
        settle(&sh, 0, 0, Outcome::Acked { offset: Some("o1".into()) });
        assert_eq!(phase(&sh, 1), Some(Phase::Ready));
        assert_eq!(phase(&sh, 2), Some(Phase::Parked));
        let st = sh.lock();
        assert_eq!(st.acked_items, 1);
        assert_eq!(st.buffered_bytes, 2);
        assert_eq!(st.last_offset.as_deref(), Some("o1"));
        assert!(st.error.is_none());
    }

    #[test]
    fn gap_without_predecessor_is_retried_then_fatal() {
        let seen = Arc::new(Mutex::new(0));
        let seen2 = seen.clone();
        let opts = ProducerOptions {
            on_error: Some(Arc::new(move |_| *seen2.lock().expect("lock") += 1)),
            ..ProducerOptions::default()
        };
        let sh = shared(opts);
        in_flight(&sh, &[0]);
        // The predecessor was acknowledged after the server answered: send again.
        for _ in 0..3 {
            settle(&sh, 0, 0, gap(0, 0));
            assert_eq!(phase(&sh, 0), Some(Phase::Ready));
            sh.lock().in_flight = 1;
        }
        settle(&sh, 0, 0, gap(0, 0));
        let st = sh.lock();
        assert_eq!(st.error.as_ref().map(Error::kind), Some(ErrorKind::SequenceGap));
        assert!(st.unacked.is_empty() && st.buffered_bytes == 0);
        assert_eq!(st.acked_items, st.appended_items);
        assert_eq!(*seen.lock().expect("lock"), 1);
    }

    #[test]
    fn transient_failures_back_off_then_give_up() {
        let sh = shared(ProducerOptions::default());
        in_flight(&sh, &[0]);
        let max = sh.stream.client.retry_options().max_retries;
        for _ in 0..max {
            let e = Error::new(ErrorKind::Network, "reset");
            settle(&sh, 0, 0, Outcome::Transient { error: e, retry_after: None });
            assert!(matches!(phase(&sh, 0), Some(Phase::RetryAt(_))));
            sh.lock().in_flight = 1;
        }
        let e = Error::new(ErrorKind::Network, "reset");
        settle(&sh, 0, 0, Outcome::Transient { error: e, retry_after: None });
        let st = sh.lock();
        let err = st.error.as_ref().expect("fatal");
        assert_eq!(err.kind(), ErrorKind::Network);
        assert_eq!(err.attempts(), max + 1);
    }

    #[test]
    fn stale_epoch_with_auto_claim_renumbers_from_zero() {
        let sh = shared(ProducerOptions { auto_claim: true, ..ProducerOptions::default() });
        in_flight(&sh, &[0, 1]);
        let stale = |sh: &Arc<Shared>, seq| {
            let e = Error::builder(ErrorKind::StaleEpoch, "stale").epoch(Some(7)).build();
            settle(sh, 0, seq, Outcome::Stale { error: e, server_epoch: 7 });
        };
        stale(&sh, 0);
        assert_eq!(sh.lock().claim_epoch, Some(8));
        // Nothing moves while a batch of the old epoch is in flight.
        let mut pending = FuturesUnordered::new();
        assert!(schedule(&sh, &mut pending).is_none());
        assert_eq!(sh.lock().epoch, 0);
        stale(&sh, 1);
        // Now the claim happens and the first batch goes out alone (epoch unconfirmed).
        let _ = schedule(&sh, &mut pending);
        let st = sh.lock();
        assert_eq!(st.epoch, 8);
        assert_eq!(st.next_seq, 1);
        assert_eq!(st.in_flight, 1);
        assert_eq!(pending.len(), 1);
        assert_eq!(st.queue.len(), 1);
        assert!(st.error.is_none());
    }

    #[test]
    fn stale_epoch_without_auto_claim_is_fatal() {
        let sh = shared(ProducerOptions::default());
        in_flight(&sh, &[0]);
        let e = Error::builder(ErrorKind::StaleEpoch, "stale").epoch(Some(2)).build();
        settle(&sh, 0, 0, Outcome::Stale { error: e, server_epoch: 2 });
        let st = sh.lock();
        assert_eq!(st.error.as_ref().and_then(Error::current_epoch), Some(2));
        assert!(st.usable("u").is_err());
    }
}
