//! Rules of `state.rs` under a controlled clock: `now` is whatever each test says.

use super::*;
use crate::subscriptions::ssrf::Policy;
use crate::subscriptions::token::Use;

const T0: i64 = 1_700_000_000_000;

fn config(json: &str) -> SubConfig {
    SubConfig::parse(json.as_bytes(), Policy { allow_localhost: true }, true).expect("valid config")
}

fn pull() -> SubState {
    let c =
        config(r#"{"type":"pull-wake","pattern":"e/*","wake_stream":"wake","lease_ttl_ms":1000}"#);
    SubState::new("s".into(), c, "http://h".into(), T0)
}

fn tails(list: &[(&str, u64, u64)]) -> Tails {
    list.iter()
        .map(|(p, id, tail)| (p.to_string(), StreamNow { id: *id, base: 0, tail: *tail }))
        .collect()
}

fn claims(s: &SubState, usage: Use) -> Claims {
    let w = s.wake.as_ref().expect("a wake");
    Claims { sub: s.id.clone(), gen: w.generation, wake: w.wake_id.clone(), usage, exp: i64::MAX }
}

#[test]
fn backfill_links_at_tail_and_new_streams_at_base() {
    let mut s = pull();
    let t = tails(&[("e/old", 1, 50)]);
    assert!(s.link_at_tail("e/old", t.get("e/old").copied(), false));
    assert!(!s.pending(&t));
    assert!(s.stream_created("e/new", StreamNow { id: 2, base: 0, tail: 10 }));
    assert!(!s.stream_created("other/x", StreamNow { id: 3, base: 0, tail: 10 }));
    let t = tails(&[("e/old", 1, 50), ("e/new", 2, 10)]);
    assert!(s.pending(&t));
    assert_eq!(s.links["e/new"].acked, 0);
    assert_eq!(s.links["e/new"].link_type(), "glob");
}

#[test]
fn explicit_and_glob_links_combine() {
    let mut s = pull();
    s.stream_created("e/a", StreamNow { id: 1, base: 0, tail: 5 });
    assert!(!s.link_at_tail("e/a", None, true), "already linked: only gains the type");
    assert_eq!(s.links["e/a"].link_type(), "explicit");
    assert!(!s.unlink_explicit("e/a"), "the glob link stays");
    assert_eq!(s.links["e/a"].link_type(), "glob");
    assert!(s.link_at_tail("manual/x", None, true));
    assert_eq!(s.links["manual/x"].acked, 0);
    assert!(s.unlink_explicit("manual/x"));
    assert!(!s.links.contains_key("manual/x"));
    assert!(!s.unlink_explicit("manual/x"), "removing an absent link is idempotent");
}

#[test]
fn reconcile_follows_deletes_and_recreations() {
    let mut s = pull();
    s.stream_created("e/a", StreamNow { id: 1, base: 0, tail: 5 });
    s.link_at_tail("m/x", Some(StreamNow { id: 2, base: 0, tail: 7 }), true);
    s.links.get_mut("e/a").expect("linked").acked = 5;
    // Both deleted: the glob link goes, the explicit one waits for its stream.
    let (changed, removed) = s.reconcile(&Tails::new());
    assert!(changed);
    assert_eq!(removed, vec!["e/a".to_string()]);
    assert_eq!(s.links["m/x"].stream_id, None);
    // Recreated: a fresh cursor at the new stream's base.
    let (changed, _) = s.reconcile(&tails(&[("m/x", 9, 3)]));
    assert!(changed);
    assert_eq!((s.links["m/x"].stream_id, s.links["m/x"].acked), (Some(9), 0));
    assert!(s.pending(&tails(&[("m/x", 9, 3)])));
}

#[test]
fn generation_increments_and_fencing_rejects_stale_requests() {
    let mut s = pull();
    s.stream_created("e/a", StreamNow { id: 1, base: 0, tail: 0 });
    let t = tails(&[("e/a", 1, 10)]);
    s.claim("w1", &t, T0, "w_1".into()).expect("claim");
    assert_eq!(s.generation, 1);
    let c1 = claims(&s, Use::Claim);
    assert!(s.fence(&c1, 1, "w_1", T0 + 10).is_ok());
    // Wrong request generation, wrong wake id, wrong token generation: all fenced.
    assert!(matches!(s.fence(&c1, 2, "w_1", T0), Err(SubError::Fenced)));
    assert!(matches!(s.fence(&c1, 1, "w_2", T0), Err(SubError::Fenced)));
    let mut forged = c1.clone();
    forged.gen = 0;
    assert!(matches!(s.fence(&forged, 1, "w_1", T0), Err(SubError::Fenced)));
    // After done, the same token and body are stale.
    s.apply_acks(&[("e/a".into(), 10)], &t).expect("ack");
    s.wake = None;
    assert!(matches!(s.fence(&c1, 1, "w_1", T0), Err(SubError::Fenced)));
    // A new wake bumps the generation; the old token cannot reach it.
    let t = tails(&[("e/a", 1, 20)]);
    s.claim("w1", &t, T0 + 50, "w_2".into()).expect("claim again");
    assert_eq!(s.generation, 2);
    assert!(matches!(s.fence(&c1, 2, "w_2", T0 + 60), Err(SubError::Fenced)));
    assert!(s.fence(&claims(&s, Use::Claim), 2, "w_2", T0 + 60).is_ok());
}

#[test]
fn leases_expire_and_heartbeats_extend_them() {
    let mut s = pull();
    s.stream_created("e/a", StreamNow { id: 1, base: 0, tail: 0 });
    let t = tails(&[("e/a", 1, 10)]);
    s.claim("w1", &t, T0, "w_1".into()).expect("claim");
    let c = claims(&s, Use::Claim);
    // Another worker is refused while the lease lives.
    match s.claim("w2", &t, T0 + 999, "w_x".into()) {
        Err(SubError::AlreadyClaimed { holder, generation }) => {
            assert_eq!((holder.as_str(), generation), ("w1", 1))
        }
        other => panic!("expected ALREADY_CLAIMED, got {other:?}"),
    }
    s.heartbeat(T0 + 900);
    assert!(!s.expire_lease(T0 + 1_800));
    assert!(s.fence(&c, 1, "w_1", T0 + 1_800).is_ok());
    // Past the extended lease the holder is fenced even before the sweep clears it ...
    assert!(matches!(s.fence(&c, 1, "w_1", T0 + 1_900), Err(SubError::Fenced)));
    // ... and the next claim takes over with a new generation.
    s.claim("w2", &t, T0 + 1_900, "w_2".into()).expect("takeover");
    assert_eq!((s.generation, s.wake.as_ref().and_then(|w| w.holder.as_deref())), (2, Some("w2")));
    // A stale ack changes no cursor: fencing fails before acks apply.
    assert!(s.fence(&c, 1, "w_1", T0 + 1_901).is_err());
    assert_eq!(s.links["e/a"].acked, 0);
}

#[test]
fn claim_without_work_and_expiry_sweep() {
    let mut s = pull();
    s.stream_created("e/a", StreamNow { id: 1, base: 0, tail: 0 });
    let idle = tails(&[("e/a", 1, 0)]);
    assert!(matches!(s.claim("w", &idle, T0, "w_1".into()), Err(SubError::NoPendingWork)));
    let t = tails(&[("e/a", 1, 4)]);
    s.issue_wake(&t, T0, "w_1".into());
    assert_eq!(s.due(), Some(T0 + 1_000));
    assert!(!s.expire_lease(T0 + 999));
    assert!(s.expire_lease(T0 + 1_000));
    assert!(s.wake.is_none());
    assert!(s.should_wake(&t, T0 + 1_000), "pending work wakes again after expiry");
}

#[test]
fn acks_are_validated_all_or_nothing() {
    let mut s = pull();
    s.stream_created("e/a", StreamNow { id: 1, base: 0, tail: 0 });
    s.stream_created("e/b", StreamNow { id: 2, base: 0, tail: 0 });
    let t = tails(&[("e/a", 1, 10), ("e/b", 2, 10)]);
    let beyond = s.apply_acks(&[("e/a".into(), 5), ("e/b".into(), 11)], &t);
    assert!(matches!(beyond, Err(SubError::InvalidOffset(_))));
    assert_eq!(s.links["e/a"].acked, 0, "nothing applied");
    assert!(s.apply_acks(&[("nope".into(), 1)], &t).is_err());
    s.apply_acks(&[("e/a".into(), 5)], &t).expect("ack");
    assert!(s.apply_acks(&[("e/a".into(), 4)], &t).is_err(), "regression refused");
    s.apply_acks(&[("e/a".into(), 5)], &t).expect("repeating an ack is fine");
}

#[test]
fn webhook_done_acks_the_snapshot_only() {
    let c =
        config(r#"{"type":"webhook","pattern":"e/*","webhook":{"url":"http://127.0.0.1:1/h"}}"#);
    let mut s = SubState::new("s".into(), c, "http://h".into(), T0);
    s.stream_created("e/a", StreamNow { id: 1, base: 0, tail: 0 });
    s.issue_wake(&tails(&[("e/a", 1, 10)]), T0, "w_1".into());
    // More arrives after the snapshot.
    let later = tails(&[("e/a", 1, 15)]);
    s.auto_ack();
    s.wake = None;
    assert_eq!(s.links["e/a"].acked, 10);
    assert!(s.should_wake(&later, T0 + 1), "new events after the snapshot wake again");
}

#[test]
fn retry_schedule_backs_off_with_jitter_and_status() {
    assert_eq!(backoff_ms(1, 0.0), 1_000);
    assert_eq!(backoff_ms(2, 0.0), 2_000);
    assert_eq!(backoff_ms(6, 0.0), 32_000);
    assert_eq!(backoff_ms(7, 0.0), 60_000);
    assert_eq!(backoff_ms(500, 0.0), 60_000);
    assert_eq!(backoff_ms(1, 1.0), 1_200);
    assert_eq!(backoff_ms(1, -1.0), 800);
    assert_eq!(backoff_ms(9, 5.0), 72_000, "jitter is clamped to 20 %");

    let c =
        config(r#"{"type":"webhook","pattern":"e/*","webhook":{"url":"http://127.0.0.1:1/h"}}"#);
    let mut s = SubState::new("s".into(), c, "http://h".into(), T0);
    s.stream_created("e/a", StreamNow { id: 1, base: 0, tail: 0 });
    let t = tails(&[("e/a", 1, 10)]);
    s.issue_wake(&t, T0, "w_1".into());
    s.delivery_failed(T0, 0.0);
    assert_eq!((s.status(), s.retry.map(|r| r.next_attempt_ms)), ("failed", Some(T0 + 1_000)));
    assert!(s.wake.is_none(), "the failed wake is fenced");
    assert!(!s.should_wake(&t, T0 + 999), "the schedule is honored");
    assert!(s.should_wake(&t, T0 + 1_000));
    s.issue_wake(&t, T0 + 1_000, "w_2".into());
    s.delivery_failed(T0 + 1_000, 0.0);
    assert_eq!(s.retry, Some(Retry { attempts: 2, next_attempt_ms: T0 + 3_000 }));
    // The schedule is part of the persisted state.
    let json = serde_json::to_string(&s).expect("serializes");
    let back: SubState = serde_json::from_str(&json).expect("parses");
    assert_eq!(back, s);
}
