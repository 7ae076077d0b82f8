//! The bounds of the registry: subscription and link caps, JSON wake streams, and no memory
//! kept for requests naming unknown subscriptions.

use super::*;
use crate::store::{CreateRequest, MemoryEngine};

fn open(max_subscriptions: usize, max_links: usize) -> Arc<Subscriptions> {
    let store = Arc::new(Store::open(Arc::new(MemoryEngine), Vec::new(), 1));
    let config =
        Config { max_subscriptions, max_subscription_links: max_links, ..Config::memory() };
    Subscriptions::open(store, &config).expect("in-memory subscriptions open")
}

async fn create(subs: &Subscriptions, rel: &str, content_type: &str) {
    let req = CreateRequest {
        path: format!("/v1/stream/{rel}"),
        content_type: Some(content_type.to_string()),
        ..CreateRequest::default()
    };
    subs.store.create(req).await.expect("stream created");
}

fn limit(e: SubError) -> &'static str {
    match e {
        SubError::LimitExceeded { flag, .. } => flag,
        other => panic!("expected LimitExceeded, got {other:?}"),
    }
}

#[tokio::test]
async fn unknown_ids_leave_no_lock_behind() {
    let subs = open(10, 10);
    for i in 0..500 {
        let id = format!("nope-{i}");
        assert!(matches!(
            subs.add_streams(&id, br#"{"streams":["a"]}"#).await,
            Err(SubError::NotFound)
        ));
        assert!(matches!(subs.remove_stream(&id, "a").await, Err(SubError::NotFound)));
        assert!(matches!(subs.delete(&id).await, Err(SubError::NotFound)));
    }
    assert_eq!(subs.io_lock_count(), 0);
    let body = br#"{"type":"pull-wake","streams":["a"],"wake_stream":"w"}"#;
    subs.put("real", body, None).await.expect("created");
    subs.add_streams("real", br#"{"streams":["b"]}"#).await.expect("linked");
    assert_eq!(subs.io_lock_count(), 1, "a live subscription keeps its lock");
    subs.delete("real").await.expect("deleted");
    assert_eq!(subs.io_lock_count(), 0, "a deleted subscription drops its lock");
}

#[tokio::test]
async fn subscription_count_is_capped() {
    let subs = open(2, 10);
    let body = br#"{"type":"pull-wake","streams":["a"],"wake_stream":"w"}"#;
    subs.put("one", body, None).await.expect("first");
    subs.put("two", body, None).await.expect("second");
    let e = subs.put("three", body, None).await.expect_err("over the cap");
    assert_eq!(e.code(), "LIMIT_EXCEEDED");
    assert_eq!(limit(e), "max-subscriptions");
    // Re-confirming an existing one is not a new subscription.
    assert!(!subs.put("two", body, None).await.expect("idempotent").1);
    subs.delete("one").await.expect("deleted");
    subs.put("three", body, None).await.expect("room again");
}

#[tokio::test]
async fn links_are_capped_explicitly_and_by_pattern() {
    let subs = open(10, 3);
    let e = subs
        .put("s", br#"{"type":"pull-wake","streams":["a","b","c","d"],"wake_stream":"w"}"#, None)
        .await
        .expect_err("four explicit links");
    assert_eq!(limit(e), "max-subscription-links");
    subs.put("s", br#"{"type":"pull-wake","streams":["a","b"],"wake_stream":"w"}"#, None)
        .await
        .expect("two links");
    subs.add_streams("s", br#"{"streams":["b","c"]}"#).await.expect("one new link");
    let e = subs.add_streams("s", br#"{"streams":["d"]}"#).await.expect_err("a fourth");
    assert_eq!(limit(e), "max-subscription-links");

    let p = br#"{"type":"pull-wake","pattern":"e/*","wake_stream":"w"}"#;
    subs.put("p", p, None).await.expect("pattern subscription");
    for i in 0..5 {
        create(&subs, &format!("e/{i}"), "application/json").await;
    }
    let links = subs.lookup("p").expect("exists").slot.lock().state.links.len();
    assert_eq!(links, 3, "pattern matches past the cap are not linked");
    let e = subs.put("q", p, None).await.expect_err("backfill of five matches");
    assert_eq!(limit(e), "max-subscription-links");
}

#[tokio::test]
async fn wake_streams_must_be_json() {
    let subs = open(10, 10);
    create(&subs, "wake/bytes", "text/plain").await;
    create(&subs, "wake/json", "application/json").await;
    let e = subs
        .put("s", br#"{"type":"pull-wake","streams":["a"],"wake_stream":"wake/bytes"}"#, None)
        .await
        .expect_err("a text wake stream");
    assert_eq!(e.code(), "INVALID_REQUEST");
    assert!(e.to_string().contains("not a JSON stream"), "{e}");
    subs.put("s", br#"{"type":"pull-wake","streams":["a"],"wake_stream":"wake/json"}"#, None)
        .await
        .expect("a JSON wake stream");
    // A wake stream created later is checked when a wake is written (see pull.rs).
    subs.put("t", br#"{"type":"pull-wake","streams":["a"],"wake_stream":"wake/later"}"#, None)
        .await
        .expect("a wake stream that does not exist yet");
}

#[tokio::test]
async fn wake_events_never_go_into_a_stream_that_is_not_json() {
    let subs = open(10, 10);
    let body = br#"{"type":"pull-wake","streams":["a"],"wake_stream":"wake/later"}"#;
    subs.put("s", body, None).await.expect("created before its wake stream");
    let st = subs.lookup("s").expect("exists").slot.lock().state.clone();
    let wake = state::Wake {
        wake_id: "w_1".into(),
        generation: 1,
        issued_ms: 0,
        snapshot: Default::default(),
        holder: None,
        lease_until_ms: 0,
    };
    let tail = |subs: &Subscriptions| {
        subs.store.get("/v1/stream/wake/later").expect("stream").visible().tail
    };
    create(&subs, "wake/later", "text/plain").await;
    subs.write_wake_event(&st, &wake).await;
    assert_eq!(tail(&subs), 0, "no wake event in a text stream");
    subs.store.delete("/v1/stream/wake/later").await.expect("deleted");
    create(&subs, "wake/later", "application/json").await;
    subs.write_wake_event(&st, &wake).await;
    assert!(tail(&subs) > 0, "a JSON wake stream gets the event");
}
