//! Fixture projects on disk and the real binary.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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

    /// `compozy exec TOOL --runtime RUNTIME --input INPUT` on the pinned runtimes.
    pub fn exec_on(&self, runtime: &str, tool: &str, input: &serde_json::Value) -> Output {
        let input = input.to_string();
        let mut cmd = self.compozy(&["exec", tool, "--runtime", runtime, "--input", &input]);
        cmd.env("COMPOZY_BUN", runtime_bin("bun"))
            .env("COMPOZY_NODE", runtime_bin("node"));
        Output::from(cmd.output().expect("run compozy"))
    }

    /// Runs `compozy ARGS` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        Output::from(self.compozy(args).output().expect("run compozy"))
    }
}

/// A copy of `examples/NAME` (its committed `.compozy/` included, its cache not), so that no
/// test writes into the repository.
pub fn example(name: &str) -> Fixture {
    let fixture = Fixture::new();
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    for entry in walkdir::WalkDir::new(&source)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".cache")
    {
        let entry = entry.unwrap_or_else(|e| panic!("read examples/{name}: {e}"));
        if entry.file_type().is_file() {
            let rel = entry
                .path()
                .strip_prefix(&source)
                .expect("under the example");
            let text = std::fs::read_to_string(entry.path()).expect("read an example file");
            fixture.write(rel.to_str().expect("a UTF-8 path"), &text);
        }
    }
    fixture
}

/// The compozy binary under test, with variables that would change its output removed.
pub fn compozy() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_compozy"));
    cmd.env_remove("RUST_LOG")
        .env_remove("COMPOZY_PROJECT")
        .env_remove("COMPOZY_COLOR")
        .env_remove("COMPOZY_FORWARD")
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

/// The pinned TypeScript compiler (`typescript` in package.json), run on the pinned Node. Tests
/// that need it fail loudly when it is missing.
pub fn tsc() -> Command {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/typescript/bin/tsc");
    assert!(
        script.exists(),
        "tsc is required for this test but {} does not exist: run `npm ci` in the repository root",
        script.display()
    );
    let mut cmd = Command::new(runtime_bin("node"));
    cmd.arg(script);
    cmd
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

/// True while `pid` exists and is not a zombie. Panics when `/proc` cannot be read: a test that
/// cannot see processes must not conclude that they are gone.
pub fn alive(pid: i64) -> bool {
    assert!(
        Path::new("/proc/self/status").is_file(),
        "/proc is not mounted: this test needs it to see processes"
    );
    let status = match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(status) => status,
        // ESRCH: the process went away while its status was read.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(3) => {
            return false;
        }
        Err(e) => panic!("cannot read /proc/{pid}/status: {e}"),
    };
    !status
        .lines()
        .any(|l| l.starts_with("State:") && l.contains('Z'))
}

/// Waits up to `limit` for `pid` to be gone; returns whether it is.
pub fn gone_within(pid: i64, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    while alive(pid) {
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Runs `cmd` (stdin closed, stdout and stderr captured) like [`Command::output`], but gives
/// up after `limit`: a hung compozy is killed and the test fails instead of hanging the suite.
#[track_caller]
pub fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn compozy");
    wait_within(child, limit)
}

/// Waits for `child` (spawned with piped stdout and stderr) to exit and collects its output;
/// after `limit`, kills it and panics.
#[track_caller]
pub fn wait_within(mut child: Child, limit: Duration) -> Output {
    let until = Instant::now() + limit;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for compozy") {
            break status;
        }
        if Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("compozy did not exit within {limit:?}; killed it");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // A process left behind holding a pipe open would keep the reader waiting.
    let collect = |rx: mpsc::Receiver<Vec<u8>>, name: &str| {
        let left = until.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
        match rx.recv_timeout(left) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(mpsc::RecvTimeoutError::Disconnected) => String::new(),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("compozy exited but its {name} stayed open: a process outlived it")
            }
        }
    };
    Output {
        code: status.code().unwrap_or(-1),
        stdout: collect(stdout, "stdout"),
        stderr: collect(stderr, "stderr"),
    }
}

/// Reads `pipe` to its end on a thread; the bytes arrive on the returned channel.
fn drain(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = tx.send(bytes);
        });
    }
    rx
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

/// The Python of a virtual environment with the official MCP Python SDK client
/// (`tests/python/requirements.txt`, every package pinned), built by the test setup on first use
/// in `target/py-venv` with `python3 -m venv` and `pip install`, and built again when the
/// requirements change. Tests that need it fail loudly when it cannot be built; they never pass
/// silently. `COMPOZY_TEST_PYTHON` names another `python3` to build it with.
pub fn python_client() -> PathBuf {
    static VENV: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    match VENV.get_or_init(build_python_venv) {
        Ok(python) => python.clone(),
        Err(why) => panic!(
            "the MCP Python client is required for this test but its virtual environment could \
             not be built: {why}\n(it needs python3 with the venv module and pip, and PyPI)"
        ),
    }
}

fn build_python_venv() -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let requirements = root.join("tests/python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .map_err(|e| format!("cannot read {}: {e}", requirements.display()))?;
    // target/debug/compozy → target/
    let target = Path::new(env!("CARGO_BIN_EXE_compozy"))
        .ancestors()
        .nth(2)
        .ok_or("no target directory above the compozy binary")?;
    let venv = target.join("py-venv");
    let python = venv.join("bin/python");
    let stamp = venv.join("requirements.installed");
    // Another test process may be building it: one at a time (the lock goes with the file).
    std::fs::create_dir_all(target).map_err(|e| format!("create {}: {e}", target.display()))?;
    let lock_file = std::fs::File::create(target.join("py-venv.lock"))
        .map_err(|e| format!("create the venv lock: {e}"))?;
    let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| format!("lock the venv: {e}"))?;
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(python);
    }
    let run = |cmd: &mut Command, what: &str| -> Result<(), String> {
        let out = cmd
            .output()
            .map_err(|e| format!("{what}: cannot start: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{what} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    let _ = std::fs::remove_dir_all(&venv);
    let base = std::env::var_os("COMPOZY_TEST_PYTHON").unwrap_or_else(|| "python3".into());
    run(
        Command::new(&base).arg("-m").arg("venv").arg(&venv),
        &format!("`{} -m venv {}`", base.to_string_lossy(), venv.display()),
    )?;
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--no-deps", "--only-binary", ":all:", "-r"])
            .arg(&requirements),
        "`pip install -r tests/python/requirements.txt`",
    )?;
    run(
        Command::new(&python).args(["-m", "pip", "check", "--disable-pip-version-check"]),
        "`pip check` (a package the pinned set needs is missing from requirements.txt)",
    )?;
    std::fs::write(&stamp, &wanted).map_err(|e| format!("write {}: {e}", stamp.display()))?;
    Ok(python)
}
