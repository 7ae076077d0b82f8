//! Writing state through the idempotent producer, so every event lands exactly once.
//!
//! ```no_run
//! # async fn demo() -> durastream::state::Result<()> {
//! use durastream::client::{Client, CreateOptions, ProducerOptions};
//! use durastream::state::StateWriter;
//! use serde_json::json;
//!
//! let stream = Client::new().stream("http://127.0.0.1:4437/v1/stream/room-1")?;
//! stream.create(CreateOptions::new().content_type("application/json")).await?;
//! let writer = StateWriter::new(stream.producer("room-1-writer", ProducerOptions::default())?);
//! writer.insert("presence", "ann", &json!({"status": "online"}))?;
//! writer.delete("presence", "bob")?;
//! writer.flush().await?; // acknowledged: on the stream exactly once, even after retries
//! # Ok(()) }
//! ```
//!
//! Each call validates the event and hands it to [`Producer::append`], which never waits
//! on the network; the producer batches events and retries a failed batch with the same
//! producer sequence number, which the server deduplicates.

use serde::Serialize;

use crate::client::Producer;

use super::builder;
use super::error::Result;
use super::event::{ChangeEvent, ControlEvent, StateEvent};

/// Writes State Protocol events through an idempotent [`Producer`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StateWriter {
    producer: Producer,
}

impl StateWriter {
    /// Wraps a producer of a JSON stream.
    pub fn new(producer: Producer) -> StateWriter {
        StateWriter { producer }
    }

    /// The producer underneath.
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// Validates and queues any event (never waits; a full buffer is a retryable stream
    /// error, see [`StateWriter::write_wait`]).
    pub fn write(&self, event: &StateEvent) -> Result<()> {
        event.validate()?;
        Ok(self.producer.append_json(event)?)
    }

    /// Like [`StateWriter::write`], but waits for buffer room.
    pub async fn write_wait(&self, event: &StateEvent) -> Result<()> {
        event.validate()?;
        Ok(self.producer.append_wait(event.to_json().as_bytes()).await?)
    }

    /// Queues a change event.
    pub fn change(&self, event: ChangeEvent) -> Result<()> {
        self.write(&StateEvent::Change(event))
    }

    /// Queues an insert.
    pub fn insert<T: Serialize + ?Sized>(
        &self,
        entity_type: &str,
        key: &str,
        value: &T,
    ) -> Result<()> {
        self.change(builder::insert(entity_type, key, value)?)
    }

    /// Queues an update.
    pub fn update<T: Serialize + ?Sized>(
        &self,
        entity_type: &str,
        key: &str,
        value: &T,
    ) -> Result<()> {
        self.change(builder::update(entity_type, key, value)?)
    }

    /// Queues an upsert.
    pub fn upsert<T: Serialize + ?Sized>(
        &self,
        entity_type: &str,
        key: &str,
        value: &T,
    ) -> Result<()> {
        self.change(builder::upsert(entity_type, key, value)?)
    }

    /// Queues a delete.
    pub fn delete(&self, entity_type: &str, key: &str) -> Result<()> {
        self.change(builder::delete(entity_type, key)?)
    }

    /// Queues a control event (`reset`, `snapshot-start`, `snapshot-end`).
    pub fn control(&self, event: ControlEvent) -> Result<()> {
        self.write(&StateEvent::Control(event))
    }

    /// Sends everything queued and waits until the server acknowledged it.
    pub async fn flush(&self) -> Result<()> {
        Ok(self.producer.flush().await?)
    }
}
