//! `event_body`: arbitrary bytes as a stored event body through
//! `body::decode` and `body::time_of`.
//!
//! Checks that neither panics nor allocates without bound, whatever the bytes,
//! and that a body that decodes is consistent: `time_of` reads the same time
//! as `decode`, re-encoding the event and decoding that gives the same event,
//! encoding is stable (encoding the re-decoded event gives the same bytes),
//! and `encode_into` appends exactly what `encode` returns.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stele_engine::event::body;

fuzz_target!(|data: &[u8]| {
    let time = body::time_of(data);
    let Ok(event) = body::decode(data) else {
        return;
    };
    assert_eq!(time, event.time, "time_of disagrees with decode");
    let encoded = body::encode(&event);
    let again = body::decode(&encoded).expect("a re-encoded body decodes");
    assert_eq!(again, event, "re-encoding changed the event");
    assert_eq!(body::encode(&again), encoded, "encoding is not stable");
    let mut appended = data.to_vec();
    body::encode_into(
        &again,
        &again.id,
        again.time.unwrap_or_default(),
        &mut appended,
    );
    assert_eq!(appended[data.len()..], encoded[..], "encode_into differs");
});
