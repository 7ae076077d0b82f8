//! JSON splitting (`frame_messages`): arbitrary bodies never panic; an accepted body frames
//! into messages that are each valid JSON, and re-splitting the framed messages (read back
//! as a JSON array) yields the same stored bytes.
#![no_main]

use durastream::json::{self, JsonError, SEPARATOR};
use libfuzzer_sys::fuzz_target;
use serde::de::IgnoredAny;

/// The one call of the splitter: adapt here when its signature changes.
fn frame(body: &[u8], allow_empty: bool) -> Result<(Vec<u8>, usize), JsonError> {
    json::frame_messages(body, allow_empty)
}

/// JSON text is UTF-8 (RFC 8259); serde_json checks it only where it builds strings.
fn valid_json(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok() && serde_json::from_slice::<IgnoredAny>(bytes).is_ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else { return };
    let allow_empty = flags & 1 == 1;
    let (stored, count) = match frame(body, allow_empty) {
        Ok(framed) => framed,
        Err(JsonError::EmptyArray) => {
            assert!(!allow_empty, "[] refused although allowed");
            return;
        }
        Err(JsonError::Invalid(_)) => {
            assert!(!valid_json(body), "valid JSON refused: {:?}", String::from_utf8_lossy(body));
            return;
        }
    };
    assert!(valid_json(body), "invalid JSON accepted: {:?}", String::from_utf8_lossy(body));

    // Every message is one line ending in `,\n` and is valid JSON on its own.
    let lines: Vec<&[u8]> = stored.split_inclusive(|b| *b == b'\n').collect();
    assert_eq!(lines.len(), count);
    for line in &lines {
        let message = line.strip_suffix(SEPARATOR).expect("every message ends with ,\\n");
        assert!(!message.contains(&b'\n') && !message.contains(&b'\r'));
        assert!(valid_json(message), "framed message is not JSON: {message:?}");
    }
    assert_eq!(json::messages_len(&stored, count), Some(stored.len()));
    let limit = usize::from(flags >> 1);
    let prefix = json::whole_messages_len(&stored, limit);
    assert!(prefix == stored.len() || stored[..prefix].ends_with(b"\n"));

    // Read back as an array and split again: the same messages.
    let array = json::to_array(&stored);
    assert_eq!(json::split_array(&array).map(|items| items.len()), Ok(count));
    match frame(&array, true) {
        Ok((again, n)) => {
            assert_eq!(n, count);
            assert_eq!(again, stored, "re-splitting changed the messages");
        }
        Err(e) => panic!("the array read back is refused: {e}"),
    }
});
