//! Rewriting one TypeScript/JavaScript module: its `npm:` and import-map specifiers, and the
//! Deno APIs of [`deno_api::TABLE`]; everything else Deno-only is reported where it is written.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use swc_common::{BytePos, Span};
use swc_ecma_ast::{
    CallExpr, Callee, ClassDecl, Decl, DefaultDecl, ExportAll, Expr, ExprStmt, FnDecl, ImportDecl,
    ImportSpecifier, Lit, MemberExpr, MemberProp, Module, ModuleDecl, ModuleExportName, ModuleItem,
    NamedExport, Pat, UnaryExpr, UnaryOp,
};
use swc_ecma_visit::{Visit, VisitWith};

use super::deno_api::{self, Form};
use super::error::MigrateError;
use super::import_map::ImportMap;
use super::specifier;
use crate::diagnostic::{Problem, Problems};
use crate::source::SourceFile;

/// What the rest of the migration needs to know about a project.
pub struct Context<'a> {
    /// The project root.
    pub root: &'a Path,
    /// deno.json's import map, if any.
    pub import_map: Option<&'a ImportMap>,
}

/// An npm package a module imports.
#[derive(Debug, Clone)]
pub struct Dep {
    /// The package name.
    pub name: String,
    /// The version or range the specifier names.
    pub version: Option<String>,
    /// The specifier as written (`npm:prettier@3`).
    pub spec: String,
    /// Where (byte offset in the module, or in the import map when `in_map`).
    pub offset: usize,
    /// The specifier is written in the import map, not in the module.
    pub in_map: bool,
}

/// What the module's exports say about how Compozy's Deno runtime called it.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// Byte offset of `export default`, if any.
    pub default: Option<usize>,
    /// Byte offset of the `run` export, if any.
    pub run: Option<usize>,
    /// `export default run` (or `export { run as default }`): one function under both names.
    pub default_is_run: bool,
    /// Parameter counts of the default and run functions, when declared in place.
    pub default_params: Option<usize>,
    /// See `default_params`.
    pub run_params: Option<usize>,
}

/// A module after migration.
#[derive(Debug)]
pub struct Rewritten {
    /// The new text (the old one when nothing changed).
    pub text: String,
    /// The npm packages it imports through `npm:` specifiers.
    pub deps: Vec<Dep>,
    /// The local modules it imports (absolute paths), to migrate as well.
    pub local: Vec<PathBuf>,
    /// Its exports.
    pub shape: Shape,
}

/// A piece of a replacement: text, or a range of the source (with the edits inside it).
#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Src(usize, usize),
}

/// Replace `lo..hi` by `parts`.
#[derive(Debug, Clone)]
struct Edit {
    lo: usize,
    hi: usize,
    parts: Vec<Part>,
}

/// A use of `Deno.…`.
#[derive(Debug)]
struct Use {
    lo: usize,
    hi: usize,
    /// The path under `Deno` (`env.get`; empty for `Deno` itself).
    path: String,
    /// For a call: the arguments' ranges, and whether one is spread.
    args: Option<(Vec<(usize, usize)>, bool)>,
    statement: bool,
}

/// A string specifier (`import … from "x"`, `export … from "x"`, `import("x")`).
#[derive(Debug)]
struct Spec {
    lo: usize,
    hi: usize,
    value: String,
}

/// An existing `import … from "node:fs"`-like declaration.
#[derive(Debug)]
struct NodeImport {
    module: String,
    namespace: Option<String>,
    /// `(imported, local)` pairs.
    named: Vec<(String, String)>,
    /// Where to add a named specifier (after the last one), if the declaration has a `{ … }`.
    append_at: Option<usize>,
}

fn offset(pos: BytePos) -> usize {
    pos.0.saturating_sub(crate::analyze::BASE) as usize
}

fn range(span: Span) -> (usize, usize) {
    (offset(span.lo), offset(span.hi))
}

fn export_name(name: &ModuleExportName) -> String {
    match name {
        ModuleExportName::Ident(i) => i.sym.to_string(),
        ModuleExportName::Str(s) => s.value.to_string_lossy().into_owned(),
    }
}

/// The path under `Deno` of a member chain rooted at the global `Deno` (`Deno.env.get` →
/// `env.get`).
fn deno_path(expr: &Expr) -> Option<String> {
    let mut parts = Vec::new();
    let mut e = expr;
    loop {
        match e {
            Expr::Member(m) => {
                parts.push(match &m.prop {
                    MemberProp::Ident(i) => i.sym.to_string(),
                    MemberProp::Computed(c) => match &*c.expr {
                        Expr::Lit(Lit::Str(s)) => s.value.to_string_lossy().into_owned(),
                        _ => "[…]".to_owned(),
                    },
                    MemberProp::PrivateName(_) => return None,
                });
                e = &m.obj;
            }
            Expr::Ident(i) if &*i.sym == "Deno" => break,
            _ => return None,
        }
    }
    parts.reverse();
    Some(parts.join("."))
}

#[derive(Default)]
struct Collector {
    specs: Vec<Spec>,
    uses: Vec<Use>,
    bound: HashSet<String>,
    node_imports: Vec<NodeImport>,
    statement_call: Option<Span>,
}

const NODE_MODULES: &[&str] = &["node:fs/promises", "fs/promises", "node:fs", "fs"];

impl Collector {
    fn spec(&mut self, s: &swc_ecma_ast::Str) {
        let (lo, hi) = range(s.span);
        self.specs.push(Spec {
            lo,
            hi,
            value: s.value.to_string_lossy().into_owned(),
        });
    }
}

impl Visit for Collector {
    fn visit_import_decl(&mut self, d: &ImportDecl) {
        self.spec(&d.src);
        let module = d.src.value.to_string_lossy().into_owned();
        let mut node = NodeImport {
            module: module.clone(),
            namespace: None,
            named: Vec::new(),
            append_at: None,
        };
        for s in &d.specifiers {
            match s {
                ImportSpecifier::Named(n) => {
                    self.bound.insert(n.local.sym.to_string());
                    let imported = n
                        .imported
                        .as_ref()
                        .map_or_else(|| n.local.sym.to_string(), export_name);
                    if !n.is_type_only {
                        node.named.push((imported, n.local.sym.to_string()));
                    }
                    node.append_at = Some(offset(n.span.hi));
                }
                ImportSpecifier::Default(x) => {
                    self.bound.insert(x.local.sym.to_string());
                }
                ImportSpecifier::Namespace(x) => {
                    self.bound.insert(x.local.sym.to_string());
                    node.namespace = Some(x.local.sym.to_string());
                }
            }
        }
        if NODE_MODULES.contains(&module.as_str()) && !d.type_only {
            self.node_imports.push(node);
        }
    }

    fn visit_named_export(&mut self, e: &NamedExport) {
        if let Some(src) = &e.src {
            self.spec(src);
        }
    }

    fn visit_export_all(&mut self, e: &ExportAll) {
        self.spec(&e.src);
    }

    fn visit_binding_ident(&mut self, b: &swc_ecma_ast::BindingIdent) {
        self.bound.insert(b.id.sym.to_string());
    }

    fn visit_fn_decl(&mut self, f: &FnDecl) {
        self.bound.insert(f.ident.sym.to_string());
        f.visit_children_with(self);
    }

    fn visit_class_decl(&mut self, c: &ClassDecl) {
        self.bound.insert(c.ident.sym.to_string());
        c.visit_children_with(self);
    }

    fn visit_expr_stmt(&mut self, s: &ExprStmt) {
        if let Expr::Call(c) = &*s.expr {
            self.statement_call = Some(c.span);
        }
        s.visit_children_with(self);
    }

    fn visit_call_expr(&mut self, c: &CallExpr) {
        match &c.callee {
            Callee::Import(_) => {
                if let Some(first) = c.args.first()
                    && let Expr::Lit(Lit::Str(s)) = &*first.expr
                {
                    self.spec(s);
                }
            }
            Callee::Expr(callee) => {
                if let Some(path) = deno_path(callee) {
                    let (lo, hi) = range(c.span);
                    let args = c.args.iter().map(|a| range(a.expr.span_lo_hi())).collect();
                    let spread = c.args.iter().any(|a| a.spread.is_some());
                    self.uses.push(Use {
                        lo,
                        hi,
                        path,
                        args: Some((args, spread)),
                        statement: self.statement_call == Some(c.span),
                    });
                    for a in &c.args {
                        a.visit_with(self);
                    }
                    return;
                }
            }
            Callee::Super(_) => {}
        }
        c.visit_children_with(self);
    }

    fn visit_member_expr(&mut self, m: &MemberExpr) {
        let expr = Expr::Member(m.clone());
        if let Some(path) = deno_path(&expr) {
            let (lo, hi) = range(m.span);
            self.uses.push(Use {
                lo,
                hi,
                path,
                args: None,
                statement: false,
            });
            return;
        }
        m.visit_children_with(self);
    }

    fn visit_unary_expr(&mut self, u: &UnaryExpr) {
        // `typeof Deno` is how code tells Deno apart; it works as it is on Bun and Node.
        if u.op == UnaryOp::TypeOf
            && let Expr::Ident(i) = &*u.arg
            && &*i.sym == "Deno"
        {
            return;
        }
        u.visit_children_with(self);
    }

    fn visit_expr(&mut self, e: &Expr) {
        if let Expr::Ident(i) = e
            && &*i.sym == "Deno"
        {
            let (lo, hi) = range(i.span);
            self.uses.push(Use {
                lo,
                hi,
                path: String::new(),
                args: None,
                statement: false,
            });
            return;
        }
        e.visit_children_with(self);
    }
}

/// `span_lo_hi` for an expression (swc's `Spanned` under a name that reads well above).
trait SpanOf {
    fn span_lo_hi(&self) -> Span;
}

impl SpanOf for Expr {
    fn span_lo_hi(&self) -> Span {
        swc_common::Spanned::span(self)
    }
}

/// The exports of a module, as far as the Deno runtime's `default || run` is concerned.
fn shape(module: &Module) -> Shape {
    let mut shape = Shape::default();
    let params = |e: &Expr| match e {
        Expr::Arrow(a) => Some(a.params.len()),
        Expr::Fn(f) => Some(f.function.params.len()),
        _ => None,
    };
    for item in &module.body {
        let ModuleItem::ModuleDecl(decl) = item else {
            continue;
        };
        let at = offset(swc_common::Spanned::span(decl).lo);
        match decl {
            ModuleDecl::ExportDecl(d) => match &d.decl {
                Decl::Fn(f) if &*f.ident.sym == "run" => {
                    shape.run = Some(at);
                    shape.run_params = Some(f.function.params.len());
                }
                Decl::Var(v) => {
                    for d in &v.decls {
                        if let Pat::Ident(i) = &d.name
                            && &*i.id.sym == "run"
                        {
                            shape.run = Some(at);
                            shape.run_params = d.init.as_deref().and_then(params);
                        }
                    }
                }
                _ => {}
            },
            ModuleDecl::ExportDefaultDecl(d) => {
                shape.default = Some(at);
                if let DefaultDecl::Fn(f) = &d.decl {
                    shape.default_params = Some(f.function.params.len());
                }
            }
            ModuleDecl::ExportDefaultExpr(e) => {
                shape.default = Some(at);
                match &*e.expr {
                    Expr::Ident(i) if &*i.sym == "run" => shape.default_is_run = true,
                    other => shape.default_params = params(other),
                }
            }
            ModuleDecl::ExportNamed(n) => {
                for s in &n.specifiers {
                    let swc_ecma_ast::ExportSpecifier::Named(s) = s else {
                        continue;
                    };
                    let orig = export_name(&s.orig);
                    let exported = s
                        .exported
                        .as_ref()
                        .map_or_else(|| orig.clone(), export_name);
                    match exported.as_str() {
                        "run" => shape.run = Some(at),
                        "default" => {
                            shape.default = Some(at);
                            shape.default_is_run |= orig == "run";
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    shape
}

/// Renders `src[lo..hi]` with the edits inside it applied; an edit's `Src` parts are rendered
/// the same way, so a rewrite inside another one's arguments is kept. `edits` are sorted by start,
/// insertions first, then the longer edit first.
fn render(src: &str, lo: usize, hi: usize, edits: &[Edit]) -> String {
    let mut out = String::new();
    let mut pos = lo;
    for e in edits.iter().filter(|e| e.lo >= lo && e.hi <= hi) {
        if e.lo < pos {
            // Inside an edit already applied (rendered through its `Src` parts).
            continue;
        }
        out.push_str(&src[pos..e.lo]);
        for part in &e.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Src(a, b) => out.push_str(&render(src, *a, *b, edits)),
            }
        }
        pos = e.hi;
    }
    out.push_str(&src[pos..hi]);
    out
}

fn is_local(spec: &str) -> bool {
    spec.starts_with("./") || spec.starts_with("../") || spec.starts_with('/')
}

const MODULE_EXTENSIONS: &[&str] = &["ts", "tsx", "mts", "cts", "js", "jsx", "mjs", "cjs"];

/// Rewrites `file`; problems (errors, and warnings for what is kept but worth a look) go to
/// `problems`. `None` when the module does not parse.
pub fn rewrite(file: &SourceFile, cx: &Context, problems: &mut Problems) -> Option<Rewritten> {
    let src = file.text.as_str();
    let module = match crate::analyze::parse(&file.path, src) {
        Ok(m) => m,
        Err(e) => {
            problems.push(
                Problem::new(MigrateError::Syntax { message: e.message }).at_span(
                    file,
                    (e.start, e.len).into(),
                    "here",
                ),
            );
            return None;
        }
    };
    let mut c = Collector::default();
    module.visit_with(&mut c);
    let dir = file.path.parent().unwrap_or(Path::new("."));
    let mut edits = Vec::new();
    let mut deps = Vec::new();
    let mut local = Vec::new();
    let at = |lo: usize, hi: usize, label: &str, p: Problem| {
        p.at_span(file, (lo, hi - lo).into(), label)
    };

    for spec in &c.specs {
        let inner = (spec.lo + 1, spec.hi.saturating_sub(1).max(spec.lo + 1));
        let mut replace = |value: String| {
            edits.push(Edit {
                lo: inner.0,
                hi: inner.1,
                parts: vec![Part::Text(value)],
            });
        };
        let value = spec.value.as_str();
        if value.starts_with("npm:") {
            match specifier::npm(value) {
                Some(npm) => {
                    replace(npm.bare());
                    deps.push(Dep {
                        name: npm.name,
                        version: npm.version,
                        spec: value.to_owned(),
                        offset: spec.lo,
                        in_map: false,
                    });
                }
                None => problems.push(at(
                    spec.lo,
                    spec.hi,
                    "this specifier",
                    Problem::new(MigrateError::Shape {
                        what: format!("`{value}`"),
                        expected: "an npm specifier such as `npm:package@1.2.3/subpath`",
                        help: "fix the specifier".into(),
                    }),
                )),
            }
        } else if value.starts_with("jsr:") {
            problems.push(at(spec.lo, spec.hi, "imported here", jsr_problem(value)));
        } else if specifier::is_remote(value) {
            problems.push(at(
                spec.lo,
                spec.hi,
                "imported here",
                Problem::new(MigrateError::Remote {
                    url: value.to_owned(),
                    help: specifier::remote_help(value),
                }),
            ));
        } else if is_local(value) || value.starts_with("file:") {
            let path = value.strip_prefix("file://").unwrap_or(value);
            local.push(crate::paths::normalize(&dir.join(path)));
        } else if let Some(map) = cx.import_map
            && !value.starts_with("node:")
            && let Some((entry, rest)) = map.resolve(value)
        {
            let target = format!("{}{rest}", entry.target);
            let mapped = |p: Problem| {
                let (line, col) = map.line_col(entry);
                at(spec.lo, spec.hi, "imported here", p).with_related(
                    Problem::note(format!("mapped to `{}` here", entry.target)).at_line(
                        &map.file,
                        line,
                        col,
                        "in the import map",
                    ),
                )
            };
            if let Some(npm) = specifier::npm(&target) {
                if npm.bare() != value {
                    replace(npm.bare());
                }
                deps.push(Dep {
                    name: npm.name,
                    version: npm.version,
                    spec: entry.target.clone(),
                    offset: entry.offset,
                    in_map: true,
                });
            } else if let Some(path) = map.local_target(&target) {
                let from = crate::paths::slash_path(dir.strip_prefix(cx.root).unwrap_or(dir));
                let to = crate::paths::slash_path(path.strip_prefix(cx.root).unwrap_or(&path));
                replace(crate::paths::import_specifier(&from, &to));
                local.push(path);
            } else if target.starts_with("jsr:") {
                problems.push(mapped(jsr_problem(&target)));
            } else if specifier::is_remote(&target) {
                problems.push(mapped(Problem::new(MigrateError::Remote {
                    url: target.clone(),
                    help: specifier::remote_help(&target),
                })));
            } else if target != value {
                replace(target);
            }
        }
    }
    local.retain(|p| {
        p.starts_with(cx.root)
            && p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| MODULE_EXTENSIONS.contains(&e))
    });

    // The Deno APIs.
    let process = if c.bound.contains("process") {
        "globalThis.process"
    } else {
        "process"
    };
    let mut imports = Imports::new(&c);
    for u in &c.uses {
        if u.path.is_empty() {
            problems.push(at(
                u.lo,
                u.hi,
                "used here",
                Problem::new(MigrateError::DenoApi {
                    api: "Deno".into(),
                    help: "the `Deno` namespace itself does not exist on Bun and Node: use the \
                           `node:` modules and `process` instead"
                        .into(),
                }),
            ));
            continue;
        }
        let (count, spread) = match &u.args {
            Some((args, spread)) => (Some(args.len()), *spread),
            None => (None, false),
        };
        let row = (!spread)
            .then(|| deno_api::rewrite(&u.path, count, u.statement))
            .flatten();
        let Some(row) = row else {
            problems.push(at(
                u.lo,
                u.hi,
                "used here",
                Problem::new(MigrateError::DenoApi {
                    api: format!("Deno.{}", u.path),
                    help: deno_api::help(&u.path),
                }),
            ));
            continue;
        };
        let args: &[(usize, usize)] = u.args.as_ref().map_or(&[], |(a, _)| a);
        let function = row.import.map(|(module, name)| imports.local(module, name));
        let mut parts = Vec::new();
        let mut rest = row.to;
        while let Some(i) = rest.find('$') {
            parts.push(Part::Text(rest[..i].to_owned()));
            let key = rest.as_bytes().get(i + 1).copied();
            match key {
                Some(b'p') => parts.push(Part::Text(process.to_owned())),
                Some(b'f') => parts.push(Part::Text(function.clone().unwrap_or_default())),
                Some(b'*') => {
                    if let (Some(first), Some(last)) = (args.first(), args.last()) {
                        parts.push(Part::Src(first.0, last.1));
                    }
                }
                Some(d) if d.is_ascii_digit() => {
                    let (a, b) = args[usize::from(d - b'0')];
                    parts.push(Part::Src(a, b));
                }
                _ => parts.push(Part::Text("$".into())),
            }
            rest = &rest[(i + 2).min(rest.len())..];
        }
        parts.push(Part::Text(rest.to_owned()));
        edits.push(Edit {
            lo: u.lo,
            hi: u.hi,
            parts,
        });
        debug_assert!(matches!(
            row.form,
            Form::Value | Form::Call(_) | Form::Statement(_)
        ));
    }
    let newline = if src.contains("\r\n") { "\r\n" } else { "\n" };
    edits.extend(imports.edits(&module, src, newline));
    // Insertions first, then outer edits before the ones they contain.
    edits.sort_by(|a, b| {
        (a.lo, a.lo != a.hi, std::cmp::Reverse(a.hi)).cmp(&(
            b.lo,
            b.lo != b.hi,
            std::cmp::Reverse(b.hi),
        ))
    });
    Some(Rewritten {
        text: render(src, 0, src.len(), &edits),
        deps,
        local,
        shape: shape(&module),
    })
}

fn jsr_problem(spec: &str) -> Problem {
    let help = match specifier::jsr_npm_name(spec) {
        Some((name, mirror)) => format!(
            "JSR packages install through JSR's npm mirror: run `npx jsr add {name}` (it adds \
             `\"{name}\": \"npm:{mirror}@…\"` to package.json and an `.npmrc` line for \
             npm.jsr.io), then import `{name}` instead of `{spec}`"
        ),
        None => "write it as `jsr:@scope/name@version`".into(),
    };
    Problem::new(MigrateError::Jsr {
        spec: spec.to_owned(),
        help,
    })
}

/// The `node:` functions the rewrites call, added once per module: to an existing import of
/// the same module when there is one, else as a new import above the first statement.
struct Imports<'a> {
    c: &'a Collector,
    /// Names taken by the module or by imports added so far.
    taken: HashSet<String>,
    /// New imports: module → (imported, local).
    new: BTreeMap<&'static str, Vec<(String, String)>>,
    /// Specifiers to add to existing declarations: index → (imported, local).
    added: BTreeMap<usize, Vec<(String, String)>>,
    /// Already resolved: (module, name) → local expression.
    done: BTreeMap<(&'static str, &'static str), String>,
}

impl<'a> Imports<'a> {
    fn new(c: &'a Collector) -> Self {
        Self {
            c,
            taken: c.bound.clone(),
            new: BTreeMap::new(),
            added: BTreeMap::new(),
            done: BTreeMap::new(),
        }
    }

    fn free_name(&mut self, name: &str) -> String {
        let mut local = name.to_owned();
        let mut n = 1;
        while self.taken.contains(&local) {
            let mut chars = name.chars();
            let upper: String = chars
                .next()
                .map(|c| c.to_ascii_uppercase())
                .into_iter()
                .chain(chars)
                .collect();
            local = if n == 1 {
                format!("node{upper}")
            } else {
                format!("node{upper}{n}")
            };
            n += 1;
        }
        self.taken.insert(local.clone());
        local
    }

    /// The expression that names `name` of `module` in this module.
    fn local(&mut self, module: &'static str, name: &'static str) -> String {
        if let Some(done) = self.done.get(&(module, name)) {
            return done.clone();
        }
        let bare = module.strip_prefix("node:").unwrap_or(module);
        let existing = self
            .c
            .node_imports
            .iter()
            .enumerate()
            .filter(|(_, i)| i.module == module || i.module == bare)
            .collect::<Vec<_>>();
        let found = existing
            .iter()
            .find_map(|(_, i)| {
                i.named
                    .iter()
                    .find(|(imported, _)| imported == name)
                    .map(|(_, l)| l.clone())
            })
            .or_else(|| {
                existing
                    .iter()
                    .find_map(|(_, i)| i.namespace.as_ref().map(|ns| format!("{ns}.{name}")))
            });
        let local = match found {
            Some(local) => local,
            None => {
                let local = self.free_name(name);
                let pair = (name.to_owned(), local.clone());
                match existing.iter().find(|(_, i)| i.append_at.is_some()) {
                    Some((index, _)) => self.added.entry(*index).or_default().push(pair),
                    None => self.new.entry(module).or_default().push(pair),
                }
                local
            }
        };
        self.done.insert((module, name), local.clone());
        local
    }

    fn edits(&self, module: &Module, src: &str, newline: &str) -> Vec<Edit> {
        let spec = |(imported, local): &(String, String)| {
            if imported == local {
                imported.clone()
            } else {
                format!("{imported} as {local}")
            }
        };
        let mut edits = Vec::new();
        for (index, pairs) in &self.added {
            if let Some(at) = self.c.node_imports[*index].append_at {
                let text: String = pairs.iter().map(|p| format!(", {}", spec(p))).collect();
                edits.push(Edit {
                    lo: at,
                    hi: at,
                    parts: vec![Part::Text(text)],
                });
            }
        }
        if !self.new.is_empty() {
            let first = module
                .body
                .first()
                .map_or(src.len(), |item| offset(swc_common::Spanned::span(item).lo));
            let line_start = src[..first.min(src.len())].rfind('\n').map_or(0, |i| i + 1);
            let text: String = self
                .new
                .iter()
                .map(|(m, pairs)| {
                    let mut names: Vec<String> = pairs.iter().map(spec).collect();
                    names.sort();
                    format!("import {{ {} }} from \"{m}\";{newline}", names.join(", "))
                })
                .collect();
            edits.push(Edit {
                lo: line_start,
                hi: line_start,
                parts: vec![Part::Text(text)],
            });
        }
        edits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migrate(src: &str) -> (String, Problems) {
        let root = Path::new("/project");
        let file = SourceFile::new(root.join("tool.ts"), "tool.ts".into(), src.to_owned());
        let cx = Context {
            root,
            import_map: None,
        };
        let mut problems = Problems::default();
        let out = rewrite(&file, &cx, &mut problems).expect("parses");
        (out.text, problems)
    }

    #[test]
    fn exact_equivalents_are_rewritten_and_imported_once() {
        let (out, problems) = migrate(
            "import * as prettier from \"npm:prettier@3.3.3\";\n\
             export async function run(input: { path: string }) {\n  \
               const key = Deno.env.get(\"KEY\") ?? Deno.cwd();\n  \
               await Deno.writeTextFile(input.path, await Deno.readTextFile(input.path + Deno.env.get(\"X\")));\n  \
               await Deno.writeTextFile(\"b\", key);\n  \
               Deno.env.set(\"A\", \"1\");\n  \
               return Deno.pid;\n}\n",
        );
        assert!(problems.0.is_empty(), "{problems:?}");
        assert_eq!(
            out,
            "import { readFile, writeFile } from \"node:fs/promises\";\n\
             import * as prettier from \"prettier\";\n\
             export async function run(input: { path: string }) {\n  \
               const key = process.env[\"KEY\"] ?? process.cwd();\n  \
               await writeFile(input.path, await readFile(input.path + process.env[\"X\"], \"utf8\"));\n  \
               await writeFile(\"b\", key);\n  \
               process.env[\"A\"] = \"1\";\n  \
               return process.pid;\n}\n"
        );
        // A second run finds nothing left to do.
        let (again, problems) = migrate(&out);
        assert!(problems.0.is_empty());
        assert_eq!(again, out);
    }

    #[test]
    fn existing_node_imports_are_reused_or_extended() {
        let (out, _) = migrate(
            "import { readFile as rf } from \"node:fs/promises\";\n\
             export const run = async () => [await Deno.readTextFile(\"a\"), await Deno.writeTextFile(\"b\", \"c\")];\n",
        );
        assert_eq!(
            out,
            "import { readFile as rf, writeFile } from \"node:fs/promises\";\n\
             export const run = async () => [await rf(\"a\", \"utf8\"), await writeFile(\"b\", \"c\")];\n"
        );
        let (out, _) = migrate(
            "import * as fsp from \"fs/promises\";\nexport const run = () => Deno.readTextFile(\"a\");\n",
        );
        assert!(out.contains("fsp.readFile(\"a\", \"utf8\")"), "{out}");
    }

    #[test]
    fn a_taken_name_gets_an_alias() {
        let (out, _) = migrate(
            "function writeFile() {}\nexport const run = () => Deno.writeTextFile(\"a\", \"b\");\n",
        );
        assert!(out.starts_with("import { writeFile as nodeWriteFile } from \"node:fs/promises\";\nfunction writeFile"), "{out}");
        assert!(out.contains("nodeWriteFile(\"a\", \"b\")"), "{out}");
    }

    #[test]
    fn what_has_no_exact_equivalent_is_reported_where_it_is() {
        let (out, problems) = migrate(
            "export async function run() {\n  const s = await Deno.stat(\"x\");\n  \
             const v = Deno.env.set(\"A\", \"1\");\n  await Deno.writeTextFile(\"a\", \"b\", { append: true });\n  \
             if (typeof Deno !== \"undefined\") {}\n  return [s, v];\n}\n",
        );
        let lines: Vec<String> = problems.0.iter().map(|p| p.headline()).collect();
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(
            lines[0].starts_with("tool.ts:2:19: `Deno.stat`"),
            "{lines:#?}"
        );
        assert!(
            lines[1].starts_with("tool.ts:3:13: `Deno.env.set`"),
            "{lines:#?}"
        );
        assert!(
            lines[2].starts_with("tool.ts:4:9: `Deno.writeTextFile`"),
            "{lines:#?}"
        );
        assert!(out.contains("typeof Deno"));
    }

    #[test]
    fn remote_and_jsr_imports_are_reported() {
        let (_, problems) = migrate(
            "import { join } from \"jsr:@std/path@1\";\nimport x from \"https://esm.sh/lodash@4.17.21\";\nexport const run = () => join(x);\n",
        );
        let lines: Vec<String> = problems.0.iter().map(|p| p.headline()).collect();
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(
            lines[0].starts_with("tool.ts:1:22: `jsr:@std/path@1`"),
            "{lines:#?}"
        );
        assert!(
            lines[1].starts_with("tool.ts:2:15: remote import"),
            "{lines:#?}"
        );
    }

    #[test]
    fn the_shape_says_what_deno_called() {
        let root = Path::new("/p");
        let file = SourceFile::new(
            root.join("t.ts"),
            "t.ts".into(),
            "export function run(a, b) {}\nexport default function (x) {}\n".into(),
        );
        let cx = Context {
            root,
            import_map: None,
        };
        let out = rewrite(&file, &cx, &mut Problems::default()).unwrap();
        assert_eq!(out.shape.run_params, Some(2));
        assert_eq!(out.shape.default_params, Some(1));
        assert!(out.shape.default.is_some() && !out.shape.default_is_run);
    }
}
