//! What a YAML syntax error most likely comes from, for the errors whose parser message points
//! elsewhere: a tab in the indentation, or a `[`/`{` that was never closed (the parser notices
//! either only a line or more later).
//!
//! A light reading of YAML's lexical structure (quotes, comments, block scalars, flow brackets),
//! run only after the real parser has failed: it never decides what is valid, it only finds
//! the place to point at.

/// What the reading found before the parser's error.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Hints {
    /// Byte offset of the first tab in the indentation of a line (outside quoted and block
    /// scalars and flow collections).
    pub tab: Option<usize>,
    /// Byte offsets and characters of the `[` and `{` still open where the error is, outermost
    /// first.
    pub open: Vec<(usize, char)>,
}

/// Reads `text` up to `error` (brackets), and for tabs to the end of the line after it (a
/// parser can stop at the end of the line before the tab).
pub fn scan(text: &str, error: usize) -> Hints {
    let error = error.min(text.len());
    let end_of_line = |from: usize| text[from..].find('\n').map_or(text.len(), |i| from + i);
    let stop = end_of_line((end_of_line(error) + 1).min(text.len()));
    let mut hints = Hints::default();
    let mut quote: Option<char> = None;
    // Indentation of the line that opened a block scalar (`|`, `>`): deeper lines are its text.
    let mut block_scalar: Option<usize> = None;
    let mut start = 0;
    while start < stop {
        let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line = &text[start..end];
        let content = line.trim_start_matches([' ', '\t']);
        let indent = line.len() - content.len();
        if let Some(outer) = block_scalar {
            if content.is_empty() || indent > outer {
                start = end + 1;
                continue;
            }
            block_scalar = None;
        }
        let in_flow = !hints.open.is_empty();
        if quote.is_none()
            && !in_flow
            && !content.is_empty()
            && !content.starts_with('#')
            && hints.tab.is_none()
            && let Some(tab) = line[..indent].find('\t')
        {
            hints.tab = Some(start + tab);
        }
        let mut last = None::<char>; // the last character before this one, on this line
        let mut last_solid = None::<char>; // the last non-blank one
        let mut chars = line.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let at = start + i;
            if at >= error {
                break;
            }
            match quote {
                Some('\'') if c == '\'' => {
                    if chars.peek().is_some_and(|&(_, n)| n == '\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
                Some('"') if c == '\\' => {
                    chars.next();
                }
                Some('"') if c == '"' => quote = None,
                Some(_) => {}
                None => {
                    let token_start = last.is_none_or(char::is_whitespace)
                        || (!hints.open.is_empty() && last.is_some_and(|l| "[{,:".contains(l)));
                    match c {
                        '#' if last.is_none_or(char::is_whitespace) => break,
                        '"' | '\'' if token_start => quote = Some(c),
                        '[' | '{' if !hints.open.is_empty() => hints.open.push((at, c)),
                        '[' | '{'
                            if last.is_none_or(char::is_whitespace)
                                && last_solid.is_none_or(|s| ":-?".contains(s)) =>
                        {
                            hints.open.push((at, c));
                        }
                        ']' | '}' if !hints.open.is_empty() => {
                            hints.open.pop();
                        }
                        _ => {}
                    }
                }
            }
            last = Some(c);
            if !c.is_whitespace() {
                last_solid = Some(c);
            }
        }
        if quote.is_none() && hints.open.is_empty() && opens_block_scalar(content) {
            block_scalar = Some(indent);
        }
        start = end + 1;
    }
    hints
}

/// Whether a line ends with a block scalar's header (`key: |`, `- >-`, `|2+`).
fn opens_block_scalar(content: &str) -> bool {
    let code = content.split(" #").next().unwrap_or_default().trim_end();
    let (before, header) = code.rsplit_once([' ', '\t']).unwrap_or(("", code));
    let mut chars = header.chars();
    matches!(chars.next(), Some('|' | '>'))
        && chars.all(|c| c.is_ascii_digit() || c == '+' || c == '-')
        && (before.trim_end().is_empty() || before.trim_end().ends_with([':', '-']))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, line: usize, column: usize) -> usize {
        miette::SourceOffset::from_location(text, line, column).offset()
    }

    #[test]
    fn finds_the_tab_that_indents_a_line() {
        let text = "tools:\n  - id: a\n\texecute: ./a.ts\n";
        let hints = scan(text, at(text, 2, 9));
        assert_eq!(hints.tab, Some(at(text, 3, 1)));
        // A tab inside a value, a comment or a block scalar indents nothing.
        let text = "a: \"x\ty\"\n# \tnote\nb: |\n  \tcode\nc: [\n\t1]\nd: e f\n";
        assert_eq!(scan(text, text.len()).tab, None);
    }

    #[test]
    fn finds_the_bracket_never_closed() {
        let text = "tools:\n  - id: a\n  - id: [unclosed\n    execute: ./b.ts\n";
        let hints = scan(text, at(text, 4, 12));
        assert_eq!(hints.open, [(at(text, 3, 9), '[')]);
        // Closed ones, quoted ones, commented ones and brackets inside plain text are not.
        let text = "a: [1, [2]]\nb: \"[\"\nc: '[''x'\nd: x [y\ne: {k: [v]} # [\nf: |\n  [\ng: [\n";
        let hints = scan(text, text.len());
        assert_eq!(hints.open, [(at(text, 8, 4), '[')]);
    }
}
