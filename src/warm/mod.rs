//! A warm pool for `exec`: a running server of a project (`serve`, `mcp`, `watch --serve`)
//! listens on a Unix socket of its own, and `exec` forwards its call there instead of starting a
//! runtime. The socket is one more front end over the pool ([`listener`]); `exec` is its client
//! ([`client`]). Every refusal or failure of a server only sends `exec` back to its one-shot way.
//!
//! Where: `$XDG_RUNTIME_DIR/compozy/` (else `/tmp/compozy-UID/`), a directory of the user's own
//! with mode 0700; each project's socket (mode 0600) is named after a hash of its root.

pub mod client;
mod fresh;
pub mod listener;
pub mod wire;

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a call is not forwarded when the project's files cannot be told unchanged since the
/// last generation (the fingerprint doubts a file changed within the last second).
pub const NOT_FRESH: &str = "the project changed since it was last generated, or a file \
                             changed in the last second (too recently to tell)";

/// `COMPOZY_FORWARD=off` keeps `exec` one-shot; `require` makes a call that cannot be forwarded
/// an error (for tests and for checking a setup).
pub const FORWARD_VAR: &str = "COMPOZY_FORWARD";

/// The per-user directory the sockets live in.
pub fn socket_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() && Path::new(&dir).is_absolute() => {
            Path::new(&dir).join("compozy")
        }
        _ => std::env::temp_dir().join(format!("compozy-{}", nix::unistd::geteuid())),
    }
}

/// The name of the project in `root` (an absolute, canonical path) in the per-user directory:
/// its socket is `KEY.sock`, its policies' state `state/KEY/`.
pub fn project_key(root: &Path) -> String {
    use std::hash::{Hash, Hasher};
    // Fixed keys: every compozy process of this build names the same project alike.
    let mut hasher = std::hash::DefaultHasher::new();
    root.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// The socket of the project in `root` (an absolute, canonical path).
pub fn socket_path(root: &Path) -> PathBuf {
    socket_dir().join(format!("{}.sock", project_key(root)))
}

/// Creates the socket directory (0700) if needed, and checks that it is this user's alone.
pub fn prepare_dir() -> Result<PathBuf, String> {
    let dir = socket_dir();
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
    }
    check_dir(&dir)?;
    Ok(dir)
}

/// The directory must be a real directory of this user with no access for anyone else: a socket
/// in a directory someone else controls could be theirs.
pub fn check_dir(dir: &Path) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(format!("{} belongs to another user", dir.display()));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{} is open to other users (mode {:o}); it must be 0700",
            dir.display(),
            meta.permissions().mode() & 0o777
        ));
    }
    Ok(())
}
