//! The compatibility check against the JSON-Schema-Test-Suite (draft 2020-12): for every pair
//! of the suite's schemas within a file, when the check calls `old → new` compatible, every
//! instance of the whole suite that `old` accepts, `new` accepts too; every witness it shows is
//! accepted by `old` and refused by `new`. The validator is compozy's own (`compat::accepts`).

use std::path::{Path, PathBuf};
use std::process::Command;

use compozy::compat;
use serde_json::Value;

/// The suite's draft 2020-12 tests: fetched once with pip (pinned by hash) into `target/`.
fn suite_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dest = root.join("target/json-schema-test-suite");
    let tests = dest.join("jsonschema-4.23.0/json/tests/draft2020-12");
    if tests.join("type.json").is_file() {
        return tests;
    }
    std::fs::create_dir_all(&dest).expect("create target/json-schema-test-suite");
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
        ])
        .args(["--require-hashes", "-r"])
        .arg(root.join("tests/compat/requirements.txt"))
        .arg("-d")
        .arg(&dest)
        .status()
        .expect("python3 -m pip must be available to fetch the JSON-Schema-Test-Suite");
    assert!(
        status.success(),
        "pip download of the JSON-Schema-Test-Suite failed"
    );
    let status = Command::new("tar")
        .arg("xzf")
        .arg(dest.join("jsonschema-4.23.0.tar.gz"))
        .arg("-C")
        .arg(&dest)
        .arg("jsonschema-4.23.0/json/tests/draft2020-12")
        .status()
        .expect("tar");
    assert!(
        status.success(),
        "unpacking the JSON-Schema-Test-Suite failed"
    );
    assert!(
        tests.join("type.json").is_file(),
        "no draft2020-12 tests in {}",
        tests.display()
    );
    tests
}

struct File {
    name: String,
    schemas: Vec<Value>,
}

fn load() -> (Vec<File>, Vec<Value>) {
    let dir = suite_dir();
    let mut files = Vec::new();
    let mut instances = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("read the suite")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).expect("read a suite file");
        let groups: Vec<Value> = serde_json::from_str(&text).expect("a suite file is JSON");
        let mut schemas = Vec::new();
        for group in groups {
            let schema = group["schema"].clone();
            // Schemas that need remote documents do not compile here; gen refuses them too.
            if compat::accepts(&schema, &Value::Null).is_none() {
                continue;
            }
            for test in group["tests"].as_array().into_iter().flatten() {
                instances.push(test["data"].clone());
            }
            schemas.push(schema);
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        files.push(File { name, schemas });
    }
    (files, instances)
}

#[test]
fn the_check_is_sound_on_the_json_schema_test_suite() {
    let (files, instances) = load();
    assert!(files.len() > 40, "the suite has {} files", files.len());
    let (mut pairs, mut compatible, mut witnesses) = (0, 0, 0);
    let mut unsound = Vec::new();
    for file in &files {
        let validators: Vec<_> = file
            .schemas
            .iter()
            .map(|s| compozy::runtime::compile_schema(s).expect("compiles"))
            .collect();
        for (o, old) in file.schemas.iter().enumerate() {
            let old_accepts: Vec<&Value> = instances
                .iter()
                .filter(|i| validators[o].is_valid(i))
                .collect();
            for (n, new) in file.schemas.iter().enumerate() {
                let new_accepts = |i: &Value| validators[n].is_valid(i);
                pairs += 1;
                match compat::input_change(old, new) {
                    None => {
                        compatible += 1;
                        for instance in &old_accepts {
                            if !new_accepts(instance) {
                                unsound.push(format!(
                                    "{}: {old} -> {new} called compatible, but {instance} is refused",
                                    file.name
                                ));
                            }
                        }
                    }
                    Some(breaking) => {
                        if let Some(w) = &breaking.witness {
                            witnesses += 1;
                            if !validators[o].is_valid(w) || new_accepts(w) {
                                unsound.push(format!(
                                    "{}: witness {w} for {old} -> {new} is not old-accepts/new-refuses",
                                    file.name
                                ));
                            }
                        }
                    }
                }
                // The same pair read as an output change: `new ⊆ old` when compatible.
                if compat::output_change(new, old).is_none() {
                    for instance in &old_accepts {
                        if !new_accepts(instance) {
                            unsound.push(format!(
                                "{}: output {new} -> {old} called compatible, but {instance} is refused",
                                file.name
                            ));
                        }
                    }
                }
            }
        }
    }
    eprintln!("{pairs} pairs, {compatible} proved compatible, {witnesses} witnesses");
    assert!(
        unsound.is_empty(),
        "{} unsound verdicts:\n{}",
        unsound.len(),
        unsound.join("\n")
    );
    // The check proves something beyond equal schemas, and finds witnesses.
    let mut equal = 0;
    for file in &files {
        equal += file.schemas.len();
    }
    assert!(
        compatible > equal,
        "only {compatible} compatible pairs of {pairs}"
    );
    assert!(
        witnesses > pairs / 4,
        "only {witnesses} witnesses in {pairs} pairs"
    );
}
