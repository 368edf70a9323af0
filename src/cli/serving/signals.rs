//! How a serving process ends on SIGINT/SIGTERM.

use crate::exit::ExitCode;
use crate::runtime::Pool;

/// Stops every worker and exits on SIGINT/SIGTERM.
pub(in crate::cli) fn exit_on_signal(pool: Pool) {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        match signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) {
            Ok(mut signals) => {
                std::thread::spawn(move || {
                    if signals.forever().next().is_some() {
                        crate::warm::listener::remove_socket();
                        pool.kill_all();
                        std::process::exit(i32::from(ExitCode::Interrupted.code()));
                    }
                });
            }
            Err(e) => tracing::warn!("cannot handle SIGINT/SIGTERM: {e}"),
        }
    }
}

/// Ctrl-C ends a plain watch with exit 0: it is how a watch is meant to end.
pub(in crate::cli) fn exit_cleanly_on_signal() {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) {
            std::thread::spawn(move || {
                if signals.forever().next().is_some() {
                    std::process::exit(0);
                }
            });
        }
    }
}
