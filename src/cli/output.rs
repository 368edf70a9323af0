//! Where and how the CLI prints: diagnostics on stderr (miette or JSON), results on stdout.

use std::io::{IsTerminal, Write};

use super::args::{ColorChoice, GlobalArgs};
use crate::diagnostic::{Problem, Severity};

/// Printing settings derived from the global flags.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Color on stderr.
    pub color: bool,
    /// -q count.
    pub quiet: u8,
    /// -v count.
    pub verbose: u8,
    /// stderr is a terminal: a person is watching, not a hook or a pipe.
    pub terminal: bool,
}

impl Output {
    /// From the global flags and the environment.
    pub fn new(global: &GlobalArgs) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let terminal = std::io::stderr().is_terminal();
        let color = match global.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => !no_color && terminal,
        };
        Self {
            color,
            quiet: global.quiet,
            verbose: global.verbose,
            terminal,
        }
    }

    /// Prints problems to stderr (warnings are hidden by -q).
    pub fn problems<'a>(&self, problems: impl IntoIterator<Item = &'a Problem>) {
        let mut stderr = std::io::stderr().lock();
        for problem in problems {
            if problem.severity() == Severity::Warning && self.quiet > 0 {
                continue;
            }
            let _ = write!(stderr, "{}", problem.render(self.color));
        }
    }

    /// A progress line on stderr, shown unless -q.
    pub fn status(&self, line: &str) {
        if self.quiet == 0 {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    }

    /// A closing line on stderr for a person at a terminal; piped (pre-commit, CI, scripts) or
    /// under -q, nothing.
    pub fn summary(&self, line: &str) {
        if self.terminal && self.quiet == 0 {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    }

    /// A detail line on stderr, shown with -v.
    pub fn detail(&self, line: &str) {
        if self.verbose > 0 {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    }
}

/// `word` as one shell word: as it is when that is safe, else in single quotes.
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./+:@%,=".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Prints a JSON document on stdout.
pub fn print_json(value: &impl serde::Serialize) {
    let mut stdout = std::io::stdout().lock();
    if serde_json::to_writer_pretty(&mut stdout, value).is_ok() {
        let _ = writeln!(stdout);
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("examples/weather"), "examples/weather");
        assert_eq!(shell_word("my project"), "'my project'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
