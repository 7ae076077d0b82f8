//! A follower shared between a task that follows the stream and readers of its state:
//! what every binding hands to its language.
//!
//! [`StateFollower::next`] needs `&mut self` for as long as a live read waits, so a binding
//! cannot show the follower's state while the next batch is awaited. [`SharedFollower`]
//! keeps the follower behind an async lock and publishes a [`StateView`] (an immutable
//! copy of the state, with its offset) after every batch that leaves the follower up to
//! date. Readers take the view without waiting; they never see a catch-up half done.
//!
//! ```no_run
//! # async fn demo() -> durastream::state::Result<()> {
//! use durastream::client::Client;
//! use durastream::state::{FollowerOptions, SharedFollower};
//!
//! let stream = Client::new().stream("http://127.0.0.1:4437/v1/stream/room-1")?;
//! let follower = SharedFollower::new(stream, None, FollowerOptions::default())?;
//! while let Some(update) = follower.next().await? {
//!     let view = follower.view(); // cheap; usable from any thread
//!     println!("{} entities at {}", view.state.total_len(), view.offset);
//!     # let _ = update; break;
//! }
//! # Ok(()) }
//! ```

use std::sync::{Arc, RwLock};

use crate::client::DurableStream;

use super::checkpoint::Checkpoint;
use super::error::Result;
use super::follower::{FollowerOptions, StateFollower, Update};
use super::materialized::MaterializedState;

/// The state of a [`SharedFollower`] after its last up-to-date batch.
#[derive(Debug, Clone)]
pub struct StateView {
    /// The state (shared, never changed: a new view is published instead).
    pub state: Arc<MaterializedState>,
    /// The offset after the batch that produced this state.
    pub offset: String,
    /// Up to date and outside a snapshot when published.
    pub consistent: bool,
}

impl StateView {
    /// The view as a checkpoint (offset plus a copy of the state) to resume from.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint { offset: self.offset.clone(), state: (*self.state).clone() }
    }
}

/// A [`StateFollower`] whose state can be read while it waits for the next batch. See the
/// module docs.
#[derive(Debug)]
pub struct SharedFollower {
    follower: tokio::sync::Mutex<StateFollower>,
    view: RwLock<StateView>,
}

impl SharedFollower {
    /// Follows `stream` from `from` (a checkpoint saved as JSON by
    /// [`Checkpoint::to_json`]), or from the beginning when `None`. The first view is the
    /// checkpoint's state (not consistent until the follower has caught up).
    pub fn new(
        stream: DurableStream,
        from: Option<&str>,
        opts: FollowerOptions,
    ) -> Result<SharedFollower> {
        let checkpoint = match from {
            Some(text) => Checkpoint::from_json(text)?,
            None => Checkpoint::beginning(),
        };
        let view = StateView {
            state: Arc::new(checkpoint.state.clone()),
            offset: checkpoint.offset.clone(),
            consistent: false,
        };
        Ok(SharedFollower {
            follower: tokio::sync::Mutex::new(StateFollower::resume(stream, checkpoint, opts)),
            view: RwLock::new(view),
        })
    }

    /// Reads and applies the next batch (see [`StateFollower::next`]); when the follower is
    /// then up to date, publishes a new view. Calls wait for each other.
    pub async fn next(&self) -> Result<Option<Update>> {
        let mut f = self.follower.lock().await;
        let update = f.next().await?;
        if let Some(u) = &update {
            if u.up_to_date || u.closed {
                self.publish(StateView {
                    state: Arc::new(f.state().clone()),
                    offset: u.offset.clone(),
                    consistent: u.consistent,
                });
            }
        }
        Ok(update)
    }

    /// Applies batches until the state is consistent (see
    /// [`StateFollower::wait_consistent`]); `false` when the stream ended first.
    pub async fn wait_consistent(&self) -> Result<bool> {
        if self.view().consistent {
            return Ok(true);
        }
        while let Some(u) = self.next().await? {
            if u.consistent {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The state after the last up-to-date batch, without waiting.
    pub fn view(&self) -> StateView {
        match self.view.read() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn publish(&self, view: StateView) {
        match self.view.write() {
            Ok(mut v) => *v = view,
            Err(poisoned) => *poisoned.into_inner() = view,
        }
    }

    /// The follower's current offset and state as a checkpoint, waiting for a pending
    /// [`SharedFollower::next`] to finish.
    pub async fn checkpoint(&self) -> Checkpoint {
        self.follower.lock().await.checkpoint()
    }
}

impl From<StateFollower> for SharedFollower {
    fn from(f: StateFollower) -> SharedFollower {
        let view = StateView {
            state: Arc::new(f.state().clone()),
            offset: f.offset().to_string(),
            consistent: f.is_consistent(),
        };
        SharedFollower { follower: tokio::sync::Mutex::new(f), view: RwLock::new(view) }
    }
}
