//! Model-based test of the store on the file engine: random operations (create, append
//! with and without a producer, close, delete, fork, checkpoint, kill, power cut, restart)
//! run against the real store and against a small in-memory model of the protocol; every
//! answer and every stream's contents must agree, before and after each crash.
//!
//! A kill loses the engine's in-process buffers; a power cut also loses every data-file
//! byte written since the last checkpoint synced it (the worst the disk may do). Only
//! the write-ahead log is left to bring those bytes back.
//!
//! `PROPTEST_CASES` sets the number of cases (200 by default; 10,000 for a long
//! run).

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;

use super::file::{FileEngine, FileOptions};
use super::*;

const PATHS: usize = 4;
const TYPES: [&str; 2] = ["text/plain", "application/octet-stream"];

#[derive(Clone, Debug)]
enum Op {
    Create { p: usize, ty: usize, body: Vec<u8> },
    Append { p: usize, body: Vec<u8>, stamp: Stamp, close: bool },
    Delete { p: usize },
    Fork { p: usize, src: usize },
    Checkpoint,
    Kill,
    PowerCut,
    Restart,
}

/// How an append's producer stamp relates to the producer's last one.
#[derive(Clone, Copy, Debug)]
enum Stamp {
    None,
    Next,
    Repeat,
    Skip,
    NewEpoch,
}

fn op() -> impl Strategy<Value = Op> {
    let p = 0..PATHS;
    let body = proptest::collection::vec(any::<u8>(), 0..40);
    let stamp = prop_oneof![
        3 => Just(Stamp::None),
        4 => Just(Stamp::Next),
        1 => Just(Stamp::Repeat),
        1 => Just(Stamp::Skip),
        1 => Just(Stamp::NewEpoch),
    ];
    prop_oneof![
        3 => (p.clone(), 0..2usize, body.clone()).prop_map(|(p, ty, body)| Op::Create { p, ty, body }),
        10 => (p.clone(), body, stamp, proptest::bool::weighted(0.05))
            .prop_map(|(p, body, stamp, close)| Op::Append { p, body, stamp, close }),
        1 => p.clone().prop_map(|p| Op::Delete { p }),
        1 => (p.clone(), p).prop_map(|(p, src)| Op::Fork { p, src }),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Kill),
        1 => Just(Op::PowerCut),
        1 => Just(Op::Restart),
    ]
}

/// One stream as the protocol says it must be.
#[derive(Clone, Debug)]
struct ModelStream {
    ty: usize,
    data: Vec<u8>,
    closed: bool,
    producer: Option<ProducerState>,
    fork_of: Option<u64>,
    /// The source's path as the fork request named it (idempotent re-creation compares it).
    fork_path: Option<usize>,
    forks: u32,
    soft_deleted: bool,
}

#[derive(Default)]
struct Model {
    streams: HashMap<u64, ModelStream>,
    paths: HashMap<usize, u64>,
    next: u64,
}

/// The outcome of an operation, as far as the test compares it.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    NotFound,
    Gone,
    Conflict,
    Bad,
    Fenced,
    Skipped,
}

fn outcome<T>(r: &Result<T, StoreError>) -> Outcome {
    match r {
        Ok(_) => Outcome::Ok,
        Err(StoreError::NotFound) => Outcome::NotFound,
        Err(StoreError::Gone) => Outcome::Gone,
        Err(StoreError::Conflict(_) | StoreError::Closed { .. }) => Outcome::Conflict,
        Err(StoreError::SequenceGap { .. }) => Outcome::Conflict,
        Err(StoreError::BadRequest(_)) => Outcome::Bad,
        Err(StoreError::StaleEpoch { .. }) => Outcome::Fenced,
        Err(e) => panic!("unexpected store error: {e:?}"),
    }
}

fn path(p: usize) -> String {
    format!("/m{p}")
}

impl Model {
    fn live(&self, p: usize) -> Option<(u64, &ModelStream)> {
        let id = *self.paths.get(&p)?;
        Some((id, &self.streams[&id]))
    }

    fn create(&mut self, p: usize, ty: usize, body: &[u8]) -> Outcome {
        if let Some((_, s)) = self.live(p) {
            return if s.soft_deleted || s.ty != ty || s.closed || s.fork_of.is_some() {
                Outcome::Conflict
            } else {
                Outcome::Ok
            };
        }
        self.insert(
            p,
            ModelStream {
                ty,
                data: body.to_vec(),
                closed: false,
                producer: None,
                fork_of: None,
                fork_path: None,
                forks: 0,
                soft_deleted: false,
            },
        );
        Outcome::Ok
    }

    fn insert(&mut self, p: usize, s: ModelStream) {
        self.next += 1;
        self.streams.insert(self.next, s);
        self.paths.insert(p, self.next);
    }

    /// The stamp to send, from the model's producer state.
    fn stamp(&self, p: usize, stamp: Stamp) -> Option<ProducerStamp> {
        let last = self.live(p).and_then(|(_, s)| s.producer);
        let (epoch, seq) = match (stamp, last) {
            (Stamp::None, _) => return None,
            (_, None) => (0, 0),
            (Stamp::Next, Some(l)) => (l.epoch, l.last_seq + 1),
            (Stamp::Repeat, Some(l)) => (l.epoch, l.last_seq),
            (Stamp::Skip, Some(l)) => (l.epoch, l.last_seq + 2),
            (Stamp::NewEpoch, Some(l)) => (l.epoch + 1, 0),
        };
        Some(ProducerStamp { id: "p".into(), epoch, seq })
    }

    fn append(
        &mut self,
        p: usize,
        body: &[u8],
        stamp: Option<&ProducerStamp>,
        close: bool,
    ) -> Outcome {
        let Some((id, s)) = self.live(p) else { return Outcome::NotFound };
        if s.soft_deleted {
            return Outcome::Gone;
        }
        let check = stamp.map(|st| check_producer(s.producer.as_ref(), st));
        if let Some(ProducerCheck::StaleEpoch { .. }) = check {
            return Outcome::Fenced;
        }
        if s.closed {
            let dup = matches!(check, Some(ProducerCheck::Duplicate { .. }));
            return if dup || (body.is_empty() && close && stamp.is_none()) {
                Outcome::Ok
            } else {
                Outcome::Conflict
            };
        }
        match check {
            Some(ProducerCheck::Duplicate { .. }) => return Outcome::Ok,
            Some(ProducerCheck::EpochNeedsSeqZero) => return Outcome::Bad,
            Some(ProducerCheck::Gap { .. }) => return Outcome::Conflict,
            _ => {}
        }
        let s = self.streams.get_mut(&id).expect("live stream");
        s.data.extend_from_slice(body);
        s.closed |= close;
        if let Some(st) = stamp {
            s.producer = Some(ProducerState { epoch: st.epoch, last_seq: st.seq });
        }
        Outcome::Ok
    }

    fn delete(&mut self, p: usize) -> Outcome {
        let Some((id, s)) = self.live(p) else { return Outcome::NotFound };
        if s.soft_deleted {
            return Outcome::Gone;
        }
        if s.forks > 0 {
            self.streams.get_mut(&id).expect("live").soft_deleted = true;
            return Outcome::Ok;
        }
        self.remove(id);
        Outcome::Ok
    }

    /// Removes a stream and every soft-deleted source that loses its last fork.
    fn remove(&mut self, mut id: u64) {
        loop {
            let s = self.streams.remove(&id).expect("stream to remove");
            self.paths.retain(|_, v| *v != id);
            let Some(src) = s.fork_of else { return };
            let Some(src_s) = self.streams.get_mut(&src) else { return };
            src_s.forks -= 1;
            if !(src_s.soft_deleted && src_s.forks == 0) {
                return;
            }
            id = src;
        }
    }

    fn fork(&mut self, p: usize, src: usize) -> Outcome {
        if let Some((_, t)) = self.live(p) {
            let same = t.fork_path == Some(src) && !t.closed && !t.soft_deleted;
            return if same { Outcome::Ok } else { Outcome::Conflict };
        }
        let Some((src_id, s)) = self.live(src) else { return Outcome::NotFound };
        if s.soft_deleted {
            return Outcome::Conflict;
        }
        let forked = ModelStream {
            ty: s.ty,
            data: s.data.clone(),
            closed: false,
            producer: None,
            fork_of: Some(src_id),
            fork_path: Some(src),
            forks: 0,
            soft_deleted: false,
        };
        self.streams.get_mut(&src_id).expect("source").forks += 1;
        self.insert(p, forked);
        Outcome::Ok
    }
}

fn open(dir: &Path) -> Arc<Store> {
    let (engine, rec) = FileEngine::open(dir, FileOptions::default()).expect("recovery");
    Arc::new(Store::open(Arc::new(engine), rec.streams, rec.next_id))
}

/// After a halt: every data-file byte not synced by the last checkpoint is lost.
fn lose_unsynced_data(dir: &Path) {
    let catalog: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("catalog.json")).expect("catalog"))
            .expect("catalog json");
    let mut synced = HashMap::new();
    for s in catalog["streams"].as_array().expect("streams") {
        let id = s["id"].as_u64().expect("id");
        let len = s["tail"].as_u64().expect("tail") - s["meta"]["base"].as_u64().expect("base");
        synced.insert(id, len);
    }
    for entry in fs::read_dir(dir.join("data")).expect("data dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().to_string();
        let id = super::file::parse_data_name(&name).expect("data file name");
        let keep = synced.get(&id).copied().unwrap_or(0);
        let f = OpenOptions::new().write(true).open(entry.path()).expect("open");
        if f.metadata().expect("meta").len() > keep {
            f.set_len(keep).expect("cut");
        }
    }
}

fn check_all(store: &Store, model: &Model) {
    for p in 0..PATHS {
        let got = store.get(&path(p));
        match model.live(p) {
            None => assert!(matches!(got, Err(StoreError::NotFound)), "{p}: {:?}", got.err()),
            Some((_, m)) if m.soft_deleted => {
                assert!(matches!(got, Err(StoreError::Gone)), "{p} should be gone")
            }
            Some((_, m)) => {
                let s = got.expect("live stream");
                let v = s.visible();
                assert_eq!(v.closed, m.closed, "closed flag of {p}");
                let data = s.read(0, v.tail).expect("read");
                assert_eq!(&data[..], &m.data[..], "contents of {p}");
            }
        }
    }
}

async fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(dir.path());
    let mut model = Model::default();
    for op in ops {
        let (want, got) = match &op {
            Op::Create { p, ty, body } => {
                let want = model.create(*p, *ty, body);
                let req = CreateRequest {
                    path: path(*p),
                    content_type: Some(TYPES[*ty].into()),
                    body: Bytes::from(body.clone()),
                    ..CreateRequest::default()
                };
                (want, outcome(&store.create(req).await))
            }
            Op::Append { p, body, stamp, close } => {
                let stamp = model.stamp(*p, *stamp);
                let want = model.append(*p, body, stamp.as_ref(), *close);
                let got = match store.get(&path(*p)) {
                    Err(e) => outcome::<()>(&Err(e)),
                    Ok(s) => {
                        let req = AppendRequest {
                            content_type: Some(s.meta.content_type.clone()),
                            body: Bytes::from(body.clone()),
                            close: *close,
                            producer: stamp,
                            stream_seq: None,
                        };
                        outcome(&store.append(&s, req).await)
                    }
                };
                (want, got)
            }
            Op::Delete { p } => (model.delete(*p), outcome(&store.delete(&path(*p)).await)),
            Op::Fork { p, src } if p == src => (Outcome::Skipped, Outcome::Skipped),
            Op::Fork { p, src } => {
                let want = model.fork(*p, *src);
                let req = CreateRequest {
                    path: path(*p),
                    fork: Some(ForkRequest {
                        source_path: path(*src),
                        offset: None,
                        sub_offset: 0,
                    }),
                    ..CreateRequest::default()
                };
                (want, outcome(&store.create(req).await))
            }
            Op::Checkpoint => {
                let s = store.clone();
                tokio::task::spawn_blocking(move || s.checkpoint())
                    .await
                    .expect("join")
                    .expect("checkpoint");
                (Outcome::Ok, Outcome::Ok)
            }
            Op::Kill | Op::PowerCut | Op::Restart => {
                let s = store.clone();
                let graceful = matches!(op, Op::Restart);
                tokio::task::spawn_blocking(move || {
                    if graceful {
                        s.checkpoint().expect("checkpoint");
                        s.engine().shutdown().expect("shutdown");
                    } else {
                        s.engine().halt();
                    }
                })
                .await
                .expect("join");
                drop(store);
                if matches!(op, Op::PowerCut) {
                    lose_unsynced_data(dir.path());
                }
                store = open(dir.path());
                (Outcome::Ok, Outcome::Ok)
            }
        };
        assert_eq!(got, want, "outcome of {op:?}");
        check_all(&store, &model);
    }
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.engine().halt()).await.expect("join");
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(200)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_the_model_across_crashes(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(run(ops));
    }
}
