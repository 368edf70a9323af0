//! Arbitrary TS/JS source → swc parse → the export analysis (ES module and CommonJS readings),
//! and a syntax error's code frame. A panic anywhere is a bug.

#![no_main]

use std::path::Path;

use compozy::analyze::{
    AnalyzeError, Failure, commonjs_exports, is_commonjs, local_exports, parse,
};
use compozy::source::SourceFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
