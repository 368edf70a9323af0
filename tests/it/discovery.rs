//! Finding the runtime without `COMPOZY_BUN`/`COMPOZY_NODE`: through `PATH`, then through
//! `node_modules/.bin` in the project's parent directories, past a binary that is too old.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::common::{Fixture, Output, output_within, runtime_bin};

const CONFIG: &str = "tools:\n  - id: which\n    execute: ./which.ts\n";

/// Which binary runs the tool.
const WHICH: &str = "export function run() {\n  return process.execPath;\n}\n";

/// The pinned binary, resolved (`process.execPath` names the real file).
fn real(runtime: &str) -> PathBuf {
    runtime_bin(runtime)
        .canonicalize()
        .expect("resolve the pinned runtime")
}

fn symlink(target: &Path, link: &Path) {
    std::fs::create_dir_all(link.parent().expect("a parent")).expect("create dirs");
    std::os::unix::fs::symlink(target, link).expect("symlink the runtime");
}

/// A script that says it is a version of `runtime` too old for compozy.
fn too_old(runtime: &str, path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let version = if runtime == "bun" { "1.0.0" } else { "v20.1.0" };
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create dirs");
    std::fs::write(path, format!("#!/bin/sh\necho {version}\n")).expect("write a fake runtime");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// `compozy exec which` from `project` with exactly `path` as `PATH` and no override variable.
fn exec_with_path(project: &Path, runtime: &str, path: &Path) -> Output {
    let mut cmd = crate::common::compozy();
    cmd.current_dir(project)
        .args(["exec", "which", "--runtime", runtime])
        .env_remove("COMPOZY_BUN")
        .env_remove("COMPOZY_NODE")
        .env("PATH", path);
    output_within(&mut cmd, Duration::from_secs(60))
}

fn found_through_path(runtime: &str) {
    let p = Fixture::with(&[("compozy.yaml", CONFIG), ("which.ts", WHICH)]);
    let bin = p.path("bin");
    symlink(&runtime_bin(runtime), &bin.join(runtime));
    let out = exec_with_path(p.root(), runtime, &bin);
    out.expect_code(0);
    assert_eq!(out.json(), json!(real(runtime)));

    // Without it on PATH (and nowhere else), nothing is found.
    std::fs::remove_file(bin.join(runtime)).unwrap();
    exec_with_path(p.root(), runtime, &bin)
        .expect_code(127)
        .stderr_has(&[&format!("{runtime} was not found")]);
}

/// A workspace: the runtime in `node_modules/.bin` two levels above the project, and a version
/// too old on `PATH` that is passed over.
fn found_in_a_parent_node_modules_bin(runtime: &str) {
    let ws = Fixture::with(&[
        ("packages/app/compozy.yaml", CONFIG),
        ("packages/app/which.ts", WHICH),
    ]);
    let app = ws.path("packages/app");
    let bin = ws.path("bin");
    too_old(runtime, &bin.join(runtime));
    symlink(
        &runtime_bin(runtime),
        &ws.path("node_modules/.bin").join(runtime),
    );
    let out = exec_with_path(&app, runtime, &bin);
    out.expect_code(0);
    assert_eq!(out.json(), json!(real(runtime)));

    // Without it, the old one on PATH is all there is.
    std::fs::remove_file(ws.path("node_modules/.bin").join(runtime)).unwrap();
    exec_with_path(&app, runtime, &bin)
        .expect_code(127)
        .stderr_has(&["which is too old"]);
}

on_both_runtimes!(found_through_path, found_in_a_parent_node_modules_bin);
