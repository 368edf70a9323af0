//! Starting a worker process with `posix_spawn`.
//!
//! `fork` would copy compozy's page tables, and every later write to compozy's memory would then
//! take a copy-on-write fault: about a millisecond on each `exec`. `posix_spawn` starts the runtime
//! without either. It has no portable way to set the working directory, so each runtime passes
//! the project root in its arguments instead (see [`WorkerCommand`]); a process tool, which
//! cannot be told, starts there through glibc's and musl's `posix_spawn_file_actions_addchdir_np`.

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::config::Protocol;

use nix::spawn::{PosixSpawnAttr, PosixSpawnFileActions, PosixSpawnFlags, posix_spawn};
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::Pid;

/// The protocol channel's fd in the worker.
pub const PROTOCOL_FD: i32 = 3;

/// How to start a worker. There is no working directory: the arguments carry the project root
/// (Bun's `--cwd`; the Node worker changes directory itself before it loads any tool).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerCommand {
    /// The runtime's binary, an absolute path.
    pub program: PathBuf,
    /// Its arguments (without the program name).
    pub args: Vec<OsString>,
    /// The directory it starts in (a process tool's: the project root); `None`: compozy's.
    pub cwd: Option<PathBuf>,
    /// How it talks: [`Protocol::Compozy`] answers on fd 3 and logs on stdout and stderr;
    /// [`Protocol::Stdio`] answers on stdout and logs on stderr.
    pub protocol: Protocol,
    /// Whether a one-shot worker's stdin stays open while its call runs (a JavaScript worker,
    /// started with `--held-stdin`, reads its request as stdin's first line): the worker then
    /// sees the executor's end, even by SIGKILL, as the end of stdin, and stops the call. A
    /// program's stdin ends after its request, which it may read to the end.
    pub holds_stdin: bool,
}

/// The descriptors a worker starts with: fds 0, 1, 2 and (when given) [`PROTOCOL_FD`].
pub struct WorkerFds {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    pub protocol: Option<OwnedFd>,
}

/// Starts `cmd` with exactly `env`, as the leader of a new process group (its pgid is the
/// returned pid). The parent's copies of `fds` are closed when this returns.
pub fn spawn(
    cmd: &WorkerCommand,
    env: &[(String, String)],
    fds: WorkerFds,
) -> std::io::Result<Pid> {
    let c_string = |bytes: &[u8]| {
        CString::new(bytes).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a NUL byte in a worker's argument or environment",
            )
        })
    };
    let mut argv = vec![c_string(cmd.program.as_os_str().as_bytes())?];
    for arg in &cmd.args {
        argv.push(c_string(arg.as_bytes())?);
    }
    let envp = env
        .iter()
        .map(|(k, v)| c_string(format!("{k}={v}").as_bytes()))
        .collect::<std::io::Result<Vec<_>>>()?;

    // A dup2 onto the same number is a no-op that would leave close-on-exec set, so every source
    // is first moved above the highest target.
    let stdin = above_targets(fds.stdin)?;
    let stdout = above_targets(fds.stdout)?;
    let stderr = above_targets(fds.stderr)?;
    let protocol = fds.protocol.map(above_targets).transpose()?;
    let mut actions = PosixSpawnFileActions::init()?;
    actions.add_dup2(stdin.as_raw_fd(), 0)?;
    actions.add_dup2(stdout.as_raw_fd(), 1)?;
    actions.add_dup2(stderr.as_raw_fd(), 2)?;
    if let Some(protocol) = &protocol {
        actions.add_dup2(protocol.as_raw_fd(), PROTOCOL_FD)?;
    }
    if let Some(cwd) = &cmd.cwd {
        add_chdir(&mut actions, &c_string(cwd.as_os_str().as_bytes())?)?;
    }

    let mut attr = PosixSpawnAttr::init()?;
    attr.set_pgroup(Pid::from_raw(0))?;
    // Rust ignores SIGPIPE, and an ignored signal stays ignored across exec: restore it, and
    // start with no signal blocked, as a process started from a shell would.
    let mut default = SigSet::empty();
    default.add(Signal::SIGPIPE);
    attr.set_sigdefault(&default)?;
    attr.set_sigmask(&SigSet::empty())?;
    attr.set_flags(
        PosixSpawnFlags::POSIX_SPAWN_SETPGROUP
            | PosixSpawnFlags::POSIX_SPAWN_SETSIGDEF
            | PosixSpawnFlags::POSIX_SPAWN_SETSIGMASK,
    )?;
    Ok(posix_spawn(
        cmd.program.as_path(),
        &actions,
        &attr,
        &argv,
        &envp,
    )?)
}

/// Makes the child start in `dir`.
#[cfg(any(target_env = "gnu", target_env = "musl"))]
fn add_chdir(actions: &mut PosixSpawnFileActions, dir: &CString) -> std::io::Result<()> {
    // SAFETY: `PosixSpawnFileActions` is `repr(transparent)` over the initialised
    // `posix_spawn_file_actions_t`, which outlives the call; `dir` is NUL-terminated and is copied
    // by the call.
    let rc = unsafe {
        libc::posix_spawn_file_actions_addchdir_np(
            std::ptr::from_mut(actions).cast::<libc::posix_spawn_file_actions_t>(),
            dir.as_ptr(),
        )
    };
    match rc {
        0 => Ok(()),
        errno => Err(std::io::Error::from_raw_os_error(errno)),
    }
}

/// Without `posix_spawn_file_actions_addchdir_np`, the child starts in compozy's directory.
#[cfg(not(any(target_env = "gnu", target_env = "musl")))]
fn add_chdir(_: &mut PosixSpawnFileActions, _: &CString) -> std::io::Result<()> {
    Ok(())
}

/// `fd`, renumbered above [`PROTOCOL_FD`] when it is not already (all stay close-on-exec).
fn above_targets(fd: OwnedFd) -> std::io::Result<OwnedFd> {
    let mut held = Vec::new();
    let mut fd = fd;
    while fd.as_raw_fd() <= PROTOCOL_FD {
        let next = fd.try_clone()?;
        held.push(fd);
        fd = next;
    }
    Ok(fd)
}
