//! Cross-language agreement: every fixture in `tests/state/fixtures` materialized by
//! `durastream::state` equals the result the npm package `@durable-streams/state`
//! computed for it (`tests/state/npm/generate.mjs`), malformed events included.
//!
//! With `DURASTREAM_STATE_CORE_EVENTS=<path>` the events built by the core builders are
//! also written there, with the state core computes, for `tests/state/npm/check-core-events.mjs`
//! to apply with the npm package (`tests/state/run.sh` does both).

use std::path::{Path, PathBuf};

use durastream::state::{self, ControlEvent, MalformedPolicy, MaterializedState, StateEvent};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Fixture {
    description: String,
    events: Box<RawValue>,
    expected: Expected,
}

#[derive(Deserialize)]
struct Expected {
    state: Value,
    malformed: Vec<usize>,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/state/fixtures")
}

fn fixtures() -> Vec<(String, Fixture)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(fixtures_dir()).expect("fixtures dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).expect("read fixture");
            let f: Fixture = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not a fixture: {e}", path.display()));
            out.push((path.file_name().expect("name").to_string_lossy().into_owned(), f));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// JSON equality where numbers compare by value (`1.0` == `1`, `1.5e+300` == `1.5e300`):
/// core keeps a value's exact text, JavaScript re-prints it.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn state_value(s: &MaterializedState) -> Value {
    serde_json::from_str(&s.to_json()).expect("state is JSON")
}

#[test]
fn every_fixture_materializes_as_the_npm_package_does() {
    let all = fixtures();
    assert!(all.len() >= 10, "fixtures found: {}", all.len());
    let mut failures = Vec::new();
    for (name, f) in &all {
        let mut s = MaterializedState::new();
        let out = s
            .apply_batch_json(f.events.get().as_bytes(), MalformedPolicy::Skip)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let malformed: Vec<usize> = out.malformed.iter().filter_map(|e| e.index()).collect();
        let got = state_value(&s);
        if malformed != f.expected.malformed || !same(&got, &f.expected.state) {
            failures.push(format!(
                "{name} ({}):\n  malformed core {malformed:?} npm {:?}\n  state core {got}\n  state npm  {}",
                f.description, f.expected.malformed, f.expected.state
            ));
        }
        assert_eq!(out.changes.len() + out.malformed.len(), event_count(f), "{name}");
    }
    assert!(failures.is_empty(), "disagreements:\n{}", failures.join("\n"));
}

fn event_count(f: &Fixture) -> usize {
    serde_json::from_str::<Vec<&RawValue>>(f.events.get()).expect("array").len()
}

/// The fast path (a batch of well-formed events) and the full path (any batch, with
/// malformed events reported) give the same state and the same changes: every fixture is
/// applied whole (fast when it has no malformed event), event by event (fast for each
/// well-formed one), and through `parse_batch` + `apply_parsed` (always the full path).
#[test]
fn fast_and_full_paths_agree() {
    for (name, f) in fixtures() {
        let data = f.events.get().as_bytes();
        let mut full = MaterializedState::new();
        let parsed = state::parse_batch(data).expect("array");
        let want = full.apply_parsed(parsed, MalformedPolicy::Skip).expect("skip");
        let mut whole = MaterializedState::new();
        let got = whole.apply_batch_json(data, MalformedPolicy::Skip).expect("array");
        assert_eq!(
            state::Change::list_to_json(&got.changes),
            state::Change::list_to_json(&want.changes),
            "{name}"
        );
        assert_eq!(got.applied, want.applied, "{name}");
        assert_eq!(whole.to_json(), full.to_json(), "{name}");
        let mut quiet = MaterializedState::new();
        let q = quiet.apply_batch_json_quiet(data, MalformedPolicy::Skip).expect("array");
        assert!(q.changes.is_empty());
        assert_eq!((q.applied, q.malformed.len()), (want.applied, want.malformed.len()), "{name}");
        assert_eq!(quiet.to_json(), full.to_json(), "{name}");
        let mut one_by_one = MaterializedState::new();
        let mut changes = Vec::new();
        for raw in serde_json::from_str::<Vec<&RawValue>>(f.events.get()).expect("array") {
            let out = one_by_one
                .apply_batch_json(format!("[{}]", raw.get()).as_bytes(), MalformedPolicy::Skip)
                .expect("array");
            changes.extend(out.changes);
        }
        assert_eq!(
            state::Change::list_to_json(&changes),
            state::Change::list_to_json(&want.changes),
            "{name}"
        );
        assert_eq!(one_by_one.to_json(), full.to_json(), "{name}");
        assert_eq!(one_by_one.in_snapshot(), full.in_snapshot(), "{name}");
    }
}

#[test]
fn every_malformed_event_names_its_field() {
    let (_, f) = fixtures().into_iter().find(|(n, _)| n == "malformed.json").expect("fixture");
    let mut s = MaterializedState::new();
    let out = s.apply_batch_json(f.events.get().as_bytes(), MalformedPolicy::Skip).expect("array");
    for e in &out.malformed {
        assert_eq!(e.kind(), state::ErrorKind::Malformed);
        assert!(e.field().is_some(), "no field named: {e}");
        assert!(!e.message().is_empty());
    }
    let fields: Vec<&str> = out.malformed.iter().filter_map(|e| e.field()).collect();
    for f in ["", "headers", "headers.operation", "type", "key", "value", "headers.txid"] {
        assert!(fields.contains(&f), "no malformed event blamed on {f:?}: {fields:?}");
    }
    for f in ["headers.timestamp", "headers.control", "headers.offset"] {
        assert!(fields.contains(&f), "no malformed event blamed on {f:?}: {fields:?}");
    }
    // Policy Stop applies nothing of the batch.
    let mut strict = MaterializedState::new();
    let e = strict
        .apply_batch_json(f.events.get().as_bytes(), MalformedPolicy::Stop)
        .expect_err("stops");
    assert_eq!(e.index(), Some(1));
    assert!(strict.is_empty());
}

#[test]
fn valid_fixture_events_round_trip_with_unknown_fields() {
    for (name, f) in fixtures() {
        let raws: Vec<&RawValue> = serde_json::from_str(f.events.get()).expect("array");
        for (i, raw) in raws.iter().enumerate() {
            if f.expected.malformed.contains(&i) {
                continue;
            }
            let event = StateEvent::from_json(raw.get()).expect("valid event");
            let back: Value = serde_json::from_str(&event.to_json()).expect("json");
            let orig: Value = serde_json::from_str(raw.get()).expect("json");
            assert!(same(&back, &orig), "{name}[{i}]: {orig} came back as {back}");
        }
    }
}

/// Events built with the core builders: they must be accepted by the npm package.
fn core_built_events() -> Vec<StateEvent> {
    let ts = "2025-01-15T10:30:00Z";
    let events: Vec<StateEvent> = vec![
        state::insert("user", "1", &json!({"name": "Ann"}))
            .expect("ok")
            .txid("t1")
            .timestamp(ts)
            .into(),
        state::insert("user", "2", &json!({"name": "Bob"})).expect("ok").into(),
        state::update("user", "1", &json!({"name": "Ann B."}))
            .and_then(|e| e.old_value(&json!({"name": "Ann"})))
            .expect("ok")
            .txid("t2")
            .into(),
        state::upsert("user", "3", &json!({"name": "Cy"})).expect("ok").into(),
        state::upsert("user", "3", &json!({"name": "Cy 2"})).expect("ok").timestamp_now().into(),
        state::delete("user", "2")
            .and_then(|e| e.old_value(&json!({"name": "Bob"})))
            .expect("ok")
            .into(),
        state::delete("user", "missing").expect("ok").into(),
        ControlEvent::snapshot_start().offset("0_1").into(),
        state::insert("config", "theme", "dark").expect("ok").into(),
        state::insert("counter", "n", &7).expect("ok").into(),
        state::insert("list", "l", &vec![1, 2, 3]).expect("ok").into(),
        state::insert("nothing", "x", &()).expect("ok").into(),
        ControlEvent::snapshot_end().offset("0_2").into(),
        state::insert("room", "gone", &json!({})).expect("ok").into(),
        ControlEvent::reset().offset("0_3").into(),
        state::insert("room", "kept", &json!({"after": "reset"}))
            .and_then(|e| e.header("source", &json!({"app": "core"})))
            .expect("ok")
            .into(),
        state::insert("user", "1", &json!({"name": "Ann C."})).expect("ok").into(),
    ];
    for e in &events {
        e.validate().expect("builders make valid events");
    }
    events
}

#[test]
fn core_built_events_round_trip_and_materialize() {
    let events = core_built_events();
    let mut s = MaterializedState::new();
    for e in &events {
        let back = StateEvent::from_json(&e.to_json()).expect("core reads its own events");
        assert_eq!(back.to_json(), e.to_json());
        s.apply(back);
    }
    let got = state_value(&s);
    let want = json!({"room": {"kept": {"after": "reset"}}, "user": {"1": {"name": "Ann C."}}});
    assert!(same(&got, &want), "{got}");
    if let Ok(path) = std::env::var("DURASTREAM_STATE_CORE_EVENTS") {
        let doc = json!({
            "events": events.iter().map(|e| serde_json::from_str::<Value>(&e.to_json()).expect("json")).collect::<Vec<_>>(),
            "state": got,
        });
        std::fs::write(&path, doc.to_string()).expect("write core events");
    }
}

#[test]
fn builders_refuse_what_the_spec_refuses() {
    assert_eq!(state::insert("", "k", &1).expect_err("empty type").field(), Some("type"));
    assert_eq!(state::delete("t", "").expect_err("empty key").field(), Some("key"));
    let bad = state::delete("t", "k").expect("ok").timestamp("soon");
    assert_eq!(bad.validate().expect_err("bad ts").field(), Some("headers.timestamp"));
    let bad = state::delete("t", "k").expect("ok").txid("");
    assert_eq!(bad.validate().expect_err("empty txid").field(), Some("headers.txid"));
    let e = state::delete("t", "k").expect("ok").header("operation", "insert");
    assert_eq!(e.expect_err("reserved").field(), Some("headers"));
    assert!(ControlEvent::reset().offset("").validate().is_err());
}
