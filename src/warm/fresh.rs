//! Whether the project's files are still those of the fingerprint a server found fresh, without
//! a `stat` of every file on every call: inotify watches on every directory that holds a recorded
//! path (and on the directories between it and the root). The kernel queues an event within the
//! system call that changes a file, so an edit that ended before `exec` asked has its event
//! waiting when the server looks; no event since the last full check vouches for it. Any event
//! (or overflow) means a full check, with the watches set up again first.
//!
//! Only where that holds: on a local file system (a network one changes under other machines'
//! hands, an overlay under its lower layer's), and for files that are neither symlinks nor hard
//! links (their other names change them without an event here). Otherwise every call is checked
//! in full, as [`crate::fresh_digest`] does.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// The freshness of one project's files, as a server tracks it.
pub struct Freshness {
    root: PathBuf,
    /// The watches, and the digest of the fingerprint found fresh once they were set up.
    vouched: Option<(Inotify, u64)>,
}

impl Freshness {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            vouched: None,
        }
    }

    /// The [`crate::fresh_digest`] of the project's files now.
    pub fn digest(&mut self) -> Option<u64> {
        if let Some((watch, digest)) = &self.vouched
            && quiet(watch)
        {
            return Some(*digest);
        }
        self.vouched = None;
        // Watches first, then the check: a change after the check leaves an event.
        let (paths, recorded) = crate::generate::fingerprint_paths(&self.root)?;
        let watch = self.watch(&paths);
        let digest = crate::fresh_digest(&self.root)?;
        if let Some(watch) = watch
            && digest == recorded
        {
            self.vouched = Some((watch, digest));
        }
        Some(digest)
    }

    /// Watches on the directories of `paths`; `None` where events cannot vouch for them.
    fn watch(&self, paths: &[String]) -> Option<Inotify> {
        if !local(&self.root) {
            return None;
        }
        let mut dirs = BTreeSet::new();
        dirs.insert(PathBuf::from("."));
        for rel in paths {
            let path = self.root.join(rel);
            let meta = std::fs::symlink_metadata(&path).ok()?;
            if meta.file_type().is_symlink()
                || (!meta.is_dir() && std::os::unix::fs::MetadataExt::nlink(&meta) > 1)
            {
                return None;
            }
            if meta.is_dir() {
                dirs.insert(PathBuf::from(rel));
            }
            let mut dir = Path::new(rel).parent();
            while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
                dirs.insert(d.to_path_buf());
                dir = d.parent();
            }
        }
        let watch = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok()?;
        let mask = AddWatchFlags::IN_MODIFY
            | AddWatchFlags::IN_ATTRIB
            | AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF
            | AddWatchFlags::IN_ONLYDIR;
        for dir in &dirs {
            watch.add_watch(&self.root.join(dir), mask).ok()?;
        }
        Some(watch)
    }
}

/// No event waits (nor could be read).
fn quiet(watch: &Inotify) -> bool {
    matches!(watch.read_events(), Err(nix::errno::Errno::EAGAIN))
}

/// A local file system whose every change passes through this kernel.
fn local(root: &Path) -> bool {
    use nix::sys::statfs::{
        BTRFS_SUPER_MAGIC, EXT4_SUPER_MAGIC, TMPFS_MAGIC, XFS_SUPER_MAGIC, statfs,
    };
    statfs(root).is_ok_and(|fs| {
        let kind = fs.filesystem_type();
        // ZFS and F2FS have no constant in nix.
        [
            EXT4_SUPER_MAGIC,
            XFS_SUPER_MAGIC,
            BTRFS_SUPER_MAGIC,
            TMPFS_MAGIC,
        ]
        .contains(&kind)
            || [0x2fc1_2fc1, 0xf2f5_2010].contains(&fs.filesystem_type().0)
    })
}
