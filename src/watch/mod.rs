//! Stage 5: watching a project's directories and reporting batches of relevant changes.
//!
//! Directories are watched one by one (not recursively), so that `node_modules`, `.git`,
//! `.compozy` and git-ignored directories never cost a watch; editors' atomic saves (write a
//! temp file, rename it over the original) show up as changes in the watched directory.

mod error;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, new_debouncer};

pub use error::WatchError;

use crate::config::SKIPPED_DIRS;

/// How long the file system must be quiet before a batch of changes is reported.
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// A change batch or a watcher problem.
pub enum Change {
    /// Paths that changed (files, or directories whose listing changed).
    Paths(Vec<PathBuf>),
    /// A problem the watcher reported (the watch goes on).
    Error(WatchError),
}

/// Watches the project under `root`.
pub struct ProjectWatcher {
    root: PathBuf,
    ignore: ignore::gitignore::Gitignore,
    debouncer: notify_debouncer_full::Debouncer<
        notify::RecommendedWatcher,
        notify_debouncer_full::RecommendedCache,
    >,
    watched: BTreeSet<PathBuf>,
    events: mpsc::Receiver<DebounceEventResult>,
}

fn skipped_name(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| SKIPPED_DIRS.contains(&n))
}

impl ProjectWatcher {
    /// Starts watching every relevant directory under `root`.
    pub fn new(root: &Path) -> Result<Self, WatchError> {
        let (tx, events) = mpsc::channel();
        let debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
            let _ = tx.send(result);
        })
        .map_err(|e| WatchError::from_notify(&e, root))?;
        let (ignore, _) = ignore::gitignore::Gitignore::new(root.join(".gitignore"));
        let mut watcher = Self {
            root: root.to_path_buf(),
            ignore,
            debouncer,
            watched: BTreeSet::new(),
            events,
        };
        watcher.watch_tree(root)?;
        Ok(watcher)
    }

    /// True for paths compozy never reacts to.
    fn ignored(&self, path: &Path) -> bool {
        let Ok(rel) = path.strip_prefix(&self.root) else {
            return true;
        };
        // Written by the regeneration itself: reacting to it would regenerate twice. A hand edit
        // of the lock is read by the next regeneration.
        if rel == Path::new(crate::generate::lock::LOCK_FILE) {
            return true;
        }
        rel.ancestors()
            .any(|a| !a.as_os_str().is_empty() && skipped_name(a))
            || self
                .ignore
                .matched_path_or_any_parents(path, path.is_dir())
                .is_ignore()
    }

    fn watch_tree(&mut self, dir: &Path) -> Result<(), WatchError> {
        let walker = ignore::WalkBuilder::new(dir)
            .hidden(false)
            .parents(true)
            .filter_entry(|e| !skipped_name(e.path()))
            .build();
        for entry in walker.flatten() {
            if entry.file_type().is_some_and(|t| t.is_dir()) {
                let path = entry.into_path();
                if self.watched.contains(&path) || self.ignored(&path) && path != self.root {
                    continue;
                }
                self.debouncer
                    .watch(&path, RecursiveMode::NonRecursive)
                    .map_err(|e| WatchError::from_notify(&e, &path))?;
                self.watched.insert(path);
            }
        }
        Ok(())
    }

    /// The project root being watched.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directories being watched (for tests and `-v`).
    pub fn watched(&self) -> impl Iterator<Item = &Path> {
        self.watched.iter().map(PathBuf::as_path)
    }

    /// Blocks until the next batch of relevant changes (or a problem); `None` when the watcher
    /// stopped.
    pub fn next_change(&mut self) -> Option<Change> {
        loop {
            let batch = match self.events.recv().ok()? {
                Ok(batch) => batch,
                Err(errors) => {
                    let error = errors.first()?;
                    return Some(Change::Error(WatchError::from_notify(error, &self.root)));
                }
            };
            let mut paths = BTreeSet::new();
            for event in batch {
                // Reads (compozy's own included) are not changes.
                if matches!(
                    event.kind,
                    notify::EventKind::Access(_) | notify::EventKind::Other
                ) {
                    continue;
                }
                for path in &event.paths {
                    if self.ignored(path) {
                        continue;
                    }
                    // A new directory (or one moved in) must be watched too.
                    if path.is_dir()
                        && !self.watched.contains(path)
                        && let Err(e) = self.watch_tree(path)
                    {
                        return Some(Change::Error(e));
                    }
                    if !path.exists() && self.watched.remove(path) {
                        let _ = self.debouncer.unwatch(path);
                    }
                    paths.insert(path.clone());
                }
            }
            if !paths.is_empty() {
                return Some(Change::Paths(paths.into_iter().collect()));
            }
        }
    }
}
