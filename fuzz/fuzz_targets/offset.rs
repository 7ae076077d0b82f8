//! Offset tokens: parsing arbitrary text never panics, and every accepted token re-formats
//! and re-parses to the same value; formatted tokens sort like their positions.
#![no_main]

use durastream::offset::MAX_POSITION;
use durastream::{Offset, OffsetParam};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(offset) = text.parse::<Offset>() {
        assert!(offset.position() <= MAX_POSITION, "{text:?} parsed past the largest position");
        let token = offset.to_string();
        assert_eq!(token.parse::<Offset>(), Ok(offset), "{text:?} -> {token:?}");
        assert_eq!(token.len(), 33, "{token:?}");
    }
    match text.parse::<OffsetParam>() {
        Ok(param) => assert_eq!(param.as_query().parse::<OffsetParam>(), Ok(param), "{text:?}"),
        Err(e) => assert!(!e.to_string().is_empty()),
    }

    // Two positions from the input: their tokens round-trip and sort in stream order.
    if let Some((a, b)) = data.split_first_chunk::<8>().and_then(|(a, rest)| {
        rest.first_chunk::<8>().map(|b| (u64::from_le_bytes(*a), u64::from_le_bytes(*b)))
    }) {
        let (a, b) = (Offset(a % (MAX_POSITION + 1)), Offset(b % (MAX_POSITION + 1)));
        let (ta, tb) = (a.to_string(), b.to_string());
        assert_eq!(ta.parse::<Offset>(), Ok(a));
        assert_eq!(tb.parse::<Offset>(), Ok(b));
        assert_eq!(ta.cmp(&tb), a.cmp(&b), "{ta} vs {tb}");
    }
});
