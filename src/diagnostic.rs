//! User-facing problems shared by every stage: what is wrong, where, and how to fix it.
//!
//! Each stage defines its own `thiserror` enum for *what* went wrong and implements [`Explain`]
//! for it; [`Problem`] adds *where* (a code frame) and renders through miette, or as JSON.

use std::fmt;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceSpan};
use serde::Serialize;

use crate::source::SourceFile;

/// A stage error that knows its stable code and how to fix itself.
pub trait Explain: std::error::Error + Send + Sync + 'static {
    /// A stable, machine-readable code such as `config::duplicate-id`.
    fn code(&self) -> &'static str;
    /// One line telling the user how to fix it.
    fn help(&self) -> Option<String> {
        None
    }
}

/// How serious a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Stops the command.
    Error,
    /// Reported; the command goes on.
    Warning,
    /// Extra context attached to another problem.
    Note,
}

/// A related location's explanation ("first declared here").
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Note(pub String);

impl Explain for Note {
    fn code(&self) -> &'static str {
        "note"
    }
}

/// Where a problem is: a span in a source file, with a label.
#[derive(Debug)]
struct At {
    src: miette::NamedSource<std::sync::Arc<String>>,
    file: String,
    line: usize,
    column: usize,
    span: SourceSpan,
    label: String,
}

/// One diagnostic, possibly with related locations (e.g. the module and the YAML entry).
#[derive(Debug)]
pub struct Problem {
    error: Box<dyn Explain>,
    severity: Severity,
    at: Option<Box<At>>,
    related: Vec<Problem>,
    witness: Option<Box<serde_json::Value>>,
}

impl Problem {
    /// A problem with no location.
    pub fn new(error: impl Explain) -> Self {
        Self {
            error: Box::new(error),
            severity: Severity::Error,
            at: None,
            related: Vec::new(),
            witness: None,
        }
    }

    /// Turns the problem into a warning.
    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    /// Points at a 1-based line and column of a file.
    pub fn at_line(self, file: &SourceFile, line: usize, column: usize, label: &str) -> Self {
        let span = file.span_at(line, column);
        self.at_span(file, span, label)
    }

    /// Points at a byte span of a file.
    pub fn at_span(mut self, file: &SourceFile, span: SourceSpan, label: &str) -> Self {
        let (line, column) = file.line_col(span.offset());
        self.at = Some(Box::new(At {
            src: file.named(),
            file: file.name.clone(),
            line,
            column,
            span,
            label: label.to_owned(),
        }));
        self
    }

    /// A note pointing at a related place, to attach with [`Problem::with_related`].
    pub fn note(message: impl Into<String>) -> Self {
        let mut note = Self::new(Note(message.into()));
        note.severity = Severity::Note;
        note
    }

    /// Adds a related location shown under the main one.
    pub fn with_related(mut self, related: Problem) -> Self {
        self.related.push(related);
        self
    }

    /// Attaches a value that shows the problem (a breaking change's witness), for JSON output.
    pub fn with_witness(mut self, witness: serde_json::Value) -> Self {
        self.witness = Some(Box::new(witness));
        self
    }

    /// The stable code of what went wrong (`config::missing-execute`).
    pub fn code(&self) -> &'static str {
        self.error.code()
    }

    /// `file:line:column: message`, for one-line contexts.
    pub fn headline(&self) -> String {
        match &self.at {
            Some(at) => format!("{}:{}:{}: {}", at.file, at.line, at.column, self.error),
            None => self.error.to_string(),
        }
    }

    /// The file it is in (as shown: root-relative), when it has a place.
    pub fn file(&self) -> Option<&str> {
        self.at.as_ref().map(|a| a.file.as_str())
    }

    /// The severity.
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// The machine-readable form used by `--format json`.
    pub fn to_json(&self) -> JsonProblem {
        JsonProblem {
            severity: self.severity,
            code: self.error.code(),
            message: self.error.to_string(),
            help: self.error.help(),
            file: self.at.as_ref().map(|a| a.file.clone()),
            line: self.at.as_ref().map(|a| a.line),
            column: self.at.as_ref().map(|a| a.column),
            label: self.at.as_ref().map(|a| a.label.clone()),
            related: self.related.iter().map(Problem::to_json).collect(),
            witness: self.witness.as_deref().cloned(),
        }
    }

    /// Renders the problem for a terminal.
    pub fn render(&self, color: bool) -> String {
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let mut out = String::new();
        let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
        if handler.render_report(&mut out, self).is_err() {
            out = format!("{}: {}", self.error.code(), self.error);
        }
        out
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The code frame shows the location; `headline` has the one-line form.
        write!(f, "{}", self.error)
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        (self.severity != Severity::Note)
            .then(|| Box::new(self.error.code()) as Box<dyn fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Note => miette::Severity::Advice,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.error
            .help()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.at.as_ref().map(|a| &a.src as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.at.as_ref().map(|a| {
            Box::new(std::iter::once(LabeledSpan::new_primary_with_span(
                Some(a.label.clone()),
                a.span,
            ))) as Box<dyn Iterator<Item = LabeledSpan>>
        })
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|r| r as &dyn Diagnostic)))
    }
}

/// A problem as JSON.
#[derive(Debug, Serialize)]
pub struct JsonProblem {
    severity: Severity,
    code: &'static str,
    message: String,
    help: Option<String>,
    file: Option<String>,
    line: Option<usize>,
    column: Option<usize>,
    label: Option<String>,
    related: Vec<JsonProblem>,
    /// A breaking change's witness: the value the old interface took and the new one refuses.
    #[serde(skip_serializing_if = "Option::is_none")]
    witness: Option<serde_json::Value>,
}

/// Every problem a run found, in a stable order.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// Adds one problem.
    pub fn push(&mut self, problem: Problem) {
        self.0.push(problem);
    }

    /// True when at least one problem is an error (not a warning).
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|p| p.severity == Severity::Error)
    }
}

impl From<Problem> for Problems {
    fn from(problem: Problem) -> Self {
        Self(vec![problem])
    }
}

impl From<Vec<Problem>> for Problems {
    fn from(problems: Vec<Problem>) -> Self {
        Self(problems)
    }
}
