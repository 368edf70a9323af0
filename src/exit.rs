//! Process exit codes: the one place they are defined (README § "Exit codes" mirrors this).

/// What a compozy invocation ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Success.
    Ok = 0,
    /// The tool failed or a rate limit refused the call, `gen --check` found stale output, or
    /// `migrate --check` found something to migrate.
    Failure = 1,
    /// Usage, configuration or generation error.
    Error = 2,
    /// The tool did not finish within its deadline.
    Timeout = 124,
    /// Interrupted by SIGINT or SIGTERM (128 + SIGINT, as shells report it), also while `exec`
    /// waited for a place under a concurrency cap.
    Interrupted = 130,
    /// The runtime (bun or node) was not found or is too old.
    RuntimeNotFound = 127,
}

impl ExitCode {
    /// The numeric code handed to the operating system.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<ExitCode> for u8 {
    fn from(code: ExitCode) -> Self {
        code.code()
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}
