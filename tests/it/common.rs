//! Fixture projects on disk and the real binary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A temporary project directory.
pub struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// An empty project directory.
    pub fn new() -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("compozy-test-")
                .tempdir()
                .expect("create temp dir"),
        }
    }

    /// A project made of `(path, contents)` pairs.
    pub fn with(files: &[(&str, &str)]) -> Self {
        let fixture = Self::new();
        for (path, contents) in files {
            fixture.write(path, contents);
        }
        fixture
    }

    /// The project root.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A path under the root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file, creating its directories.
    pub fn write(&self, rel: &str, contents: &str) {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dirs");
        }
        std::fs::write(path, contents).expect("write fixture file");
    }

    /// Reads a file under the root.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// `compozy ARGS` run in the project root, with a clean, deterministic environment.
    pub fn compozy(&self, args: &[&str]) -> Command {
        let mut cmd = compozy();
        cmd.current_dir(self.root()).args(args);
        cmd
    }

    /// Runs `compozy ARGS` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        Output::from(self.compozy(args).output().expect("run compozy"))
    }
}

/// The compozy binary under test, with variables that would change its output removed.
pub fn compozy() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_compozy"));
    cmd.env_remove("RUST_LOG")
        .env_remove("COMPOZY_PROJECT")
        .env_remove("COMPOZY_COLOR")
        .env("NO_COLOR", "1");
    cmd
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Output {
    fn from(o: std::process::Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Output {
    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts that stderr contains every fragment.
    #[track_caller]
    pub fn stderr_has(&self, fragments: &[&str]) -> &Self {
        for fragment in fragments {
            assert!(
                self.stderr.contains(fragment),
                "stderr lacks {fragment:?}\n--- stderr\n{}",
                self.stderr
            );
        }
        self
    }

    /// Parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// A pinned runtime binary from `node_modules/.bin` (installed by `npm ci`). Tests that need
/// one fail loudly when it is missing; they never pass silently.
pub fn runtime_bin(name: &str) -> PathBuf {
    let var = format!("COMPOZY_TEST_{}", name.to_uppercase());
    if let Some(path) = std::env::var_os(&var) {
        return PathBuf::from(path);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("node_modules/.bin")
        .join(name);
    assert!(
        path.exists(),
        "{name} is required for this test but {} does not exist: run `npm ci` in the repository \
         root (or set {var})",
        path.display()
    );
    path
}

/// insta settings that keep snapshots in the repository's `snapshots/` folder.
pub fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings
}

/// True when `.compozy/` does not exist or holds no file.
pub fn nothing_generated(fixture: &Fixture) -> bool {
    let dir = fixture.path(".compozy");
    !dir.exists()
        || std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(true)
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: i64) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    !status.is_empty()
        && !status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'))
}

/// Sends `signal` to `pid`.
pub fn signal(pid: u32, signal: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid fits in i32"));
    nix::sys::signal::kill(pid, signal).expect("send a signal");
}

/// Instantiates each `fn case(runtime: &str)` as a test on Bun and one on Node.
macro_rules! on_both_runtimes {
    ($($case:ident),* $(,)?) => {
        mod bun {
            $(#[test] fn $case() { super::$case("bun") })*
        }
        mod node {
            $(#[test] fn $case() { super::$case("node") })*
        }
    };
}
