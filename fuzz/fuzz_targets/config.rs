//! YAML bytes as `compozy.yaml` → the config loader and validation → every diagnostic rendered.
//! A panic anywhere is a bug.

#![no_main]

use std::sync::OnceLock;
use std::time::Instant;

use compozy::diagnostic::Problems;
use libfuzzer_sys::fuzz_target;

/// One project directory per process: creating one per input would cost more than the load.
fn project_dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
}

fn render(problems: &Problems) {
    for problem in &problems.0 {
        let _ = problem.render(false);
        let _ = problem.headline();
        serde_json::to_string(&problem.to_json()).expect("a problem serializes");
    }
}

fuzz_target!(|data: &[u8]| {
    let dir = project_dir().path();
    std::fs::write(dir.join(compozy::config::CONFIG_FILE), data).expect("write compozy.yaml");
    match compozy::config::load_lenient(Some(dir), dir) {
        Ok((project, problems)) => {
            render(&problems);
            // Later stages add every timeout to `Instant::now()`; a valid project must allow it.
            let now = Instant::now();
            let timeouts = std::iter::once(project.runtime.timeout)
                .chain(project.tools.iter().filter_map(|t| t.timeout));
            for timeout in timeouts {
                assert!(
                    now.checked_add(timeout).is_some(),
                    "timeout {timeout:?} overflows a deadline"
                );
            }
        }
        Err(problems) => render(&problems),
    }
});
