//! Materialization rules, snapshot and reset handling, malformed-event policy, typed
//! accessors and checkpoints of `durastream::state`, without a server.

use durastream::state::{
    self, Change, Checkpoint, ControlEvent, ErrorKind, MalformedPolicy, MaterializedState,
    Operation, StateEvent,
};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize, PartialEq)]
struct User {
    name: String,
}

fn apply(s: &mut MaterializedState, e: impl Into<StateEvent>) -> Change {
    s.apply(e.into())
}

#[test]
fn changes_report_what_each_event_did() {
    let mut s = MaterializedState::new();
    match apply(&mut s, state::insert("user", "1", &json!({"name": "Ann"})).expect("ok")) {
        Change::Set { operation, previous, .. } => {
            assert_eq!(operation, Operation::Insert);
            assert!(previous.is_none());
        }
        other => panic!("{other:?}"),
    }
    match apply(&mut s, state::update("user", "1", &json!({"name": "Ann B."})).expect("ok")) {
        Change::Set { previous, value, .. } => {
            assert_eq!(previous.expect("replaced").get(), r#"{"name":"Ann"}"#);
            assert_eq!(value.get(), r#"{"name":"Ann B."}"#);
        }
        other => panic!("{other:?}"),
    }
    // An update of a missing key creates it; an insert over a present key replaces it.
    apply(&mut s, state::update("user", "2", &json!({"name": "Bob"})).expect("ok"));
    apply(&mut s, state::insert("user", "2", &json!({"name": "Bob 2"})).expect("ok"));
    apply(&mut s, state::upsert("user", "3", &json!({"name": "Cy"})).expect("ok"));
    assert_eq!(s.get::<User>("user", "2").expect("decodes"), Some(User { name: "Bob 2".into() }));
    match apply(&mut s, state::delete("user", "missing").expect("ok")) {
        Change::Deleted { previous, .. } => assert!(previous.is_none()),
        other => panic!("{other:?}"),
    }
    let gone = apply(&mut s, state::delete("user", "3").expect("ok"));
    assert!(gone.is_effective());
    assert_eq!(s.len("user"), 2);
    let all = s.get_all::<User>("user").expect("decodes");
    assert_eq!(all.keys().collect::<Vec<_>>(), vec!["1", "2"]);
}

#[test]
fn old_value_never_changes_the_result() {
    let mut s = MaterializedState::new();
    let e = state::update("t", "k", &1).and_then(|e| e.old_value(&"something else")).expect("ok");
    apply(&mut s, e);
    assert_eq!(s.get::<i64>("t", "k").expect("int"), Some(1));
    let d = state::delete("t", "k").and_then(|e| e.old_value(&99)).expect("ok");
    apply(&mut s, d);
    assert!(s.is_empty());
}

#[test]
fn typed_access_reports_decode_errors() {
    let mut s = MaterializedState::new();
    apply(&mut s, state::insert("user", "1", &json!({"nom": "Ann"})).expect("ok"));
    let e = s.get::<User>("user", "1").expect_err("no name field");
    assert_eq!(e.kind(), ErrorKind::Decode);
    assert!(e.message().contains("user/1"), "{e}");
    assert_eq!(s.get::<User>("user", "nope").expect("absent is fine"), None);
    assert_eq!(s.get::<serde_json::Value>("user", "1").expect("any"), Some(json!({"nom": "Ann"})));
}

#[test]
fn snapshots_mark_inconsistency_but_change_nothing() {
    let mut s = MaterializedState::new();
    apply(&mut s, state::insert("user", "before", &1).expect("ok"));
    let c = apply(&mut s, ControlEvent::snapshot_start().offset("1_0"));
    assert!(matches!(c, Change::SnapshotStart { offset: Some(ref o) } if o == "1_0"));
    assert!(s.in_snapshot());
    apply(&mut s, state::insert("user", "inside", &2).expect("ok"));
    assert!(s.contains("user", "before"), "snapshot-start does not clear");
    assert!(s.contains("user", "inside"), "changes inside a snapshot apply at once");
    apply(&mut s, ControlEvent::snapshot_end());
    assert!(!s.in_snapshot());
    // An end without a start changes nothing.
    apply(&mut s, ControlEvent::snapshot_end());
    assert!(!s.in_snapshot());
    assert_eq!(s.total_len(), 2);
}

#[test]
fn reset_clears_every_type_and_closes_a_snapshot() {
    let mut s = MaterializedState::new();
    apply(&mut s, state::insert("a", "1", &1).expect("ok"));
    apply(&mut s, state::insert("b", "1", &1).expect("ok"));
    apply(&mut s, ControlEvent::snapshot_start());
    let c = apply(&mut s, ControlEvent::reset().offset("5_0"));
    assert!(matches!(c, Change::Reset { offset: Some(ref o) } if o == "5_0"));
    assert!(s.is_empty());
    assert!(s.types().is_empty());
    assert!(!s.in_snapshot());
    apply(&mut s, state::insert("b", "2", &2).expect("ok"));
    assert_eq!(s.types(), vec!["b"]);
}

#[test]
fn malformed_policy_skip_and_stop() {
    let batch = br#"[
        {"type":"t","key":"1","value":1,"headers":{"operation":"insert"}},
        {"type":"t","key":"2","headers":{"operation":"insert"}},
        {"type":"t","key":"3","value":3,"headers":{"operation":"insert"}}
    ]"#;
    let mut skip = MaterializedState::new();
    let out = skip.apply_batch_json(batch, MalformedPolicy::Skip).expect("skips");
    assert_eq!(out.changes.len(), 2);
    assert_eq!(out.malformed.len(), 1);
    assert_eq!(out.malformed[0].field(), Some("value"));
    assert_eq!(out.malformed[0].index(), Some(1));
    assert_eq!(skip.len("t"), 2);

    let mut stop = MaterializedState::new();
    let e = stop.apply_batch_json(batch, MalformedPolicy::Stop).expect_err("stops");
    assert_eq!(e.kind(), ErrorKind::Malformed);
    assert!(stop.is_empty(), "nothing of the batch is applied");

    let e = stop.apply_batch_json(b"{\"not\":\"an array\"}", MalformedPolicy::Skip);
    assert_eq!(e.expect_err("not an array").kind(), ErrorKind::Malformed);
}

#[test]
fn checkpoints_keep_exact_values_and_the_snapshot_flag() {
    let mut s = MaterializedState::new();
    s.apply_json(r#"{"type":"n","key":"pi","value":3.14159265358979323846264,"headers":{"operation":"insert"}}"#)
        .expect("valid");
    s.apply_json(r#"{"type":"n","key":"big","value":12345678901234567890123,"headers":{"operation":"insert"}}"#)
        .expect("valid");
    apply(&mut s, ControlEvent::snapshot_start());
    let text = Checkpoint { offset: "7_7".into(), state: s }.to_json();
    let back = Checkpoint::from_json(&text).expect("reads back");
    assert_eq!(back.offset, "7_7");
    assert!(back.state.in_snapshot());
    assert_eq!(back.state.get_raw("n", "pi").expect("kept").get(), "3.14159265358979323846264");
    assert_eq!(back.state.get_raw("n", "big").expect("kept").get(), "12345678901234567890123");
    let state_only = MaterializedState::from_json(&back.state.to_json()).expect("state json");
    assert_eq!(state_only.total_len(), 2);
}
