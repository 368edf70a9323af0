use compozy::cli::{self, Args};

fn main() -> std::process::ExitCode {
    return_large_blocks();
    let args = Args::parse_or_exit();
    cli::run(args).into()
}

/// Makes a freed large block (a big result, its buffers) go back to the system at once. glibc
/// otherwise raises its mmap threshold to the size of the first large block freed and keeps the
/// later ones in its heap: `serve` and `mcp` held 5-10 MiB more after each burst of 5 MiB results.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_blocks() {
    // SAFETY: mallopt sets a tunable of the allocator; it is called before any other thread
    // exists and before anything is allocated that it could concern.
    unsafe {
        nix::libc::mallopt(nix::libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_blocks() {}
