//! Parsing one module with swc.

use std::cell::Cell;
use std::path::Path;

use swc_common::{BytePos, Spanned};
use swc_ecma_ast::{Module, Program};
use swc_ecma_parser::{EsSyntax, Parser, StringInput, Syntax, TsSyntax};

/// A syntax error with its byte range in the source.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    /// What swc says.
    pub message: String,
    /// Byte offset where it starts.
    pub start: usize,
    /// Byte length.
    pub len: usize,
}

/// swc positions start at 1 (0 is the "dummy" position); offsets below subtract this.
pub const BASE: u32 = 1;

fn syntax_for(path: &Path) -> Syntax {
    match path.extension().and_then(|e| e.to_str()) {
        Some("ts" | "mts" | "cts") => Syntax::Typescript(TsSyntax {
            decorators: true,
            ..Default::default()
        }),
        Some("tsx") => Syntax::Typescript(TsSyntax {
            tsx: true,
            decorators: true,
            ..Default::default()
        }),
        _ => Syntax::Es(EsSyntax {
            jsx: true,
            decorators: true,
            import_attributes: true,
            explicit_resource_management: true,
            ..Default::default()
        }),
    }
}

/// True for modules that Node and Bun load as CommonJS by extension.
pub fn is_commonjs(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("cjs" | "cts")
    )
}

thread_local! {
    static PARSING: Cell<bool> = const { Cell::new(false) };
}

/// True while swc parses on this thread. swc panics on some invalid input (`<a:b.c />`: a JSX
/// namespace name with a member) instead of returning an error; [`parse`] turns such a panic into
/// a syntax error, and the panic hook stays quiet for it.
pub fn in_parser() -> bool {
    PARSING.with(Cell::get)
}

/// Parses `src` as an ES module (or as a CommonJS script for `.cjs`/`.cts`), failing on the
/// first error, recovered ones included, as the runtimes would.
pub fn parse(path: &Path, src: &str) -> Result<Module, SyntaxError> {
    PARSING.with(|p| p.set(true));
    let result = std::panic::catch_unwind(|| parse_with_swc(path, src));
    PARSING.with(|p| p.set(false));
    result.unwrap_or_else(|payload| {
        let reason = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(SyntaxError {
            message: format!("the parser gave up on this module ({reason})"),
            start: 0,
            len: 0,
        })
    })
}

fn parse_with_swc(path: &Path, src: &str) -> Result<Module, SyntaxError> {
    let len = u32::try_from(src.len()).map_err(|_| SyntaxError {
        message: "file is too large to analyse (over 4 GiB)".into(),
        start: 0,
        len: 0,
    })?;
    let input = StringInput::new(src, BytePos(BASE), BytePos(BASE + len));
    let mut parser = Parser::new(syntax_for(path), input, None);
    let result = if is_commonjs(path) {
        parser.parse_program().map(|program| match program {
            Program::Module(m) => m,
            Program::Script(s) => Module {
                span: s.span,
                body: s.body.into_iter().map(Into::into).collect(),
                shebang: s.shebang,
            },
        })
    } else {
        parser.parse_module()
    };
    let to_error = |e: swc_ecma_parser::error::Error| {
        let span = e.span();
        let start = span.lo.0.saturating_sub(BASE) as usize;
        let end = span.hi.0.saturating_sub(BASE) as usize;
        SyntaxError {
            message: e.kind().msg().into_owned(),
            start,
            len: end.saturating_sub(start),
        }
    };
    let module = result.map_err(to_error)?;
    if let Some(first) = parser.take_errors().into_iter().next() {
        return Err(to_error(first));
    }
    Ok(module)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// swc panics on a JSX namespace name with a member; that is a syntax error, not a crash.
    #[test]
    fn a_parser_panic_is_a_syntax_error() {
        for name in ["tool.js", "tool.cjs", "tool.jsx"] {
            let error = parse(Path::new(name), "export const x = <a:b.c />;\n").unwrap_err();
            assert!(
                error.message.contains("gave up"),
                "{name}: {}",
                error.message
            );
            assert!(!in_parser());
        }
    }
}
