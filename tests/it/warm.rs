//! `exec` forwarded to a running server of the project: what keeps it safe. (That the two ways
//! give the same results is `exec`'s whole suite, run both ways: see `exec::warm`.)

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::common::{Fixture, alive, gone_within, output_within, runtime_bin, signal, wait_within};

fn project() -> Fixture {
    Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: version\n    execute: ./tools/version.ts\n  - id: slow\n    execute: ./tools/slow.ts\n  - id: spawns\n    execute: ./tools/spawns.ts\n",
        ),
        (
            "tools/version.ts",
            "export function run() {\n  return { version: 1, pid: process.pid };\n}\n",
        ),
        (
            "tools/slow.ts",
            "export async function run() {\n  await new Promise((r) => setTimeout(r, 1500));\n  return { version: 1 };\n}\n",
        ),
        (
            "tools/spawns.ts",
            "import { spawn } from \"node:child_process\";\nimport { writeFileSync } from \"node:fs\";\nexport function run(input: { pidFile: string }) {\n  const child = spawn(\"sleep\", [\"1000\"], { stdio: \"ignore\" });\n  writeFileSync(input.pidFile, String(child.pid));\n  return new Promise(() => {});\n}\n",
        ),
    ])
}

/// Makes every file of the fixture older than the fingerprint's one-second doubt.
fn age(path: &Path) {
    let then = SystemTime::now() - Duration::from_secs(10);
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            age(&entry.path());
        }
    }
    std::fs::File::open(path)
        .and_then(|f| f.set_modified(then))
        .expect("age a fixture file");
}

/// A `compozy serve` of the fixture, its sockets under `runtime_dir`; stopped when dropped.
struct Server {
    child: Option<Child>,
    socket: PathBuf,
}

impl Server {
    fn start(p: &Fixture, runtime_dir: &Path) -> Self {
        age(p.root());
        let mut child = p
            .compozy(&["-v", "serve", "--runtime", "bun"])
            .env("COMPOZY_BUN", runtime_bin("bun"))
            .env("XDG_RUNTIME_DIR", runtime_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start compozy serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let mut seen = Vec::new();
        let socket = loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => match line.split_once("answering `compozy exec` on ") {
                    Some((_, path)) => break PathBuf::from(path),
                    None => seen.push(line),
                },
                Err(_) => panic!("the server did not listen:\n{}", seen.join("\n")),
            }
        };
        Self {
            child: Some(child),
            socket,
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM: the server removes its socket on the way out.
            signal(child.id(), nix::sys::signal::Signal::SIGTERM);
            let _ = child.wait();
        }
    }
}

/// The pid a tool wrote to `file`, waiting up to 20 s for it.
#[track_caller]
fn pid_in(file: &Path) -> i64 {
    let until = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(pid) = std::fs::read_to_string(file)
            .unwrap_or_default()
            .trim()
            .parse()
        {
            return pid;
        }
        assert!(std::time::Instant::now() < until, "the tool wrote no pid");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A directory for the sockets of one test (`XDG_RUNTIME_DIR`).
fn runtime_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("compozy-run-")
        .tempdir()
        .expect("create a runtime dir")
}

fn exec(p: &Fixture, runtime_dir: &Path, forward: &str, args: &[&str]) -> crate::common::Output {
    let mut cmd = p.compozy(&["-v", "exec"]);
    cmd.args(args)
        .env("COMPOZY_BUN", runtime_bin("bun"))
        .env("XDG_RUNTIME_DIR", runtime_dir)
        .env("COMPOZY_FORWARD", forward);
    output_within(&mut cmd, Duration::from_secs(60))
}

#[test]
fn the_socket_is_private_and_the_server_answers_only_its_own_user() {
    use std::os::unix::fs::PermissionsExt;
    let setpriv = Path::new("/usr/bin/setpriv");
    let python = Path::new("/usr/bin/python3");
    assert!(
        setpriv.exists() && python.exists(),
        "this test needs /usr/bin/setpriv and /usr/bin/python3 to connect as another user"
    );
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test switches to the user `nobody`: run it as root"
    );
    let p = project();
    let dir = runtime_dir();
    let server = Server::start(&p, dir.path());
    let sockets = dir.path().join("compozy");
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&sockets), 0o700, "the socket directory");
    assert_eq!(mode(&server.socket), 0o600, "the socket");
    assert!(server.socket.starts_with(&sockets));

    // Another user, as the real thing: first through the permissions as they are, then with
    // them opened, so that only the server's own check of the peer stands in the way.
    let client = "import socket, sys\n\
                  s = socket.socket(socket.AF_UNIX)\n\
                  try:\n    s.connect(sys.argv[1])\n\
                  except OSError as e:\n    print('connect:', e.strerror); sys.exit(0)\n\
                  try:\n    s.sendall(b'\"status\"\\n')\n\
                  except OSError:\n    pass\n\
                  print(s.makefile().readline().strip())\n";
    let as_nobody = || {
        let mut cmd = std::process::Command::new(setpriv);
        cmd.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            client,
        ])
        .arg(&server.socket);
        let out = output_within(&mut cmd, Duration::from_secs(20));
        out.expect_code(0);
        out.stdout
    };
    let said = as_nobody();
    assert!(
        said.contains("connect: Permission denied"),
        "another user reached the socket: {said}"
    );
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(&sockets, std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(&server.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let said = as_nobody();
    assert!(
        said.contains(r#"{"refused":"the server runs as another user"}"#),
        "the server answered another user: {said}"
    );

    // A directory open to others vouches for nothing: exec does not forward through it.
    let out = exec(&p, dir.path(), "auto", &["version"]);
    out.expect_code(0).stderr_has(&["is open to other users"]);
    let out = exec(&p, dir.path(), "require", &["version"]);
    out.expect_code(1).stderr_has(&["cannot forward the call"]);
}

#[test]
fn a_socket_left_by_a_dead_server_is_removed_and_exec_runs_one_shot() {
    let p = project();
    let dir = runtime_dir();
    let mut server = Server::start(&p, dir.path());
    let out = exec(&p, dir.path(), "require", &["version"]);
    let warm_pid = out.expect_code(0).json()["pid"].clone();
    // SIGKILL: no chance to remove the socket.
    signal(server.pid(), nix::sys::signal::Signal::SIGKILL);
    let _ = server.child.take().map(|mut c| c.wait());
    assert!(
        server.socket.exists(),
        "the killed server's socket vanished"
    );

    let out = exec(&p, dir.path(), "auto", &["version"]);
    out.expect_code(0)
        .stderr_has(&["left by a server that is gone", "running one-shot"]);
    assert_ne!(
        out.json()["pid"],
        warm_pid,
        "answered by the dead server's worker"
    );
    assert!(!server.socket.exists(), "the stale socket was not removed");

    // A new server takes its place, and sweeps away the sockets of other dead servers.
    let other = server.socket.with_file_name("0000000000000000.sock");
    drop(std::os::unix::net::UnixListener::bind(&other).expect("bind a socket"));
    assert!(other.exists());
    let server = Server::start(&p, dir.path());
    exec(&p, dir.path(), "require", &["version"]).expect_code(0);
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while other.exists() {
        assert!(
            std::time::Instant::now() < until,
            "the dead server's socket {} was not swept",
            other.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(server);
}

#[test]
fn an_edit_during_a_warm_call_is_never_answered_with_the_old_code() {
    let p = project();
    let dir = runtime_dir();
    let _server = Server::start(&p, dir.path());
    // The old code, loaded by the server's worker (and the files vouched for by its watches).
    for args in [&["version", "--input", "{}"][..], &["version"]] {
        let out = exec(&p, dir.path(), "require", args);
        assert_eq!(out.expect_code(0).json()["version"], json!(1));
    }
    let mut slow = p.compozy(&["exec", "slow"]);
    slow.env("COMPOZY_BUN", runtime_bin("bun"))
        .env("XDG_RUNTIME_DIR", dir.path())
        .env("COMPOZY_FORWARD", "require")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let in_flight = slow.spawn().expect("start exec");
    std::thread::sleep(Duration::from_millis(400));
    p.write(
        "tools/version.ts",
        "export function run() {\n  return { version: 2, pid: process.pid };\n}\n",
    );
    // Right after the edit (one-shot: the fingerprint doubts a file this new), then once the
    // edit has aged (forwarded after the server reloads): version 2 every time. With `--input`,
    // the server checks the files itself (and vouches for them by its watches, which the edit
    // must have set off); without, with stdin not a terminal, `exec` checks them.
    for round in 0..2 {
        for args in [&["version", "--input", "{}"][..], &["version"]] {
            let out = exec(&p, dir.path(), "auto", args);
            assert_eq!(
                out.expect_code(0).json()["version"],
                json!(2),
                "round {round} of {args:?} ran the old code:\n{}",
                out.stderr
            );
        }
        std::thread::sleep(Duration::from_millis(1100));
    }
    for args in [&["version", "--input", "{}"][..], &["version"]] {
        let out = exec(&p, dir.path(), "require", args);
        assert_eq!(out.expect_code(0).json()["version"], json!(2));
    }
    // The call in flight finished on the code it started with.
    let out = wait_within(in_flight, Duration::from_secs(30));
    assert_eq!(out.expect_code(0).json(), json!({"version": 1}));
}

#[test]
fn ctrl_c_on_a_forwarded_call_stops_the_tool_in_the_server() {
    let p = project();
    let dir = runtime_dir();
    let server = Server::start(&p, dir.path());
    let pid_file = p.path("child.pid");
    let input = json!({"pidFile": pid_file}).to_string();
    let child = p
        .compozy(&["exec", "spawns", "--input", &input])
        .env("COMPOZY_BUN", runtime_bin("bun"))
        .env("XDG_RUNTIME_DIR", dir.path())
        .env("COMPOZY_FORWARD", "require")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start exec");
    let tool_child = pid_in(&pid_file);
    assert!(alive(tool_child));
    signal(child.id(), nix::sys::signal::Signal::SIGINT);
    wait_within(child, Duration::from_secs(10))
        .expect_code(130)
        .stderr_has(&["interrupted"]);
    assert!(
        gone_within(tool_child, Duration::from_secs(3)),
        "the tool's child {tool_child} survived Ctrl-C on a forwarded call"
    );
    // The server lives on and answers the next call.
    assert!(alive(i64::from(server.pid())));
    exec(&p, dir.path(), "require", &["version"]).expect_code(0);
}

/// A server whose stdin ended drains its last calls without taking new ones: an `exec` meanwhile
/// runs one-shot, as if no server ran.
#[test]
fn a_server_that_is_stopping_leaves_exec_to_run_one_shot() {
    use std::io::Write;
    let p = project();
    let dir = runtime_dir();
    let mut server = Server::start(&p, dir.path());
    let mut stdin = (server.child.as_mut())
        .and_then(|c| c.stdin.take())
        .expect("serve's stdin");
    writeln!(stdin, "{}", json!({"id": 1, "tool_id": "slow"})).expect("send a call");
    drop(stdin);
    // `slow` takes 1.5s: serve is draining it.
    std::thread::sleep(Duration::from_millis(300));
    let out = exec(&p, dir.path(), "auto", &["version"]);
    out.expect_code(0);
    assert!(
        !out.stderr
            .contains("answered by the project's running server"),
        "{}",
        out.stderr
    );
}

/// Ctrl-C stops a one-shot run that follows a forward the server refused (here: another
/// runtime), as it stops any one-shot run.
#[test]
fn ctrl_c_stops_the_one_shot_run_after_a_refused_forward() {
    let p = project();
    let dir = runtime_dir();
    let _server = Server::start(&p, dir.path());
    let pid_file = p.path("child.pid");
    let input = json!({"pidFile": pid_file}).to_string();
    let child = p
        .compozy(&[
            "-v",
            "exec",
            "spawns",
            "--runtime",
            "node",
            "--input",
            &input,
        ])
        .env("COMPOZY_BUN", runtime_bin("bun"))
        .env("COMPOZY_NODE", runtime_bin("node"))
        .env("XDG_RUNTIME_DIR", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start exec");
    let tool_child = pid_in(&pid_file);
    signal(child.id(), nix::sys::signal::Signal::SIGINT);
    wait_within(child, Duration::from_secs(10))
        .expect_code(130)
        .stderr_has(&["running one-shot", "interrupted"]);
    assert!(
        gone_within(tool_child, Duration::from_secs(3)),
        "the tool's child {tool_child} survived Ctrl-C"
    );
}

#[test]
fn daemon_start_status_and_stop() {
    let p = project();
    age(p.root());
    let dir = runtime_dir();
    let daemon = |action: &str| {
        let mut cmd = p.compozy(&["daemon", action]);
        cmd.env("COMPOZY_BUN", runtime_bin("bun"))
            .env("XDG_RUNTIME_DIR", dir.path());
        output_within(&mut cmd, Duration::from_secs(60))
    };
    let none = daemon("status");
    none.expect_code(1);
    assert!(none.stdout.contains("no server of"), "{none:?}");
    let started = daemon("start");
    started.expect_code(0);
    assert!(started.stdout.contains("`daemon` (pid "), "{started:?}");
    let pid: i64 = started
        .stdout
        .split("(pid ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|pid| pid.parse().ok())
        .expect("a pid in daemon start's line");
    let status = daemon("status");
    status.expect_code(0);
    assert!(status.stdout.contains("up to date"), "{status:?}");
    exec(&p, dir.path(), "require", &["version"]).expect_code(0);
    daemon("stop")
        .expect_code(0)
        .stderr_has(&["stopped `daemon`"]);
    assert!(
        gone_within(pid, Duration::from_secs(5)),
        "the daemon {pid} did not stop"
    );
    daemon("status").expect_code(1);
    exec(&p, dir.path(), "auto", &["version"])
        .expect_code(0)
        .stderr_has(&["running one-shot"]);
}
