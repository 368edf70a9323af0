//! Bytes as a `.env` file → the parser and `${VAR}` expansion, with a lookup that knows a few
//! names. A panic anywhere is a bug.

#![no_main]

use compozy::env::dotenv;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // `parse` takes text; `load` (bytes from disk) shares its parser and expansion.
    let src = String::from_utf8_lossy(data);
    let lookup = |name: &str| match name {
        "HOME" => Some("/home/user".to_owned()),
        "KNOWN" => Some("${KNOWN}".to_owned()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    for (name, _value) in dotenv::parse(&src, &lookup) {
        assert!(lookup(&name).is_none(), "a known name `{name}` was added");
    }
});
