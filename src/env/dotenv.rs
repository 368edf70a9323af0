//! `.env` loading that reproduces Bun 1.4.5, quirks included.
//!
//! A script started by `bun` sees the variables Bun loaded from `.env` files,
//! so anything that prepares or mirrors that environment (for example to run
//! the same script on Node) must load them the same way. Every rule below was
//! pinned down against the real `bun` binary (`tests/it/dotenv.rs` keeps
//! checking it) rather than taken from other dotenv parsers, which disagree
//! with Bun in many corners:
//!
//! - A line is `[export<ws>]KEY<ws>=VALUE` or `KEY<ws>: VALUE` (one whitespace
//!   character after the colon); KEY is `[A-Za-z0-9_.-]+` and `<ws>` may
//!   include newlines. Anything else is skipped up to the next CR or LF.
//! - Whitespace is ASCII only (space, tab, VT, FF, CR, LF); a UTF-8 BOM is
//!   ignored only at the very start of a file.
//! - A value opening with `"`, `'` or `` ` `` (after any whitespace, newlines
//!   included) ends at the first matching quote not preceded by a backslash,
//!   across lines if need be; the rest of the closing line is ignored. With no
//!   closing quote anywhere, the value is read as unquoted.
//! - Unquoted values end at `#`, CR or LF and are trimmed.
//! - Inside quotes CRLF and lone CR become LF; double quotes also decode `\n`
//!   and `\r`, and every other backslash stays as written.
//! - After the whole file is read, every new value (single-quoted too) is
//!   expanded once, in order of first appearance: `$NAME`, `${NAME}`,
//!   `${NAME:-default}` (nested, used only when NAME is unset), `\$` for `$`.
//! - Files go from highest to lowest priority; a variable that is already set,
//!   by the process (even to "") or by an earlier file, is never overridden.
//!   Within one file the last definition wins.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// Which mode Bun picks its files for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Neither production nor test: the default.
    Development,
    /// `BUN_ENV` (or else `NODE_ENV`) is exactly `production`.
    Production,
    /// `BUN_ENV` (or else `NODE_ENV`) is exactly `test`.
    Test,
}

impl Mode {
    /// From BUN_ENV over NODE_ENV, as Bun does ("production" / "test"; anything else, or unset, is development).
    pub fn from_env(bun_env: Option<&str>, node_env: Option<&str>) -> Mode {
        // A set but empty BUN_ENV still hides NODE_ENV, exactly as in Bun.
        match bun_env.or(node_env) {
            Some("production") => Mode::Production,
            Some("test") => Mode::Test,
            _ => Mode::Development,
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Mode::Development => "development",
            Mode::Production => "production",
            Mode::Test => "test",
        }
    }
}

/// The default files in Bun's priority, highest first: .env.{mode}.local, .env.local (not in test mode), .env.{mode}, .env
pub fn default_files(mode: Mode) -> Vec<String> {
    let suffix = mode.suffix();
    let mut files = vec![format!(".env.{suffix}.local")];
    if mode != Mode::Test {
        files.push(".env.local".to_owned());
    }
    files.push(format!(".env.{suffix}"));
    files.push(".env".to_owned());
    files
}

/// Parse one file's text into the (name, value) pairs it adds, first appearance first; names `lookup` knows are skipped.
pub fn parse(src: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    // Bun never overrides a variable it already has, and `$NAME` finds that
    // value before the file's own definition, so known names cannot be added.
    let known = |name: &str| lookup(name).map(String::into_bytes);
    parse_bytes(src.as_bytes(), &known)
        .into_iter()
        .map(|(name, value)| (name, lossy(value)))
        .collect()
}

/// Load `files` (highest priority first, missing ones skipped) over `process_env` as Bun does; each file variable with its file index.
pub fn load(
    files: &[PathBuf],
    process_env: &BTreeMap<String, String>,
) -> std::io::Result<BTreeMap<String, (String, usize)>> {
    // Bun reads the files in priority order without overriding, so each file
    // expands against the process, the files before it and itself. Values stay
    // bytes until the end because Bun stores bytes: a truncated UTF-8 sequence
    // in one file can still combine with bytes expanded after it.
    let mut loaded: BTreeMap<String, (Vec<u8>, usize)> = BTreeMap::new();
    for (index, path) in files.iter().enumerate() {
        let Some(bytes) = read_env_file(path)? else {
            continue;
        };
        let known = |name: &str| {
            process_env
                .get(name)
                .map(|value| value.as_bytes().to_vec())
                .or_else(|| loaded.get(name).map(|(value, _)| value.clone()))
        };
        let added = parse_bytes(&bytes, &known);
        for (name, value) in added {
            loaded.insert(name, (value, index));
        }
    }
    Ok(loaded
        .into_iter()
        .map(|(name, (value, index))| (name, (lossy(value), index)))
        .collect())
}

/// Reads a file as Bun does: `None` when it is missing or not a regular file.
///
/// Other errors are returned: Bun prints them and goes on, but silently running
/// with part of the environment missing is worse for a caller.
fn read_env_file(path: &std::path::Path) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::ErrorKind;
    let skipped = |err: &std::io::Error| {
        matches!(
            err.kind(),
            ErrorKind::NotFound | ErrorKind::NotADirectory | ErrorKind::IsADirectory
        )
    };
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return Ok(None),
        Err(err) if skipped(&err) => return Ok(None),
        Err(err) => return Err(err),
    }
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if skipped(&err) => Ok(None),
        Err(err) => Err(err),
    }
}

/// Bun hands invalid UTF-8 to JavaScript as U+FFFD per maximal subpart, like this.
fn lossy(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
    }
}

type Known<'a> = dyn Fn(&str) -> Option<Vec<u8>> + 'a;

/// Parses and expands one file, leaving out names that `known` answers for.
fn parse_bytes(src: &[u8], known: &Known<'_>) -> Vec<(String, Vec<u8>)> {
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    let mut positions: HashMap<String, usize> = HashMap::new();
    for (name, value) in Parser::new(src) {
        if known(&name).is_some() {
            continue;
        }
        match positions.get(&name) {
            // A redefinition replaces the value but keeps the first position,
            // which decides the expansion order below.
            Some(&at) => {
                if let Some(entry) = entries.get_mut(at) {
                    entry.1 = value;
                }
            }
            None => {
                positions.insert(name.clone(), entries.len());
                entries.push((name, value));
            }
        }
    }
    // Expansion happens in place, in order: an entry sees the expanded values
    // of the entries before it and the raw values of those after it.
    for at in 0..entries.len() {
        let expanded = {
            let lookup = |name: &str| {
                known(name).or_else(|| {
                    positions
                        .get(name)
                        .and_then(|&i| entries.get(i))
                        .map(|(_, value)| value.clone())
                })
            };
            match entries.get(at) {
                Some((_, value)) => expand(value, &lookup, 0),
                None => continue,
            }
        };
        if let Some(entry) = entries.get_mut(at) {
            entry.1 = expanded;
        }
    }
    entries
}

/// Whitespace as Bun's parser sees it: ASCII only, newlines included.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn is_key_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.')
}

fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// Yields the raw `(name, value)` assignments of one file in order.
struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a [u8]) -> Self {
        let pos = if src.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        Parser { src, pos }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
    }

    /// Moves past the next CR or LF, or to the end.
    fn skip_line(&mut self) {
        self.pos = self
            .line_end(self.pos)
            .map_or(self.src.len(), |end| end + 1);
    }

    fn line_end(&self, from: usize) -> Option<usize> {
        let rest = self.src.get(from..)?;
        rest.iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .map(|i| from + i)
    }

    fn scan_key(&self, from: usize) -> usize {
        let len = self.src.get(from..).map_or(0, |rest| {
            rest.iter().take_while(|&&b| is_key_byte(b)).count()
        });
        from + len
    }

    /// Reads `KEY=` or `KEY: `; on failure leaves `pos` at the key's start.
    fn key(&mut self) -> Option<&'a [u8]> {
        self.skip_spaces();
        let start = self.pos;
        let end = self.scan_key(start);
        if end == start || end >= self.src.len() {
            return None;
        }
        self.pos = end;
        self.skip_spaces();
        if &self.src[start..end] == b"export" && end < self.pos {
            let inner = self.pos;
            let inner_end = self.scan_key(inner);
            if inner_end > inner && inner_end < self.src.len() {
                self.pos = inner_end;
                self.skip_spaces();
                if self.assignment() {
                    return self.src.get(inner..inner_end);
                }
            }
            // Not `export NAME=`: `export` itself may still be the name.
            self.pos = inner;
        }
        if self.assignment() {
            return self.src.get(start..end);
        }
        self.pos = start;
        None
    }

    /// Consumes `=`, or `:` with one whitespace character after it.
    fn assignment(&mut self) -> bool {
        match self.peek() {
            Some(b'=') => {
                self.pos += 1;
                true
            }
            Some(b':') if self.src.get(self.pos + 1).copied().is_some_and(is_space) => {
                self.pos += 2;
                true
            }
            _ => false,
        }
    }

    fn value(&mut self) -> Vec<u8> {
        let start = self.pos;
        self.skip_spaces();
        let Some(first) = self.peek() else {
            return Vec::new();
        };
        if matches!(first, b'"' | b'\'' | b'`')
            && let Some(value) = self.quoted(first)
        {
            return value;
        }
        // Unquoted, or a quote that never closes: read from right after the
        // `=`, so a value skipped onto the next line reads as empty.
        let end = self.src[start..]
            .iter()
            .position(|&b| matches!(b, b'#' | b'\r' | b'\n'))
            .map_or(self.src.len(), |i| start + i);
        self.pos = end;
        trim(&self.src[start..end]).to_vec()
    }

    /// Reads a value opening at `pos` with `quote`; `None` if it never closes.
    fn quoted(&mut self, quote: u8) -> Option<Vec<u8>> {
        let open = self.pos;
        let mut i = open + 1;
        let close = loop {
            match *self.src.get(i)? {
                b'\\' => i += 2,
                b if b == quote => break i,
                _ => i += 1,
            }
        };
        let body = &self.src[open + 1..close];
        let mut out = Vec::with_capacity(body.len());
        let mut j = 0;
        while let Some(&b) = body.get(j) {
            match b {
                b'\\' if quote == b'"' => {
                    match body.get(j + 1) {
                        Some(b'n') => out.push(b'\n'),
                        Some(b'r') => out.push(b'\r'),
                        Some(&other) => out.extend_from_slice(&[b'\\', other]),
                        None => out.push(b'\\'),
                    }
                    j += 2;
                }
                b'\r' => {
                    // CRLF becomes LF and a lone CR becomes LF too.
                    if body.get(j + 1) != Some(&b'\n') {
                        out.push(b'\n');
                    }
                    j += 1;
                }
                _ => {
                    out.push(b);
                    j += 1;
                }
            }
        }
        // Whatever follows the closing quote on its line is ignored.
        self.pos = self.line_end(close + 1).unwrap_or(self.src.len());
        Some(out)
    }
}

impl Iterator for Parser<'_> {
    type Item = (String, Vec<u8>);

    fn next(&mut self) -> Option<Self::Item> {
        while self.pos < self.src.len() {
            match self.key() {
                Some(key) => {
                    // Keys are ASCII by construction.
                    let name = String::from_utf8_lossy(key).into_owned();
                    let value = self.value();
                    return Some((name, value));
                }
                None => self.skip_line(),
            }
        }
        None
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    let is_blank = |b: &u8| matches!(*b, b' ' | b'\t' | 0x0b | 0x0c);
    let start = bytes
        .iter()
        .position(|b| !is_blank(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_blank(b))
        .map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

/// Bun stops expanding defaults nested deeper than this and keeps them verbatim.
const MAX_DEFAULT_DEPTH: usize = 200;

/// Expands `$NAME`, `${NAME}`, `${NAME:-default}` and `\$` in one value.
///
/// The result is not scanned again, so a looked-up value that holds `$X`
/// stays as it is. `depth` counts the defaults this value is nested in.
fn expand(value: &[u8], lookup: &dyn Fn(&str) -> Option<Vec<u8>>, depth: usize) -> Vec<u8> {
    if depth > MAX_DEFAULT_DEPTH {
        return value.to_vec();
    }
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while let Some(&b) = value.get(i) {
        let next = value.get(i + 1).copied();
        match (b, next) {
            (b'\\', Some(b'$')) => {
                out.push(b'$');
                i += 2;
            }
            (b'$', Some(b'{')) => {
                let Some(close) = closing_brace(value, i + 2) else {
                    // An unclosed `${` keeps the rest of the value verbatim.
                    out.extend_from_slice(&value[i..]);
                    break;
                };
                let inner = &value[i + 2..close];
                let name_len = inner.iter().take_while(|&&c| is_name_byte(c)).count();
                let (name, rest) = inner.split_at(name_len);
                if rest.is_empty() {
                    out.extend(resolve(name, lookup).unwrap_or_default());
                } else if let Some(default) = rest.strip_prefix(b":-") {
                    match resolve(name, lookup) {
                        Some(found) => out.extend(found),
                        None => out.extend(expand(default, lookup, depth + 1)),
                    }
                } else {
                    out.extend_from_slice(&value[i..=close]);
                }
                i = close + 1;
            }
            (b'$', Some(c)) if is_name_byte(c) => {
                let start = i + 1;
                let len = value[start..]
                    .iter()
                    .take_while(|&&c| is_name_byte(c))
                    .count();
                out.extend(resolve(&value[start..start + len], lookup).unwrap_or_default());
                i = start + len;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn resolve(name: &[u8], lookup: &dyn Fn(&str) -> Option<Vec<u8>>) -> Option<Vec<u8>> {
    if name.is_empty() {
        return None;
    }
    std::str::from_utf8(name).ok().and_then(lookup)
}

/// Finds the `}` closing a `${` whose body starts at `from`: nested `${`
/// count, a backslash hides the byte after it, and a lone `{` does not count.
fn closing_brace(value: &[u8], from: usize) -> Option<usize> {
    let mut depth = 1usize;
    let mut i = from;
    while let Some(&b) = value.get(i) {
        match b {
            b'\\' => i += 2,
            b'$' if value.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 2;
            }
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(src: &str) -> Vec<(String, String)> {
        parse(src, &|_| None)
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn mode_prefers_bun_env_even_when_empty() {
        assert_eq!(Mode::from_env(None, Some("production")), Mode::Production);
        assert_eq!(
            Mode::from_env(Some(""), Some("production")),
            Mode::Development
        );
        assert_eq!(Mode::from_env(Some("test"), Some("production")), Mode::Test);
        assert_eq!(Mode::from_env(None, Some("Production")), Mode::Development);
        assert_eq!(
            default_files(Mode::Test),
            [".env.test.local", ".env.test", ".env"]
        );
    }

    #[test]
    fn quoting_and_comments() {
        let src = "A=a b # c\nB=\"x\\ny\" junk\nC='it''s'\nexport D = `q`\nE=\"open\nF=1\n";
        let want = pairs(&[
            ("A", "a b"),
            ("B", "x\ny"),
            ("C", "it"),
            ("D", "q"),
            ("E", "\"open"),
            ("F", "1"),
        ]);
        assert_eq!(parse_all(src), want);
    }

    #[test]
    fn expansion_is_one_pass_in_file_order() {
        let src = "A=$B\nB=$C\nC=x\nD=${U:-${C}}\nE=\\$C\nF=${C $C}\n";
        let want = pairs(&[
            ("A", "$C"),
            ("B", "x"),
            ("C", "x"),
            ("D", "x"),
            ("E", "$C"),
            ("F", "${C $C}"),
        ]);
        assert_eq!(parse_all(src), want);
    }

    #[test]
    fn known_names_are_kept_and_win_in_expansion() {
        let lookup = |name: &str| (name == "P").then(|| "proc".to_owned());
        assert_eq!(parse("P=file\nX=$P\n", &lookup), pairs(&[("X", "proc")]));
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let alphabet = b"$\\{}:-=#'\"` \t\r\nAZaz09_.\xEF\xBB\xBFexport";
        for _ in 0..2000 {
            let mut bytes = Vec::new();
            for _ in 0..(state % 64) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let pick = (state % (alphabet.len() as u64 + 8)) as usize;
                bytes.push(alphabet.get(pick).copied().unwrap_or(state as u8));
            }
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse(&text, &|name| (name.len() == 1).then(|| "$X{".to_owned()));
            let _ = parse_bytes(&bytes, &|_| None);
        }
    }
}
