//! Log events that report a normal event as an error, left out of compozy's stderr.

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// rmcp's messages that are no error for compozy: a client that closes an HTTP call (the
/// documented way to cancel it) leaves rmcp an answer it cannot send, which it reports as an
/// `ERROR`. Shown again from `-vv` (or with `RUST_LOG`).
const NORMAL: &[(&str, &str)] = &[(
    "rmcp::service",
    "failed to send pending response during drain",
)];

/// Drops the events of [`NORMAL`].
pub struct NormalEvents;

impl<S: Subscriber> Layer<S> for NormalEvents {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        let target = event.metadata().target();
        if !NORMAL.iter().any(|(t, _)| *t == target) {
            return true;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        !NORMAL.iter().any(|&(t, m)| t == target && message.0 == m)
    }
}

/// An event's `message` field.
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            value.clone_into(&mut self.0);
        }
    }
}
