//! Arbitrary TS/JS source → swc parse → the export analysis (ES module and CommonJS readings),
//! and a syntax error's code frame. A panic anywhere is a bug.

#![no_main]

use std::path::Path;
use std::sync::Once;

use compozy::analyze::{
    AnalyzeError, Failure, commonjs_exports, is_commonjs, local_exports, parse,
};
use compozy::source::SourceFile;
use libfuzzer_sys::fuzz_target;

/// `parse` catches swc's panics and reports them as syntax errors, and the CLI's panic hook stays
/// quiet for them; so must libFuzzer's, which aborts on every panic.
fn quiet_parser_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !compozy::analyze::in_parser() {
                fuzzer_hook(info);
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    quiet_parser_panics();
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    for name in ["tool.ts", "tool.cjs"] {
        let path = Path::new(name);
        match parse(path, src) {
            Ok(module) => {
                let _ = if is_commonjs(path) {
                    commonjs_exports(&module)
                } else {
                    local_exports(&module)
                };
            }
            Err(e) => {
                // As the analyzer reports it: a code frame at swc's span.
                let file = SourceFile::new(path.to_path_buf(), name.to_owned(), src.to_owned());
                let failure = Failure {
                    error: AnalyzeError::Syntax {
                        path: name.to_owned(),
                        message: e.message,
                    },
                    at: Some(Box::new((file, e.start, e.len))),
                };
                let _ = failure.to_problem().render(false);
            }
        }
    }
});
