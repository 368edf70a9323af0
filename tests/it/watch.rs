//! `compozy watch` and `compozy watch --serve`: real file changes, real inotify, real workers.

use std::collections::BTreeSet;

use serde_json::json;

use crate::common::Fixture;
use crate::watcher::Watch;

fn project() -> Fixture {
    Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: first\n    execute: ./tools/first.ts\n",
        ),
        (
            "tools/first.ts",
            "export function run() {\n  return 1;\n}\n",
        ),
        (".gitignore", "ignored/\n"),
    ])
}

fn tools_ts(p: &Fixture) -> String {
    std::fs::read_to_string(p.path(".compozy/tools.ts")).unwrap_or_default()
}

#[test]
fn new_tool_file_is_picked_up() {
    let p = project();
    let w = Watch::start(&p, &[]);
    assert!(tools_ts(&p).contains(" as first,"));
    p.write("tools/second.yaml", "id: second\nexecute: ./second.ts\n");
    p.write("tools/second.ts", "export default () => 2;\n");
    w.wait_until("the new tool in tools.ts", |_| {
        tools_ts(&p).contains(" as second,")
    });
}

#[test]
fn renamed_export_reports_and_recovers() {
    let p = project();
    let w = Watch::start(&p, &[]);
    let before = tools_ts(&p);
    p.write(
        "tools/first.ts",
        "export function runx() {\n  return 1;\n}\n",
    );
    w.wait_for_stderr("`tools/first.ts` exports `runx`; expected `run` or `default`");
    assert_eq!(tools_ts(&p), before, "a broken edit changed the output");
    p.write(
        "tools/first.ts",
        "export default function () {\n  return 1;\n}\n",
    );
    w.wait_until("the default export in tools.ts", |_| {
        tools_ts(&p).contains("import { default as tool_0 }")
    });
}

#[test]
fn deleted_module_is_reported() {
    let p = project();
    let w = Watch::start(&p, &[]);
    std::fs::remove_file(p.path("tools/first.ts")).unwrap();
    w.wait_for_stderr("`./tools/first.ts` does not exist");
    p.write("tools/first.ts", "export function run() {}\n");
    w.wait_for_stderr("fixed; .compozy/ is up to date");
}

#[test]
fn atomic_rename_save_is_seen() {
    let p = project();
    let w = Watch::start(&p, &[]);
    // What editors do: write a temporary file, then rename it over the original.
    p.write(
        "tools/.first.ts.swp",
        "export default function () {\n  return 1;\n}\n",
    );
    std::fs::rename(p.path("tools/.first.ts.swp"), p.path("tools/first.ts")).unwrap();
    w.wait_until("tools.ts to use the default export", |_| {
        tools_ts(&p).contains("import { default as tool_0 }")
    });
}

#[test]
fn syntax_error_then_fix() {
    let p = project();
    let w = Watch::start(&p, &[]);
    p.write(
        "tools/first.ts",
        "export function run() {\n  return 1 +;\n}\n",
    );
    w.wait_for_stderr("syntax error in `tools/first.ts`");
    w.wait_for_stderr("[tools/first.ts:2:");
    p.write(
        "tools/first.ts",
        "export const run = () => 1;\nexport const more = 2;\n",
    );
    w.wait_for_stderr("fixed; .compozy/ is up to date");
}

/// The inodes of the directories a process watches through inotify, from `/proc`.
#[cfg(target_os = "linux")]
fn watched_inodes(pid: u32) -> BTreeSet<u64> {
    let mut inodes = BTreeSet::new();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fdinfo")).expect("read /proc/PID/fdinfo");
    for fd in fds {
        // A descriptor closed since the listing has no info left to read.
        let Ok(info) = std::fs::read_to_string(fd.expect("an fdinfo entry").path()) else {
            continue;
        };
        for line in info.lines().filter(|l| l.starts_with("inotify wd:")) {
            let ino = line
                .split_whitespace()
                .find_map(|field| field.strip_prefix("ino:"))
                .unwrap_or_else(|| panic!("no inode in {line:?}"));
            inodes.insert(u64::from_str_radix(ino, 16).expect("a hexadecimal inode"));
        }
    }
    inodes
}

/// Skipped and git-ignored directories are never watched, whether they exist when the watch
/// starts or appear later, and changes in them are not reported; other new directories are
/// watched.
#[cfg(target_os = "linux")]
#[test]
fn ignored_directories_are_not_watched() {
    use std::os::unix::fs::MetadataExt;

    let p = project();
    // No .git: the project's .gitignore applies without one.
    for dir in ["node_modules/pkg", "ignored/deep", "lib/sub"] {
        std::fs::create_dir_all(p.path(dir)).unwrap();
    }
    let w = Watch::start(&p, &[]);
    let stderr = w.stderr();
    let count = stderr
        .lines()
        .find_map(|l| l.strip_prefix("compozy: watching "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no directory count:\n{stderr}"));
    assert_eq!(count, "4", "the root, tools, lib and lib/sub:\n{stderr}");

    // New skipped and ignored directories inside watched ones.
    p.write("lib/node_modules/pkg/index.ts", "export {};\n");
    p.write("lib/.git/objects/x", "x\n");
    p.write("tools/ignored/deep/x.ts", "export {};\n");
    p.write(".compozy/notes/x.md", "x\n");
    // A real change in a new directory, after the others: once it is seen, so were they.
    p.write(
        "tools/more/second.yaml",
        "id: second\nexecute: ../first.ts\n",
    );
    w.wait_until("the new tool", |_| tools_ts(&p).contains(" as second,"));

    let inode = |dir: &str| std::fs::metadata(p.path(dir)).unwrap().ino();
    let expected: BTreeSet<u64> = ["", "tools", "lib", "lib/sub", "tools/more"]
        .into_iter()
        .map(inode)
        .collect();
    let watched = watched_inodes(w.child.id());
    for dir in [
        "node_modules",
        "node_modules/pkg",
        "ignored",
        "ignored/deep",
        "lib/.git",
        "lib/.git/objects",
        "lib/node_modules",
        "lib/node_modules/pkg",
        "tools/ignored",
        "tools/ignored/deep",
        ".compozy",
        ".compozy/notes",
    ] {
        assert!(!watched.contains(&inode(dir)), "{dir} is watched");
    }
    assert_eq!(watched, expected, "watched inodes");
    let stderr = w.stderr();
    for line in stderr.lines().filter(|l| l.starts_with("compozy: changed")) {
        assert!(
            ["node_modules", "ignored", ".git", ".compozy"]
                .iter()
                .all(|dir| !line.contains(&format!("/{dir}"))),
            "a change in an ignored directory was reported: {line}\n{stderr}"
        );
    }
    assert!(
        stderr.contains("compozy: changed"),
        "no change was reported:\n{stderr}"
    );
}

#[test]
fn hot_reload_under_watch_serve() {
    let p = project();
    // One worker, which loads the module on the first request: only a real reload can make it
    // answer with the new code (a second, cold worker would load the new file by itself).
    let mut w = Watch::start(&p, &["--serve", "--workers", "1", "--runtime", "bun"]);
    let answer = w.call(&json!({"id": 1, "tool_id": "first"}));
    assert_eq!(answer["result"], 1, "{answer}");
    p.write(
        "tools/first.ts",
        "export function run() {\n  return 2;\n}\n",
    );
    w.wait_for_stderr("workers reloaded");
    for id in 2..6 {
        let answer = w.call(&json!({"id": id, "tool_id": "first"}));
        assert_eq!(answer["result"], 2, "request {id} ran old code: {answer}");
    }
    // A new tool is served without a restart too.
    p.write("tools/second.yaml", "id: second\nexecute: ./first.ts\n");
    w.wait_until("the second reload", |s| {
        s.matches("workers reloaded").count() >= 2
    });
    let answer = w.call(&json!({"id": 9, "tool_id": "second"}));
    assert_eq!(answer["result"], 2, "{answer}");
}
