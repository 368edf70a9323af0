//! A small WASI preview-1 host over wasmi's linker: stdin, stdout and stderr in memory, the
//! granted environment variables and directories, clocks and randomness. Nothing else: any
//! other preview-1 function (sockets, polling, …) answers `ENOSYS`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

use wasmi::{Caller, Error, Extern, FuncType, Linker, Module, Val, ValType};

use crate::config::{WASI_MODULE, WasmDir};

// The errno values of WASI preview 1.
const SUCCESS: i32 = 0;
const BADF: i32 = 8;
const EXIST: i32 = 20;
const FAULT: i32 = 21;
const INVAL: i32 = 28;
const IO: i32 = 29;
const ISDIR: i32 = 31;
const NOENT: i32 = 44;
const NOSYS: i32 = 52;
const NOTDIR: i32 = 54;
const ROFS: i32 = 69;
const SPIPE: i32 = 70;
const NOTCAPABLE: i32 = 76;

const FILETYPE_CHARACTER_DEVICE: u8 = 2;
const FILETYPE_DIRECTORY: u8 = 3;
const FILETYPE_REGULAR_FILE: u8 = 4;

const O_CREAT: i32 = 1;
const O_DIRECTORY: i32 = 2;
const O_EXCL: i32 = 4;
const O_TRUNC: i32 = 8;
const FDFLAG_APPEND: i32 = 1;
const RIGHT_FD_WRITE: i64 = 1 << 6;

/// Why a call stopped before the module returned.
#[derive(Debug)]
pub enum Stop {
    /// More than the result cap on stdout.
    ResultTooLarge,
    /// More than the log cap on stderr.
    LogTooLarge,
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stop::ResultTooLarge => "result cap exceeded",
            Stop::LogTooLarge => "log cap exceeded",
        })
    }
}

impl wasmi::errors::HostError for Stop {}

enum Fd {
    Stdin,
    Stdout,
    Stderr,
    /// A granted directory (`root` is its preopen), or one opened below it.
    Dir {
        root: usize,
        below: Vec<String>,
    },
    File {
        file: File,
    },
}

/// What one call's instance sees.
pub struct Host {
    stdin: Vec<u8>,
    read: usize,
    /// What the module wrote to stdout.
    pub stdout: Vec<u8>,
    /// The last bytes it wrote to stderr (all of it went to compozy's stderr).
    pub stderr_tail: Vec<u8>,
    stderr_total: usize,
    max_result: usize,
    max_log: usize,
    env: Vec<String>,
    args: Vec<String>,
    preopens: Vec<WasmDir>,
    fds: Vec<Option<Fd>>,
    /// The memory cap.
    pub limits: wasmi::StoreLimits,
}

const TAIL: usize = 4096;

impl Host {
    /// A host whose stdin is `stdin`, with `env` (`NAME=value`), `dirs` and the caps.
    pub fn new(
        stdin: Vec<u8>,
        name: &str,
        env: Vec<String>,
        dirs: &[WasmDir],
        memory: u64,
        max_result: usize,
        max_log: usize,
    ) -> Self {
        let mut fds = vec![Some(Fd::Stdin), Some(Fd::Stdout), Some(Fd::Stderr)];
        fds.extend((0..dirs.len()).map(|root| {
            Some(Fd::Dir {
                root,
                below: Vec::new(),
            })
        }));
        Self {
            stdin,
            read: 0,
            stdout: Vec::new(),
            stderr_tail: Vec::new(),
            stderr_total: 0,
            max_result,
            max_log,
            env,
            args: vec![name.to_owned()],
            preopens: dirs.to_vec(),
            fds,
            limits: wasmi::StoreLimitsBuilder::new()
                .memory_size(usize::try_from(memory).unwrap_or(usize::MAX))
                .build(),
        }
    }

    fn fd(&mut self, fd: i32) -> Result<&mut Fd, i32> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.fds.get_mut(i))
            .and_then(Option::as_mut)
            .ok_or(BADF)
    }

    fn push_fd(&mut self, fd: Fd) -> i32 {
        let at = match self.fds.iter().position(Option::is_none) {
            Some(free) => {
                self.fds[free] = Some(fd);
                free
            }
            None => {
                self.fds.push(Some(fd));
                self.fds.len() - 1
            }
        };
        i32::try_from(at).unwrap_or(i32::MAX)
    }

    /// The host path of `path` below directory `fd`, if it stays inside its granted directory
    /// (`..` past it, an absolute path, or a symlink out of it are refused), and whether that
    /// directory is writable.
    fn resolve(&mut self, fd: i32, path: &str) -> Result<(PathBuf, usize, Vec<String>, bool), i32> {
        let (root, below) = match self.fd(fd)? {
            Fd::Dir { root, below } => (*root, below.clone()),
            _ => return Err(NOTDIR),
        };
        let mut parts = below;
        for component in Path::new(path).components() {
            match component {
                Component::Normal(name) => parts.push(name.to_string_lossy().into_owned()),
                Component::CurDir => {}
                Component::ParentDir => {
                    parts.pop().ok_or(NOTCAPABLE)?;
                }
                Component::RootDir | Component::Prefix(_) => return Err(NOTCAPABLE),
            }
        }
        let dir = &self.preopens[root];
        let host = parts.iter().fold(dir.host.clone(), |p, c| p.join(c));
        // A symlink may point anywhere: what exists of the path must resolve inside the root.
        let mut existing = host.as_path();
        loop {
            if let Ok(real) = std::fs::canonicalize(existing) {
                if !real.starts_with(&dir.host) {
                    return Err(NOTCAPABLE);
                }
                break;
            }
            existing = existing.parent().ok_or(NOTCAPABLE)?;
        }
        Ok((host, root, parts, dir.write))
    }

    fn path_open(
        &mut self,
        fd: i32,
        path: &str,
        oflags: i32,
        rights: i64,
        fdflags: i32,
    ) -> Result<i32, i32> {
        let (host, root, parts, writable) = self.resolve(fd, path)?;
        let wants_write = oflags & (O_CREAT | O_TRUNC | O_EXCL) != 0
            || rights & RIGHT_FD_WRITE != 0
            || fdflags & FDFLAG_APPEND != 0;
        let is_dir = host.is_dir();
        if oflags & O_DIRECTORY != 0 || (is_dir && !wants_write) {
            if !is_dir {
                return Err(if host.exists() { NOTDIR } else { NOENT });
            }
            return Ok(self.push_fd(Fd::Dir { root, below: parts }));
        }
        if wants_write && !writable {
            return Err(ROFS);
        }
        if is_dir {
            return Err(ISDIR);
        }
        let file = OpenOptions::new()
            .read(true)
            .write(wants_write && oflags & O_TRUNC != 0 || rights & RIGHT_FD_WRITE != 0)
            .append(fdflags & FDFLAG_APPEND != 0)
            .create(oflags & O_CREAT != 0 && oflags & O_EXCL == 0)
            .create_new(oflags & O_CREAT != 0 && oflags & O_EXCL != 0)
            .truncate(oflags & O_TRUNC != 0)
            .open(&host)
            .map_err(|e| errno(&e))?;
        Ok(self.push_fd(Fd::File { file }))
    }

    fn write(&mut self, fd: i32, bytes: &[u8]) -> Result<Result<(), i32>, Stop> {
        let fd = match self.fd(fd) {
            Ok(fd) => fd,
            Err(e) => return Ok(Err(e)),
        };
        match fd {
            Fd::Stdout => {
                if self.stdout.len() + bytes.len() > self.max_result {
                    return Err(Stop::ResultTooLarge);
                }
                self.stdout.extend_from_slice(bytes);
            }
            Fd::Stderr => {
                self.stderr_total += bytes.len();
                if self.stderr_total > self.max_log {
                    return Err(Stop::LogTooLarge);
                }
                let _ = std::io::stderr().lock().write_all(bytes);
                self.stderr_tail.extend_from_slice(bytes);
                if self.stderr_tail.len() > TAIL {
                    let cut = self.stderr_tail.len() - TAIL;
                    self.stderr_tail.drain(..cut);
                }
            }
            Fd::File { file } => return Ok(file.write_all(bytes).map_err(|e| errno(&e))),
            Fd::Stdin => return Ok(Err(BADF)),
            Fd::Dir { .. } => return Ok(Err(ISDIR)),
        }
        Ok(Ok(()))
    }

    fn read(&mut self, fd: i32, into: &mut [u8]) -> Result<usize, i32> {
        match self.fd(fd)? {
            Fd::Stdin => {
                let rest = &self.stdin[self.read..];
                let n = rest.len().min(into.len());
                into[..n].copy_from_slice(&rest[..n]);
                self.read += n;
                Ok(n)
            }
            Fd::File { file } => file.read(into).map_err(|e| errno(&e)),
            Fd::Dir { .. } => Err(ISDIR),
            Fd::Stdout | Fd::Stderr => Err(BADF),
        }
    }
}

fn errno(e: &std::io::Error) -> i32 {
    use std::io::ErrorKind::*;
    match e.kind() {
        NotFound => NOENT,
        AlreadyExists => EXIST,
        PermissionDenied => NOTCAPABLE,
        IsADirectory => ISDIR,
        NotADirectory => NOTDIR,
        ReadOnlyFilesystem => ROFS,
        InvalidInput => INVAL,
        _ => IO,
    }
}

type Cx<'a> = Caller<'a, Host>;

fn memory(caller: &Cx<'_>) -> Option<wasmi::Memory> {
    caller.get_export("memory").and_then(Extern::into_memory)
}

/// The fuel a call into the host costs, as if it were that many instructions: a module that
/// spends its time in host calls (a write a byte at a time) runs out of fuel as often as one that
/// computes, so that the deadline and a cancel are looked at between slices just as soon.
const HOST_CALL_FUEL: u64 = 10_000;

/// Charges a host call's fuel to the module.
fn charge(caller: &mut Cx<'_>) {
    if let Ok(fuel) = caller.get_fuel() {
        // Fuel is always on in compozy's engine: a failure here cannot happen.
        let _ = caller.set_fuel(fuel.saturating_sub(HOST_CALL_FUEL));
    }
}

/// Runs `f` on the module's memory and the host; `FAULT` without a memory.
fn with_memory(
    caller: &mut Cx<'_>,
    f: impl FnOnce(&mut [u8], &mut Host) -> Result<(), i32>,
) -> i32 {
    charge(caller);
    let Some(memory) = memory(caller) else {
        return FAULT;
    };
    let (bytes, host) = memory.data_and_store_mut(caller);
    match f(bytes, host) {
        Ok(()) => SUCCESS,
        Err(e) => e,
    }
}

fn slice(mem: &[u8], ptr: i32, len: u32) -> Result<&[u8], i32> {
    let start = u32::try_from(ptr).map_err(|_| FAULT)? as usize;
    mem.get(start..start + len as usize).ok_or(FAULT)
}

fn slice_mut(mem: &mut [u8], ptr: i32, len: u32) -> Result<&mut [u8], i32> {
    let start = u32::try_from(ptr).map_err(|_| FAULT)? as usize;
    mem.get_mut(start..start + len as usize).ok_or(FAULT)
}

fn put(mem: &mut [u8], ptr: i32, bytes: &[u8]) -> Result<(), i32> {
    let len = u32::try_from(bytes.len()).map_err(|_| FAULT)?;
    slice_mut(mem, ptr, len)?.copy_from_slice(bytes);
    Ok(())
}

fn get_u32(mem: &[u8], ptr: i32) -> Result<u32, i32> {
    let b = slice(mem, ptr, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The (pointer, length) pairs of an iovec array.
fn iovecs(mem: &[u8], iovs: i32, count: i32) -> Result<Vec<(i32, u32)>, i32> {
    (0..count)
        .map(|i| {
            let at = iovs.wrapping_add(i.wrapping_mul(8));
            let ptr = get_u32(mem, at)?;
            Ok((
                i32::try_from(ptr).map_err(|_| FAULT)?,
                get_u32(mem, at + 4)?,
            ))
        })
        .collect()
}

/// `strings` as the two arrays of `args_get` / `environ_get`.
fn put_strings(mem: &mut [u8], strings: &[String], ptrs: i32, buf: i32) -> Result<(), i32> {
    let mut at = buf;
    for (i, s) in strings.iter().enumerate() {
        let slot = ptrs + i32::try_from(i * 4).map_err(|_| FAULT)?;
        put(mem, slot, &at.to_le_bytes())?;
        put(mem, at, s.as_bytes())?;
        put(mem, at + i32::try_from(s.len()).map_err(|_| FAULT)?, &[0])?;
        at += i32::try_from(s.len() + 1).map_err(|_| FAULT)?;
    }
    Ok(())
}

fn put_sizes(mem: &mut [u8], strings: &[String], count: i32, size: i32) -> Result<(), i32> {
    let total: usize = strings.iter().map(|s| s.len() + 1).sum();
    put(mem, count, &(strings.len() as u32).to_le_bytes())?;
    put(mem, size, &(total as u32).to_le_bytes())
}

fn path_text(mem: &[u8], ptr: i32, len: i32) -> Result<String, i32> {
    let bytes = slice(mem, ptr, u32::try_from(len).map_err(|_| INVAL)?)?;
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| INVAL)
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The functions this host implements.
const DEFINED: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "fd_close",
    "fd_fdstat_get",
    "fd_fdstat_set_flags",
    "fd_filestat_get",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "fd_read",
    "fd_write",
    "fd_seek",
    "path_open",
    "proc_exit",
    "random_get",
    "sched_yield",
];

/// A linker with the host's functions, and `ENOSYS` for the other preview-1 functions
/// `module` imports.
pub fn linker(engine: &wasmi::Engine, module: &Module) -> Result<Linker<Host>, Error> {
    let mut l: Linker<Host> = Linker::new(engine);
    let m = WASI_MODULE;
    l.func_wrap(m, "args_get", |mut c: Cx<'_>, argv: i32, buf: i32| {
        with_memory(&mut c, |mem, h| put_strings(mem, &h.args, argv, buf))
    })?;
    l.func_wrap(
        m,
        "args_sizes_get",
        |mut c: Cx<'_>, count: i32, size: i32| {
            with_memory(&mut c, |mem, h| put_sizes(mem, &h.args, count, size))
        },
    )?;
    l.func_wrap(m, "environ_get", |mut c: Cx<'_>, env: i32, buf: i32| {
        with_memory(&mut c, |mem, h| put_strings(mem, &h.env, env, buf))
    })?;
    l.func_wrap(
        m,
        "environ_sizes_get",
        |mut c: Cx<'_>, count: i32, size: i32| {
            with_memory(&mut c, |mem, h| put_sizes(mem, &h.env, count, size))
        },
    )?;
    l.func_wrap(m, "clock_res_get", |mut c: Cx<'_>, id: i32, res: i32| {
        if !(0..4).contains(&id) {
            return INVAL;
        }
        with_memory(&mut c, |mem, _| put(mem, res, &1000u64.to_le_bytes()))
    })?;
    l.func_wrap(
        m,
        "clock_time_get",
        |mut c: Cx<'_>, id: i32, _precision: i64, time: i32| {
            let now = match id {
                0 => std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(nanos)
                    .unwrap_or(0),
                1..=3 => nanos(monotonic()),
                _ => return INVAL,
            };
            with_memory(&mut c, |mem, _| put(mem, time, &now.to_le_bytes()))
        },
    )?;
    l.func_wrap(m, "fd_close", |mut c: Cx<'_>, fd: i32| {
        let host = c.data_mut();
        match usize::try_from(fd).ok().and_then(|i| host.fds.get_mut(i)) {
            Some(slot @ Some(_)) => {
                *slot = None;
                SUCCESS
            }
            _ => BADF,
        }
    })?;
    l.func_wrap(m, "fd_fdstat_get", |mut c: Cx<'_>, fd: i32, at: i32| {
        with_memory(&mut c, |mem, h| {
            let filetype = match h.fd(fd)? {
                Fd::Stdin | Fd::Stdout | Fd::Stderr => FILETYPE_CHARACTER_DEVICE,
                Fd::Dir { .. } => FILETYPE_DIRECTORY,
                Fd::File { .. } => FILETYPE_REGULAR_FILE,
            };
            let mut stat = [0u8; 24];
            stat[0] = filetype;
            stat[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
            stat[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
            put(mem, at, &stat)
        })
    })?;
    l.func_wrap(
        m,
        "fd_fdstat_set_flags",
        |mut c: Cx<'_>, fd: i32, _flags: i32| match c.data_mut().fd(fd) {
            Ok(_) => NOSYS,
            Err(e) => e,
        },
    )?;
    l.func_wrap(m, "fd_filestat_get", |mut c: Cx<'_>, fd: i32, at: i32| {
        with_memory(&mut c, |mem, h| {
            let (filetype, size) = match h.fd(fd)? {
                Fd::Stdin | Fd::Stdout | Fd::Stderr => (FILETYPE_CHARACTER_DEVICE, 0),
                Fd::Dir { .. } => (FILETYPE_DIRECTORY, 0),
                Fd::File { file } => (
                    FILETYPE_REGULAR_FILE,
                    file.metadata().map_err(|e| errno(&e))?.len(),
                ),
            };
            let mut stat = [0u8; 64];
            stat[16] = filetype;
            stat[24..32].copy_from_slice(&1u64.to_le_bytes());
            stat[32..40].copy_from_slice(&size.to_le_bytes());
            put(mem, at, &stat)
        })
    })?;
    l.func_wrap(m, "fd_prestat_get", |mut c: Cx<'_>, fd: i32, at: i32| {
        with_memory(&mut c, |mem, h| {
            let name = match h.fd(fd)? {
                Fd::Dir { root, below } if below.is_empty() => *root,
                _ => return Err(BADF),
            };
            let name = h.preopens[name].guest.len();
            let mut stat = [0u8; 8];
            stat[4..8].copy_from_slice(&(name as u32).to_le_bytes());
            put(mem, at, &stat)
        })
    })?;
    l.func_wrap(
        m,
        "fd_prestat_dir_name",
        |mut c: Cx<'_>, fd: i32, at: i32, len: i32| {
            with_memory(&mut c, |mem, h| {
                let name = match h.fd(fd)? {
                    Fd::Dir { root, below } if below.is_empty() => *root,
                    _ => return Err(BADF),
                };
                let name = h.preopens[name].guest.clone();
                let len = usize::try_from(len).map_err(|_| INVAL)?;
                put(mem, at, &name.as_bytes()[..name.len().min(len)])
            })
        },
    )?;
    l.func_wrap(
        m,
        "fd_read",
        |mut c: Cx<'_>, fd: i32, iovs: i32, count: i32, nread: i32| {
            with_memory(&mut c, |mem, h| {
                let mut total = 0u32;
                for (ptr, len) in iovecs(mem, iovs, count)? {
                    let n = h.read(fd, slice_mut(mem, ptr, len)?)?;
                    total += n as u32;
                    if n < len as usize {
                        break;
                    }
                }
                put(mem, nread, &total.to_le_bytes())
            })
        },
    )?;
    l.func_wrap(
        m,
        "fd_write",
        |mut c: Cx<'_>, fd: i32, iovs: i32, count: i32, written: i32| -> Result<i32, Error> {
            charge(&mut c);
            let Some(memory) = memory(&c) else {
                return Ok(FAULT);
            };
            let (mem, h) = memory.data_and_store_mut(&mut c);
            let vecs = match iovecs(mem, iovs, count) {
                Ok(v) => v,
                Err(e) => return Ok(e),
            };
            let mut total = 0u32;
            for (ptr, len) in vecs {
                let bytes = match slice(mem, ptr, len) {
                    Ok(b) => b,
                    Err(e) => return Ok(e),
                };
                match h.write(fd, bytes).map_err(Error::host)? {
                    Ok(()) => total += len,
                    Err(e) => return Ok(e),
                }
            }
            Ok(match put(mem, written, &total.to_le_bytes()) {
                Ok(()) => SUCCESS,
                Err(e) => e,
            })
        },
    )?;
    l.func_wrap(
        m,
        "fd_seek",
        |mut c: Cx<'_>, fd: i32, offset: i64, whence: i32, at: i32| {
            with_memory(&mut c, |mem, h| {
                let Fd::File { file } = h.fd(fd)? else {
                    return Err(SPIPE);
                };
                let to = match whence {
                    0 => SeekFrom::Start(u64::try_from(offset).map_err(|_| INVAL)?),
                    1 => SeekFrom::Current(offset),
                    2 => SeekFrom::End(offset),
                    _ => return Err(INVAL),
                };
                let now = file.seek(to).map_err(|e| errno(&e))?;
                put(mem, at, &now.to_le_bytes())
            })
        },
    )?;
    l.func_wrap(
        m,
        "path_open",
        |mut c: Cx<'_>,
         fd: i32,
         _dirflags: i32,
         path: i32,
         len: i32,
         oflags: i32,
         rights: i64,
         _inheriting: i64,
         fdflags: i32,
         opened: i32| {
            with_memory(&mut c, |mem, h| {
                let path = path_text(mem, path, len)?;
                let new = h.path_open(fd, &path, oflags, rights, fdflags)?;
                put(mem, opened, &new.to_le_bytes())
            })
        },
    )?;
    l.func_wrap(
        m,
        "proc_exit",
        |_: Cx<'_>, code: i32| -> Result<(), Error> { Err(Error::i32_exit(code)) },
    )?;
    l.func_wrap(m, "random_get", |mut c: Cx<'_>, buf: i32, len: i32| {
        with_memory(&mut c, |mem, _| {
            let out = slice_mut(mem, buf, u32::try_from(len).map_err(|_| INVAL)?)?;
            fill_random(out).map_err(|_| IO)
        })
    })?;
    l.func_wrap(m, "sched_yield", |_: Cx<'_>| SUCCESS)?;

    for import in module.imports() {
        if import.module() != m || DEFINED.contains(&import.name()) {
            continue;
        }
        if let wasmi::ExternType::Func(ty) = import.ty() {
            let errno_result = ty.results() == [ValType::I32];
            let ty: FuncType = ty.clone();
            l.func_new(m, import.name(), ty, move |_, _, results: &mut [Val]| {
                if errno_result {
                    results[0] = Val::I32(NOSYS);
                    Ok(())
                } else {
                    Err(Error::new(
                        "this WASI function is not available to compozy's tools",
                    ))
                }
            })?;
        }
    }
    Ok(l)
}

fn monotonic() -> std::time::Duration {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

fn fill_random(out: &mut [u8]) -> std::io::Result<()> {
    let mut filled = 0;
    while filled < out.len() {
        let rest = &mut out[filled..];
        // SAFETY: `rest` is a valid, writable buffer of `rest.len()` bytes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
            continue;
        }
        filled += n as usize;
    }
    Ok(())
}
