//! Seeing and cleaning up the processes a test's compozy started, through `/proc`.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::alive;

/// The pids whose parent is `parent`, from `/proc/*/stat`.
pub fn children_of(parent: u32) -> Vec<i64> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc") {
        let entry = entry.expect("a /proc entry");
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        // A process that ended since the listing has no stat left to read.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            children.push(pid);
        }
    }
    children.sort_unstable();
    children
}

/// Waits up to 20 s for `parent` to have `count` children, and returns them.
#[track_caller]
pub fn wait_for_children(parent: u32, count: usize) -> Vec<i64> {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let children: Vec<i64> = children_of(parent)
            .into_iter()
            .filter(|&pid| alive(pid))
            .collect();
        if children.len() >= count {
            return children;
        }
        assert!(
            Instant::now() < until,
            "{parent} has {} running children, expected {count}",
            children.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The whitespace-separated pids a tool wrote to `file`, waiting up to 20 s for `count` of them.
#[track_caller]
pub fn pids_from(file: &Path, count: usize) -> Vec<i64> {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let pids: Vec<i64> = text
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if pids.len() >= count && text.ends_with('\n') {
            return pids;
        }
        assert!(
            Instant::now() < until,
            "the tool did not write {count} pids to {}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Asserts that every pid in `pids` is gone within 3 s; a survivor is killed (so that a failing
/// test leaves nothing behind) and named in the failure.
#[track_caller]
pub fn assert_all_gone(pids: &[i64], what: &str) {
    let until = Instant::now() + Duration::from_secs(3);
    while pids.iter().any(|&pid| alive(pid)) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    let survivors: Vec<i64> = pids.iter().copied().filter(|&pid| alive(pid)).collect();
    for &pid in &survivors {
        kill9(pid);
    }
    assert!(survivors.is_empty(), "{survivors:?} survived {what}");
}

/// Asserts that every pid in `pids` is running.
#[track_caller]
pub fn assert_all_alive(pids: &[i64], what: &str) {
    for &pid in pids {
        assert!(alive(pid), "{what}: {pid} is not running");
    }
}

/// Ends `child` (a compozy) if it is still running: SIGTERM, which makes it stop its workers'
/// process groups, then SIGKILL after 5 s.
pub fn stop(child: &mut std::process::Child) {
    if let Ok(None) = child.try_wait()
        && let Ok(pid) = i32::try_from(child.id())
    {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
        let until = Instant::now() + Duration::from_secs(5);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// When a process started, in clock ticks since boot (`/proc/PID/stat` field 22): with the pid,
/// it names one process, even after the pid is reused.
fn start_time(pid: i64) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` starts at field 3 (state).
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Kills, when dropped, the processes it was given that still run: a test that fails before its
/// own checks leaves none of them behind.
pub struct Reaper(Vec<(i64, Option<u64>)>);

impl Reaper {
    /// Watches over `pids` (as they are now).
    pub fn new(pids: &[i64]) -> Self {
        Self(pids.iter().map(|&pid| (pid, start_time(pid))).collect())
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        for &(pid, started) in &self.0 {
            if started.is_some() && start_time(pid) == started {
                kill9(pid);
            }
        }
    }
}

/// SIGKILL to `pid`, whatever became of it.
fn kill9(pid: i64) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
