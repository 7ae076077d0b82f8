//! The live state follower: catches up on a State Protocol stream, then follows it,
//! applying events in stream order.
//!
//! ```no_run
//! # async fn demo() -> durastream::state::Result<()> {
//! use durastream::client::Client;
//! use durastream::state::{Checkpoint, FollowerOptions, StateFollower};
//!
//! let stream = Client::new().stream("http://127.0.0.1:4437/v1/stream/room-1")?;
//! let mut follower = StateFollower::new(stream.clone(), FollowerOptions::default());
//! follower.wait_consistent().await?;            // caught up, outside any snapshot
//! let saved = follower.checkpoint().to_json();   // store it anywhere
//! while let Some(update) = follower.next().await? {
//!     for change in &update.changes { println!("{change:?}"); }
//! }
//! // Later, without replaying the stream from the start:
//! let resumed = StateFollower::resume(stream, Checkpoint::from_json(&saved)?,
//!     FollowerOptions::default());
//! # let _ = resumed; Ok(()) }
//! ```
//!
//! **Consistent** means: the follower had every event that existed when the last batch
//! was sent (up to date) and is not between a `snapshot-start` and its `snapshot-end`.
//! Each batch (one read response or SSE event) is applied whole before the state is
//! shown, so a reader of [`StateFollower::state`] never sees half a batch.
//!
//! Malformed events are skipped and reported ([`MalformedPolicy::Skip`], the default) or
//! stop the follower before the batch holding them ([`MalformedPolicy::Stop`]).
//!
//! **Snapshots** (a server with state compaction, `docs/state-compaction.md`): a follower
//! started without a checkpoint asks the stream (`HEAD`) for its newest snapshot; when there
//! is one it applies the snapshot, then follows the stream from the snapshot's offset instead
//! of replaying everything. A follower resuming from an offset the server no longer retains
//! (`410 Gone`, the stream was trimmed) starts over from the newest snapshot: its state is
//! replaced, reported as a [`Change::Reset`] followed by the snapshot's changes.

use std::sync::Arc;

use crate::client::{self, DurableStream, LiveMode, ReadOptions, Reader};

use super::checkpoint::Checkpoint;
use super::error::{Error, ErrorKind, Result};
use super::materialized::{BatchOutcome, Change, MalformedPolicy, MaterializedState};
use super::parse::parse_batch;

/// Called with every malformed event a follower skips or stops on.
pub type MalformedCallback = Arc<dyn Fn(&Error) + Send + Sync>;

/// Settings of a [`StateFollower`].
#[derive(Clone)]
pub struct FollowerOptions {
    /// How to follow after catching up. Default [`LiveMode::Auto`] (SSE, falling back to
    /// long-poll); [`LiveMode::Off`] stops once caught up.
    pub live: LiveMode,
    /// What to do with a malformed event. Default: skip and report.
    pub malformed: MalformedPolicy,
    /// Receives every malformed event (in addition to [`Update::malformed`]).
    pub on_malformed: Option<MalformedCallback>,
    /// Start from the server's newest snapshot when there is one (see the module docs).
    /// Default: true.
    pub snapshots: bool,
}

impl Default for FollowerOptions {
    fn default() -> Self {
        FollowerOptions {
            live: LiveMode::Auto,
            malformed: MalformedPolicy::Skip,
            on_malformed: None,
            snapshots: true,
        }
    }
}

impl std::fmt::Debug for FollowerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FollowerOptions")
            .field("live", &self.live)
            .field("malformed", &self.malformed)
            .field("snapshots", &self.snapshots)
            .finish_non_exhaustive()
    }
}

impl FollowerOptions {
    /// Sets the live mode.
    pub fn live(mut self, live: LiveMode) -> Self {
        self.live = live;
        self
    }

    /// Sets the malformed-event policy.
    pub fn malformed(mut self, policy: MalformedPolicy) -> Self {
        self.malformed = policy;
        self
    }

    /// Uses (the default) or ignores the server's snapshots.
    pub fn snapshots(mut self, on: bool) -> Self {
        self.snapshots = on;
        self
    }

    /// Sets the malformed-event callback.
    pub fn on_malformed(mut self, f: impl Fn(&Error) + Send + Sync + 'static) -> Self {
        self.on_malformed = Some(Arc::new(f));
        self
    }
}

/// One applied batch.
#[derive(Debug, Clone)]
pub struct Update {
    /// What each applied event did, in stream order.
    pub changes: Vec<Change>,
    /// Malformed events skipped in this batch (each with its index and the batch offset).
    pub malformed: Vec<Error>,
    /// The offset after the batch (where a resumed follower starts).
    pub offset: String,
    /// The follower had every event that existed when the batch was sent.
    pub up_to_date: bool,
    /// Up to date and outside a snapshot: the state is a consistent view.
    pub consistent: bool,
    /// The stream is closed; this was its last batch.
    pub closed: bool,
}

/// Follows a State Protocol stream. See the module docs.
pub struct StateFollower {
    stream: DurableStream,
    reader: Reader,
    /// Look for a snapshot before the first read (started from the beginning).
    try_snapshot: bool,
    state: MaterializedState,
    offset: String,
    up_to_date: bool,
    closed: bool,
    stopped: Option<Error>,
    opts: FollowerOptions,
}

impl std::fmt::Debug for StateFollower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateFollower")
            .field("offset", &self.offset)
            .field("up_to_date", &self.up_to_date)
            .field("entities", &self.state.total_len())
            .finish_non_exhaustive()
    }
}

impl StateFollower {
    /// A follower from the beginning of the stream, with an empty state. Nothing is sent
    /// until [`StateFollower::next`].
    pub fn new(stream: DurableStream, opts: FollowerOptions) -> StateFollower {
        StateFollower::resume(stream, Checkpoint::beginning(), opts)
    }

    /// A follower that goes on from a checkpoint: its state is the checkpoint's state and
    /// reading starts at its offset.
    pub fn resume(stream: DurableStream, from: Checkpoint, opts: FollowerOptions) -> StateFollower {
        let reader = tail_reader(&stream, &from.offset, opts.live);
        let try_snapshot = opts.snapshots && from.offset == "-1";
        StateFollower {
            stream,
            reader,
            try_snapshot,
            state: from.state,
            offset: from.offset,
            up_to_date: false,
            closed: false,
            stopped: None,
            opts,
        }
    }

    /// Reads the next batch and applies it. `None` once the stream is closed and read, or
    /// (live mode off) once caught up. A stream error leaves the follower usable: calling
    /// again retries from the same offset. After a stop on a malformed event every call
    /// returns [`ErrorKind::Stopped`].
    pub async fn next(&mut self) -> Result<Option<Update>> {
        if let Some(e) = &self.stopped {
            return Err(Error::new(ErrorKind::Stopped, format!("follower stopped: {e}")));
        }
        if self.try_snapshot {
            // On an error the next call asks again.
            let update = self.start_from_snapshot(false).await?;
            self.try_snapshot = false;
            if let Some(update) = update {
                return Ok(Some(update));
            }
        }
        let batch = match self.reader.next_chunk().await {
            Ok(Some(batch)) => batch,
            Ok(None) => return Ok(None),
            Err(e) if e.kind() == client::ErrorKind::Gone && self.opts.snapshots => {
                match self.start_from_snapshot(true).await? {
                    Some(update) => return Ok(Some(update)),
                    None => return Err(Error::stream(e)),
                }
            }
            Err(e) => return Err(Error::stream(e)),
        };
        let outcome = match apply_chunk(&mut self.state, &batch.data, &self.offset, &self.opts) {
            Ok(o) => o,
            Err(e) => {
                self.stopped = Some(e.clone());
                return Err(e);
            }
        };
        self.offset = batch.next_offset;
        self.up_to_date = batch.up_to_date;
        self.closed = batch.closed;
        Ok(Some(Update {
            changes: outcome.changes,
            malformed: outcome.malformed,
            offset: self.offset.clone(),
            up_to_date: self.up_to_date,
            consistent: self.is_consistent(),
            closed: batch.closed,
        }))
    }

    /// Replaces the state with the stream's newest snapshot and continues reading at its
    /// offset. `None` when the server offers no snapshot. `reset`: report the replacement
    /// as a [`Change::Reset`] first (the state had entities).
    async fn start_from_snapshot(&mut self, reset: bool) -> Result<Option<Update>> {
        // A newer snapshot may replace the one named between the HEAD and the read: retry.
        let mut attempts = 0;
        let (offset, state, mut outcome) = loop {
            let info = self.stream.head().await.map_err(Error::stream)?;
            let (Some(url), Some(offset)) = (info.snapshot, info.snapshot_offset) else {
                return Ok(None);
            };
            match read_snapshot(&self.stream, &url, &self.opts).await {
                Ok((state, outcome)) => break (offset, state, outcome),
                Err(e) if attempts < 3 && is_not_found(&e) => attempts += 1,
                Err(e) => return Err(e),
            }
        };
        if reset {
            outcome.changes.insert(0, Change::Reset { offset: None });
        }
        self.state = state;
        self.reader = tail_reader(&self.stream, &offset, self.opts.live);
        self.offset = offset;
        self.up_to_date = false;
        self.closed = false;
        Ok(Some(Update {
            changes: outcome.changes,
            malformed: outcome.malformed,
            offset: self.offset.clone(),
            up_to_date: false,
            consistent: false,
            closed: false,
        }))
    }

    /// Applies batches until the state is consistent. Returns `false` when the stream
    /// ended first (closed inside a snapshot, or nothing more to read).
    pub async fn wait_consistent(&mut self) -> Result<bool> {
        if self.is_consistent() {
            return Ok(true);
        }
        while let Some(update) = self.next().await? {
            if update.consistent {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// True when the last batch was up to date and no snapshot is open.
    pub fn is_consistent(&self) -> bool {
        self.up_to_date && !self.state.in_snapshot()
    }

    /// True after the stream's closing batch was applied.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The state built so far.
    pub fn state(&self) -> &MaterializedState {
        &self.state
    }

    /// The offset after the last applied batch.
    pub fn offset(&self) -> &str {
        &self.offset
    }

    /// The offset and a copy of the state, to save and later pass to
    /// [`StateFollower::resume`].
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint { offset: self.offset.clone(), state: self.state.clone() }
    }

    /// Ends following and returns the state.
    pub fn into_state(self) -> MaterializedState {
        self.state
    }
}

/// A reader of `stream` from `offset` whose chunks the follower parses itself.
fn tail_reader(stream: &DurableStream, offset: &str, live: LiveMode) -> Reader {
    let mut reader = stream.read(ReadOptions::new().offset(offset).live(live));
    // Each batch is parsed once, by parse_batch, not also by the reader.
    reader.validate_json = false;
    reader
}

/// Parses and applies one read chunk read at `offset`, reporting malformed events.
fn apply_chunk(
    state: &mut MaterializedState,
    data: &[u8],
    offset: &str,
    opts: &FollowerOptions,
) -> Result<BatchOutcome> {
    if let Some(outcome) = state.apply_well_formed(data, true) {
        return Ok(outcome);
    }
    let events = match parse_batch(data) {
        Ok(events) => events
            .into_iter()
            .map(|e| {
                e.map_err(|e| {
                    let i = e.index().unwrap_or(0);
                    e.at(i, Some(offset))
                })
            })
            .collect::<Vec<_>>(),
        // A body that is not an array of events counts as one malformed event.
        Err(e) => vec![Err(e.at(0, Some(offset)))],
    };
    let outcome = state.apply_parsed(events, opts.malformed).inspect_err(|e| {
        if let Some(f) = &opts.on_malformed {
            f(e);
        }
    })?;
    if let Some(f) = &opts.on_malformed {
        outcome.malformed.iter().for_each(|e| f(e));
    }
    Ok(outcome)
}

fn is_not_found(e: &Error) -> bool {
    e.client_error().is_some_and(|c| c.kind() == client::ErrorKind::NotFound)
}

/// Reads a whole snapshot stream into a new state. A free function: a future that held
/// `&StateFollower` would need the follower to be `Sync`, which its reader is not.
async fn read_snapshot(
    stream: &DurableStream,
    url: &str,
    opts: &FollowerOptions,
) -> Result<(MaterializedState, BatchOutcome)> {
    let snap = stream.sibling(url).map_err(Error::stream)?;
    let mut reader = tail_reader(&snap, "-1", LiveMode::Off);
    let mut state = MaterializedState::new();
    let mut all = BatchOutcome::default();
    let mut offset = "-1".to_string();
    while let Some(batch) = reader.next_chunk().await.map_err(Error::stream)? {
        let o = apply_chunk(&mut state, &batch.data, &offset, opts)?;
        all.applied += o.applied;
        all.changes.extend(o.changes);
        all.malformed.extend(o.malformed);
        offset = batch.next_offset;
    }
    Ok((state, all))
}
