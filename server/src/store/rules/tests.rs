use super::*;

fn stamp(epoch: u64, seq: u64) -> ProducerStamp {
    ProducerStamp { id: "p".into(), epoch, seq }
}

fn meta(ct: &str) -> StreamMeta {
    StreamMeta {
        path: "/s".into(),
        content_type: ct.into(),
        ttl_secs: None,
        expires_at_ms: None,
        requested_ttl_secs: None,
        requested_expires_at_ms: None,
        base: 0,
        fork: None,
        created_ms: 0,
    }
}

fn text(body: &'static str) -> AppendRequest {
    AppendRequest {
        content_type: Some("text/plain".into()),
        body: Bytes::from_static(body.as_bytes()),
        ..AppendRequest::default()
    }
}

fn plan(st: &WriterState, req: &AppendRequest) -> Result<AppendPlan, StoreError> {
    let m = meta("text/plain");
    plan_append(st, &m, req, frame_body(&m.content_type, &req.body, false))
}

#[test]
fn producer_rules() {
    assert_eq!(check_producer(None, &stamp(0, 0)), ProducerCheck::Accept);
    assert_eq!(check_producer(None, &stamp(3, 0)), ProducerCheck::Accept);
    assert_eq!(check_producer(None, &stamp(0, 2)), ProducerCheck::Gap { expected: 0, received: 2 });
    let st = ProducerState { epoch: 2, last_seq: 5 };
    assert_eq!(check_producer(Some(&st), &stamp(1, 9)), ProducerCheck::StaleEpoch { current: 2 });
    assert_eq!(check_producer(Some(&st), &stamp(3, 1)), ProducerCheck::EpochNeedsSeqZero);
    assert_eq!(check_producer(Some(&st), &stamp(3, 0)), ProducerCheck::Accept);
    assert_eq!(check_producer(Some(&st), &stamp(2, 5)), ProducerCheck::Duplicate { last_seq: 5 });
    assert_eq!(check_producer(Some(&st), &stamp(2, 0)), ProducerCheck::Duplicate { last_seq: 5 });
    assert_eq!(check_producer(Some(&st), &stamp(2, 6)), ProducerCheck::Accept);
    assert_eq!(
        check_producer(Some(&st), &stamp(2, 8)),
        ProducerCheck::Gap { expected: 6, received: 8 }
    );
}

#[test]
fn append_plans_then_commits() {
    let mut st = WriterState::default();
    let req = AppendRequest { producer: Some(stamp(0, 0)), ..text("hello") };
    let AppendPlan::Write { pos, data } = plan(&st, &req).expect("plan") else {
        panic!("a first append writes")
    };
    assert_eq!((pos, &data[..]), (0, &b"hello"[..]));
    let out = commit_append(&mut st, &req, data.len() as u64);
    assert_eq!(out, Appended { tail: 5, closed: false, new_data: true, producer: Some((0, 0)) });
    // The same request again is a duplicate: nothing to write.
    let AppendPlan::Answer(dup) = plan(&st, &req).expect("plan") else { panic!("duplicate") };
    assert!(!dup.new_data);
    assert!(matches!(
        plan(&st, &AppendRequest { producer: Some(stamp(0, 3)), ..text("x") }),
        Err(StoreError::SequenceGap { expected: 1, received: 3 })
    ));
}

#[test]
fn closed_stream_answers_retries_and_refuses_new_data() {
    let mut st = WriterState::default();
    let closing = AppendRequest { close: true, producer: Some(stamp(0, 0)), ..text("end") };
    commit_append(&mut st, &closing, 3);
    assert!(matches!(plan(&st, &closing), Ok(AppendPlan::Answer(a)) if a.closed));
    assert!(matches!(plan(&st, &text("more")), Err(StoreError::Closed { tail: 3 })));
    let bare_close = AppendRequest { close: true, ..AppendRequest::default() };
    assert!(matches!(plan(&st, &bare_close), Ok(AppendPlan::Answer(_))));
}

#[test]
fn content_type_and_stream_seq_are_checked() {
    let mut st = WriterState::default();
    let json = AppendRequest { content_type: Some("application/json".into()), ..text("1") };
    assert!(matches!(plan(&st, &json), Err(StoreError::Conflict(_))));
    let untyped = AppendRequest { content_type: None, ..text("1") };
    assert!(matches!(plan(&st, &untyped), Err(StoreError::BadRequest(_))));
    let seq = |s: &str| AppendRequest { stream_seq: Some(s.into()), ..text("1") };
    commit_append(&mut st, &seq("b"), 1);
    assert!(matches!(plan(&st, &seq("a")), Err(StoreError::Conflict(_))));
    assert!(matches!(plan(&st, &seq("c")), Ok(AppendPlan::Write { pos: 1, .. })));
}

#[test]
fn create_inherits_from_fork_source_and_resolves_json_sub_offsets() {
    let mut src_meta = meta("application/json");
    src_meta.ttl_secs = Some(60);
    let bytes = Bytes::from_static(b"1\n2\n3\n");
    let read = |a: u64, b: u64| Ok(bytes.slice(a as usize..b as usize));
    let src = Source {
        id: 7,
        meta: &src_meta,
        soft_deleted: false,
        last_access_ms: 0,
        tail: 6,
        read: &read,
    };
    let fork = ForkRequest { source_path: "/s".into(), offset: Some(0), sub_offset: 2 };
    let req = CreateRequest { path: "/f".into(), fork: Some(fork), ..CreateRequest::default() };
    let new = plan_create(&req, Some(&src), 1_000).expect("fork");
    assert_eq!(new.meta.base, 4, "two messages in");
    assert_eq!(new.meta.content_type, "application/json");
    assert_eq!(new.meta.ttl_secs, Some(60));
    assert_eq!(new.meta.fork.as_ref().map(|f| f.source_id), Some(7));
    let too_far = ForkRequest { source_path: "/s".into(), offset: Some(0), sub_offset: 4 };
    let req = CreateRequest { fork: Some(too_far), ..req };
    assert!(matches!(plan_create(&req, Some(&src), 1_000), Err(StoreError::BadRequest(_))));
    // Expired source (sliding TTL passed): as if missing.
    assert!(matches!(plan_create(&req, Some(&src), 61_000), Err(StoreError::NotFound)));
}

#[test]
fn idempotent_create_compares_configuration() {
    let m = meta("text/plain");
    let st = WriterState::default();
    let same = CreateRequest {
        path: "/s".into(),
        content_type: Some("text/plain; charset=utf-8".into()),
        ..CreateRequest::default()
    };
    assert!(matches_config(&m, &st, &same).is_ok());
    let other = CreateRequest { content_type: Some("application/json".into()), ..same };
    assert!(matches!(matches_config(&m, &st, &other), Err(StoreError::Conflict(_))));
}

#[test]
fn delete_is_soft_while_forks_read_the_stream() {
    let mut st = WriterState::default();
    assert_eq!(plan_delete(&st, 0).expect("delete"), DeletePlan::Remove);
    assert_eq!(plan_delete(&st, 2).expect("delete"), DeletePlan::Soft);
    st.soft_deleted = true;
    assert!(matches!(plan_delete(&st, 2), Err(StoreError::Gone)));
}

#[test]
fn expiry_counts_from_last_access() {
    let mut m = meta("text/plain");
    m.ttl_secs = Some(10);
    assert!(!expired(&m, 5_000, 14_999));
    assert!(expired(&m, 5_000, 15_000));
    m.ttl_secs = None;
    m.expires_at_ms = Some(100);
    assert!(expired(&m, 0, 100));
}
