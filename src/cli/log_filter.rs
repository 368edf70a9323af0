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
        let mut message = Message::of("message");
        event.record(&mut message);
        !NORMAL
            .iter()
            .any(|&(t, m)| t == target && message.text == m)
    }
}

/// Drops rmcp's debug event of each `tools/call` request it receives: it quotes the call's
/// arguments whole, values under `x-compozy-sensitive: true` included. compozy logs each call
/// itself, with those values redacted (`compozy::runtime::server`). On at every verbosity.
pub struct SensitiveEvents;

impl<S: Subscriber> Layer<S> for SensitiveEvents {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        if !event.metadata().target().starts_with("rmcp") {
            return true;
        }
        let mut request = Message::of("request");
        event.record(&mut request);
        !request.text.contains("CallToolRequest")
    }
}

/// An event's field of one name (`message`, `request`), as text.
struct Message {
    name: &'static str,
    text: String,
}

impl Message {
    fn of(name: &'static str) -> Self {
        Self {
            name,
            text: String::new(),
        }
    }
}

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == self.name {
            self.text = format!("{value:?}");
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == self.name {
            value.clone_into(&mut self.text);
        }
    }
}
