//! The Deno APIs that have an exact Node/Bun equivalent, and what to do about the others.
//!
//! A rewrite is listed only when it gives the same result for every argument it accepts; a use
//! that does not fit its row (other arguments, a spread, a value where a statement is needed) is
//! reported instead of guessed at. The README's table is this one.

/// How a row is used in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `Deno.x` read as a value.
    Value,
    /// `Deno.x(…)` with one of these argument counts.
    Call(&'static [usize]),
    /// `Deno.x(…);` as a whole statement (its value is not used), with this many arguments.
    Statement(usize),
}

/// One exact rewrite.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// The path under `Deno` (`env.get`).
    pub path: &'static str,
    /// The form it is rewritten in.
    pub form: Form,
    /// The replacement: `$0`, `$1` are the arguments as written, `$*` all of them, `$f` the
    /// imported function, `$p` the `process` global.
    pub to: &'static str,
    /// The `node:` module and the function imported from it, if any.
    pub import: Option<(&'static str, &'static str)>,
}

const fn row(
    path: &'static str,
    form: Form,
    to: &'static str,
    import: Option<(&'static str, &'static str)>,
) -> Row {
    Row {
        path,
        form,
        to,
        import,
    }
}

const FS_PROMISES: &str = "node:fs/promises";
const FS: &str = "node:fs";

/// The rewrites.
pub const TABLE: &[Row] = &[
    row("env.get", Form::Call(&[1]), "$p.env[$0]", None),
    row("env.has", Form::Call(&[1]), "($0 in $p.env)", None),
    row("env.toObject", Form::Call(&[0]), "({ ...$p.env })", None),
    row("env.set", Form::Statement(2), "$p.env[$0] = $1", None),
    row("env.delete", Form::Statement(1), "delete $p.env[$0]", None),
    row("cwd", Form::Call(&[0]), "$p.cwd()", None),
    row("exit", Form::Call(&[0, 1]), "$p.exit($*)", None),
    row("pid", Form::Value, "$p.pid", None),
    row(
        "readTextFile",
        Form::Call(&[1]),
        "$f($0, \"utf8\")",
        Some((FS_PROMISES, "readFile")),
    ),
    row(
        "readTextFileSync",
        Form::Call(&[1]),
        "$f($0, \"utf8\")",
        Some((FS, "readFileSync")),
    ),
    row(
        "writeTextFile",
        Form::Call(&[2]),
        "$f($0, $1)",
        Some((FS_PROMISES, "writeFile")),
    ),
    row(
        "writeTextFileSync",
        Form::Call(&[2]),
        "$f($0, $1)",
        Some((FS, "writeFileSync")),
    ),
    row(
        "writeFile",
        Form::Call(&[2]),
        "$f($0, $1)",
        Some((FS_PROMISES, "writeFile")),
    ),
    row(
        "writeFileSync",
        Form::Call(&[2]),
        "$f($0, $1)",
        Some((FS, "writeFileSync")),
    ),
    row(
        "copyFile",
        Form::Call(&[2]),
        "$f($0, $1)",
        Some((FS_PROMISES, "copyFile")),
    ),
    row(
        "rename",
        Form::Call(&[2]),
        "$f($0, $1)",
        Some((FS_PROMISES, "rename")),
    ),
    row(
        "realPath",
        Form::Call(&[1]),
        "$f($0)",
        Some((FS_PROMISES, "realpath")),
    ),
];

/// The row for a use of `Deno.{path}` in `form`, given its argument count (calls).
pub fn rewrite(path: &str, called: Option<usize>, statement: bool) -> Option<&'static Row> {
    TABLE.iter().find(|row| {
        row.path == path
            && match (row.form, called) {
                (Form::Value, None) => true,
                (Form::Call(counts), Some(n)) => counts.contains(&n),
                (Form::Statement(count), Some(n)) => statement && n == count,
                _ => false,
            }
    })
}

/// What to do about a use of `Deno.{path}` that has no rewrite.
pub fn help(path: &str) -> String {
    let first = path.split('.').next().unwrap_or(path);
    let rows: Vec<&Row> = TABLE.iter().filter(|r| r.path == path).collect();
    if let Some(row) = rows.first() {
        let shape = match row.form {
            Form::Value => "as a value".to_owned(),
            Form::Call(counts) => format!(
                "called with {} argument(s), without a spread",
                counts
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            Form::Statement(n) => format!("as a statement of its own, with {n} argument(s)"),
        };
        let to = row.to.replace("$p", "process");
        let to = match row.import {
            Some((module, name)) => {
                format!("`{}` (`{name}` from {module})", to.replace("$f", name))
            }
            None => format!("`{to}`"),
        };
        return format!("migrate rewrites it only {shape}; write the equivalent {to} by hand");
    }
    let hint = match first {
        "readFile" | "readFileSync" => {
            "`readFile` from node:fs/promises returns a Buffer (a Uint8Array subclass; it serialises \
             differently): wrap it in `new Uint8Array(…)` where the bytes leave the tool"
        }
        "readDir" | "readDirSync" => {
            "use `readdir(path, { withFileTypes: true })` from node:fs/promises (its entries have \
             `isFile()` methods, not properties)"
        }
        "stat" | "lstat" | "statSync" | "lstatSync" => {
            "use `stat`/`lstat` from node:fs/promises (`isFile()` is a method there)"
        }
        "mkdir" | "mkdirSync" => {
            "use `mkdir` from node:fs/promises (same options; with `recursive` it returns the first \
             directory created instead of nothing)"
        }
        "remove" | "removeSync" => {
            "use `rm` (with `{ recursive: true }` for directories) or `rmdir` from node:fs/promises"
        }
        "makeTempDir" | "makeTempFile" => {
            "use `mkdtemp(join(tmpdir(), \"x-\"))` from node:fs/promises and node:os"
        }
        "Command" | "run" => "use `execFile` or `spawn` from node:child_process",
        "serve" | "listen" | "connect" | "connectTls" => "use node:http, node:net or node:tls",
        "env" => "use `process.env` (a plain object of strings)",
        "build" => {
            "use `process.platform` and `process.arch` (their values differ: `win32`, not `windows`)"
        }
        "errors" => "Node's errors carry a `code` instead (`err.code === \"ENOENT\"` for NotFound)",
        "inspect" => "use `inspect` from node:util (its output differs in places)",
        "stdin" | "stdout" | "stderr" => {
            "use `process.stdin`/`process.stdout`/`process.stderr` (Node streams; a tool's output \
             goes to the log under compozy)"
        }
        "args" => {
            "a tool gets its input as its argument: Compozy's Deno worker ran with no arguments \
             (`Deno.args` was `[]`), while `process.argv` holds the worker's own; use `[]` or \
             the input"
        }
        "execPath" => "`process.execPath` names bun or node, not deno",
        "hostname" | "osRelease" | "loadavg" | "systemMemoryInfo" => "use node:os",
        "openKv" => "Deno KV exists only in Deno: use a database client from npm",
        _ => {
            "there is no automatic rewrite: use the `node:` module that does the same (Bun and Node both provide them)"
        }
    };
    hint.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_match_only_their_form() {
        assert!(rewrite("env.get", Some(1), false).is_some());
        assert!(rewrite("env.get", Some(2), false).is_none());
        assert!(rewrite("env.get", None, false).is_none());
        assert!(rewrite("env.set", Some(2), false).is_none());
        assert!(rewrite("env.set", Some(2), true).is_some());
        assert!(rewrite("pid", None, false).is_some());
        // Not `process.argv.slice(2)`: under compozy's Node worker that holds the worker's own
        // arguments, where Compozy's Deno worker had none.
        assert!(rewrite("args", None, false).is_none());
        assert!(rewrite("writeTextFile", Some(3), true).is_none());
        assert!(help("writeTextFile").contains("2 argument(s)"));
        assert!(help("Command").contains("child_process"));
    }
}
