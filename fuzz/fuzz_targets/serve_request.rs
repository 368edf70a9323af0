//! A line → `serve`'s request-line parser → the call, or the error answer written back.
//! A panic anywhere is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // serve reads lines as UTF-8 text.
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    match compozy::runtime::parse_line(line) {
        Ok(call) => {
            let _ = format!("{call:?}");
        }
        Err(answer) => {
            serde_json::to_string(&*answer).expect("an answer serializes");
        }
    }
});
