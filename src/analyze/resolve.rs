//! Following re-exports across files: `export * from`, `export { a } from`, re-exported imports.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::AnalyzeError;
use super::exports::{Kind, LocalModule, Origin, commonjs_exports, local_exports};
use super::parse::{is_commonjs, parse};
use crate::paths::display_path;
use crate::source::SourceFile;

/// Extensions tried, in order, for an import specifier without one.
const RESOLVE_EXTENSIONS: &[&str] = &["ts", "tsx", "mts", "cts", "js", "mjs", "cjs"];

/// Why a module could not be analysed, with the place to point at.
#[derive(Debug, Clone)]
pub struct Failure {
    /// What went wrong.
    pub error: AnalyzeError,
    /// The file and byte range to show, when known.
    pub at: Option<Box<(SourceFile, usize, usize)>>,
}

impl Failure {
    /// As a reportable problem.
    pub fn to_problem(&self) -> crate::diagnostic::Problem {
        let problem = crate::diagnostic::Problem::new(self.error.clone());
        match &self.at {
            Some(at) => {
                let (file, start, len) = &**at;
                problem.at_span(file, (*start, *len).into(), "here")
            }
            None => problem,
        }
    }
}

/// A module as the runtime sees it once re-exports are followed.
#[derive(Debug, Clone, Default)]
pub struct ModuleInfo {
    /// Names a runtime sees on the namespace object, sorted.
    pub values: Vec<String>,
    /// Type-only names, sorted.
    pub types: Vec<String>,
    /// Keys of a default-exported object literal, if any.
    pub default_object_keys: Option<Vec<String>>,
    /// Exports known to be functions declared in the module itself.
    pub functions: Vec<String>,
    /// The module's source, for code frames.
    pub source: Option<SourceFile>,
    /// Every file read to answer (the module and what it re-exports), for watchers.
    pub files: Vec<PathBuf>,
}

/// Whether a module exports a name.
enum Found {
    /// It does, as a value or a type.
    Kind(Kind),
    /// It cannot be known (a package's module, a CommonJS module's, a cycle's): taken as a value.
    Unknown,
    /// It surely does not.
    Missing,
}

/// Which Deno-only kind of specifier `specifier` is, if it is one.
fn deno_scheme(specifier: &str) -> Option<&'static str> {
    if specifier.starts_with("npm:") {
        Some("an `npm:` specifier: Bun and Node import the bare package name")
    } else if specifier.starts_with("jsr:") {
        Some("a JSR package, which Bun and Node cannot import by that name")
    } else if specifier.starts_with("https://") || specifier.starts_with("http://") {
        Some("a remote URL, which Bun and Node do not import")
    } else {
        None
    }
}

/// Reads modules once each and answers what they export.
#[derive(Debug, Default)]
pub struct Analyzer {
    base: PathBuf,
    cache: HashMap<PathBuf, Result<(Arc<LocalModule>, SourceFile), Failure>>,
}

impl Analyzer {
    /// Paths in messages are shown relative to `base` (the project root).
    pub fn new(base: PathBuf) -> Self {
        Self {
            base,
            cache: HashMap::new(),
        }
    }

    /// Reads and parses `paths` in parallel ahead of [`Analyzer::module`] calls.
    pub fn preload(&mut self, paths: &[PathBuf]) {
        let mut todo: Vec<PathBuf> = paths
            .iter()
            .filter(|p| !self.cache.contains_key(*p))
            .cloned()
            .collect();
        todo.sort();
        todo.dedup();
        let this = &*self;
        let results = crate::parallel::map(&todo, 16, |path| this.read_local(path));
        self.cache.extend(todo.into_iter().zip(results));
    }

    fn local(&mut self, path: &Path) -> Result<(Arc<LocalModule>, SourceFile), Failure> {
        if let Some(hit) = self.cache.get(path) {
            return hit.clone();
        }
        let result = self.read_local(path);
        self.cache.insert(path.to_path_buf(), result.clone());
        result
    }

    fn read_local(&self, path: &Path) -> Result<(Arc<LocalModule>, SourceFile), Failure> {
        let name = display_path(path, &self.base);
        let text = std::fs::read_to_string(path).map_err(|e| Failure {
            error: AnalyzeError::Read {
                path: name.clone(),
                reason: e.to_string(),
            },
            at: None,
        })?;
        let file = SourceFile::new(path.to_path_buf(), name.clone(), text);
        let module = parse(path, &file.text).map_err(|e| Failure {
            error: AnalyzeError::Syntax {
                path: name,
                message: e.message,
            },
            at: Some(Box::new((file.clone(), e.start, e.len))),
        })?;
        let local = if is_commonjs(path) {
            commonjs_exports(&module)
        } else {
            local_exports(&module)
        };
        Ok((Arc::new(local), file))
    }

    /// Resolves a relative specifier as Bun and TypeScript do (`./x.js` may be `./x.ts`).
    /// `None` for bare package specifiers, which are not followed.
    fn resolve(&self, from: &Path, specifier: &str) -> Option<Result<PathBuf, Failure>> {
        if !(specifier.starts_with("./")
            || specifier.starts_with("../")
            || specifier.starts_with('/'))
        {
            return None;
        }
        let dir = from.parent().unwrap_or(Path::new("/"));
        let target = crate::paths::normalize(&dir.join(specifier));
        let mut candidates = vec![target.clone()];
        if let Some(ext) = target.extension().and_then(|e| e.to_str()) {
            let swaps: &[&str] = match ext {
                "js" => &["ts", "tsx"],
                "jsx" => &["tsx"],
                "mjs" => &["mts"],
                "cjs" => &["cts"],
                _ => &[],
            };
            candidates.extend(swaps.iter().map(|e| target.with_extension(e)));
        }
        let file_name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        candidates.extend(
            RESOLVE_EXTENSIONS
                .iter()
                .map(|e| target.with_file_name(format!("{file_name}.{e}"))),
        );
        candidates.extend(
            RESOLVE_EXTENSIONS
                .iter()
                .map(|e| target.join(format!("index.{e}"))),
        );
        Some(
            candidates
                .into_iter()
                .find(|c| c.is_file())
                .ok_or_else(|| Failure {
                    error: AnalyzeError::Unresolved {
                        specifier: specifier.to_owned(),
                        from: display_path(from, &self.base),
                    },
                    at: None,
                }),
        )
    }

    /// Whether `path` exports `name`, and as a value or a type.
    fn kind_of(
        &mut self,
        path: &Path,
        name: &str,
        seen: &mut HashSet<(PathBuf, String)>,
        files: &mut BTreeSet<PathBuf>,
    ) -> Result<Found, Failure> {
        if !seen.insert((path.to_path_buf(), name.to_owned())) {
            return Ok(Found::Unknown);
        }
        let (local, _) = self.local(path)?;
        files.insert(path.to_path_buf());
        // A module without a single export may be CommonJS written as `.js`, whose names Node
        // finds by its own reading.
        let mut known = local.complete && !(local.exports.is_empty() && local.star_from.is_empty());
        let mut kinds = Vec::new();
        for export in local.exports.iter().filter(|e| e.name == name) {
            kinds.push(self.origin_kind(path, &export.origin, seen, files)?);
        }
        if kinds.is_empty() && name != "default" {
            for specifier in &local.star_from {
                let Some(target) = self.resolve(path, specifier) else {
                    known = false;
                    continue;
                };
                match self.kind_of(&target?, name, seen, files)? {
                    Found::Kind(kind) => kinds.push(kind),
                    Found::Unknown => known = false,
                    Found::Missing => {}
                }
            }
        }
        Ok(if kinds.contains(&Kind::Value) {
            Found::Kind(Kind::Value)
        } else if !kinds.is_empty() {
            Found::Kind(Kind::Type)
        } else if known {
            Found::Missing
        } else {
            Found::Unknown
        })
    }

    /// The kind of an export of `path` that comes from `origin`; a re-export of a name the other
    /// module does not export is an error, as it is for Bun and Node when they load `path`.
    fn origin_kind(
        &mut self,
        path: &Path,
        origin: &Origin,
        seen: &mut HashSet<(PathBuf, String)>,
        files: &mut BTreeSet<PathBuf>,
    ) -> Result<Kind, Failure> {
        match origin {
            Origin::Local(kind) => Ok(*kind),
            Origin::From { specifier, name } => match self.resolve(path, specifier) {
                Some(target) => {
                    let target = target?;
                    match self.kind_of(&target, name, seen, files)? {
                        Found::Kind(kind) => Ok(kind),
                        Found::Unknown => Ok(Kind::Value),
                        Found::Missing => {
                            Err(self.missing_reexport(path, &target, specifier, name))
                        }
                    }
                }
                None => Ok(Kind::Value),
            },
        }
    }

    /// `path` re-exports `name` from `specifier` (`target`), which does not export it.
    fn missing_reexport(
        &mut self,
        path: &Path,
        target: &Path,
        specifier: &str,
        name: &str,
    ) -> Failure {
        let exports = self.module(target).map(|m| m.values).unwrap_or_default();
        let at = self.local(path).ok().and_then(|(local, source)| {
            local
                .reexports
                .iter()
                .chain(&local.imports)
                .find(|(s, _, _)| s == specifier)
                .map(|(_, start, len)| Box::new((source.clone(), *start, *len)))
        });
        Failure {
            error: AnalyzeError::MissingReexport {
                from: display_path(path, &self.base),
                specifier: specifier.to_owned(),
                name: name.to_owned(),
                exports,
            },
            at,
        }
    }

    /// What is wrong with the imports of `path`: Deno-era specifiers (`npm:`, `jsr:`, URLs) that
    /// neither Bun nor Node load and, with `follow`, relative imports of no file, in `path` and
    /// the modules it imports through relative paths, transitively (without `follow` nothing is
    /// looked up on disk). Each with its place.
    pub fn import_problems(&mut self, path: &Path, follow: bool) -> Vec<Failure> {
        let mut found = Vec::new();
        let mut seen = HashSet::from([path.to_path_buf()]);
        let mut queue = vec![path.to_path_buf()];
        while let Some(module) = queue.pop() {
            let Ok((local, source)) = self.local(&module) else {
                continue;
            };
            for (specifier, start, len) in &local.imports {
                let at = Some(Box::new((source.clone(), *start, *len)));
                if let Some(scheme) = deno_scheme(specifier) {
                    found.push(Failure {
                        error: AnalyzeError::DenoModule {
                            module: source.name.clone(),
                            what: format!("it imports `{specifier}` ({scheme})"),
                        },
                        at,
                    });
                    continue;
                }
                if !follow {
                    continue;
                }
                match self.resolve(&module, specifier) {
                    None => {}
                    Some(Ok(target)) => {
                        let analysable = target
                            .extension()
                            .and_then(|e| e.to_str())
                            .is_some_and(|e| RESOLVE_EXTENSIONS.contains(&e));
                        if analysable && seen.insert(target.clone()) {
                            queue.push(target);
                        }
                    }
                    Some(Err(_)) => found.push(Failure {
                        error: AnalyzeError::MissingImport {
                            specifier: specifier.clone(),
                            from: source.name.clone(),
                        },
                        at,
                    }),
                }
            }
        }
        found
    }

    /// What `path` exports once every re-export is followed.
    pub fn module(&mut self, path: &Path) -> Result<ModuleInfo, Failure> {
        let (local, source) = self.local(path)?;
        let mut files = BTreeSet::from([path.to_path_buf()]);
        let mut values = BTreeSet::new();
        let mut types = BTreeSet::new();
        let add = |name: &str,
                   kind: Kind,
                   values: &mut BTreeSet<String>,
                   types: &mut BTreeSet<String>| {
            match kind {
                Kind::Value => {
                    types.remove(name);
                    values.insert(name.to_owned());
                }
                Kind::Type if !values.contains(name) => {
                    types.insert(name.to_owned());
                }
                Kind::Type => {}
            }
        };

        let mut own = HashSet::new();
        for export in &local.exports {
            let mut seen = HashSet::new();
            let kind = self.origin_kind(path, &export.origin, &mut seen, &mut files)?;
            own.insert(export.name.clone());
            add(&export.name, kind, &mut values, &mut types);
        }

        // Every module reachable through `export *` chains contributes its names but `default`;
        // a visited set makes cycles harmless.
        let mut visited = HashSet::from([path.to_path_buf()]);
        let mut queue: Vec<(PathBuf, String)> = local
            .star_from
            .iter()
            .map(|s| (path.to_path_buf(), s.clone()))
            .collect();
        while let Some((from, specifier)) = queue.pop() {
            let Some(target) = self.resolve(&from, &specifier) else {
                continue;
            };
            let target = target?;
            if !visited.insert(target.clone()) {
                continue;
            }
            files.insert(target.clone());
            let (star_local, _) = self.local(&target)?;
            for export in &star_local.exports {
                if export.name == "default" || own.contains(&export.name) {
                    continue;
                }
                let mut seen = HashSet::new();
                let kind = self.origin_kind(&target, &export.origin, &mut seen, &mut files)?;
                add(&export.name, kind, &mut values, &mut types);
            }
            queue.extend(
                star_local
                    .star_from
                    .iter()
                    .map(|s| (target.clone(), s.clone())),
            );
        }

        Ok(ModuleInfo {
            values: values.into_iter().collect(),
            types: types.into_iter().collect(),
            default_object_keys: local.default_object_keys.clone(),
            functions: local.functions.clone(),
            source: Some(source),
            files: files.into_iter().collect(),
        })
    }
}
