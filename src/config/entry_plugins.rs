//! The plugin list a hand-written entrypoint exports (`export const plugins = [...]`), read from
//! its syntax (never run), like its tools, into the same entries as `plugins:` of
//! `compozy.yaml`: every value must be a literal.

use std::path::Path;

use swc_common::Spanned;
use swc_ecma_ast::{
    Decl, Expr, Lit, ModuleDecl, ModuleExportName, ModuleItem, Pat, Prop, PropName, PropOrSpread,
    Stmt, UnaryOp, VarDeclKind,
};

use super::error::ConfigError;
use super::plugins::{Plugin, Policy};
use super::yaml::{Entry, Kind, Node};
use crate::diagnostic::{Problem, Problems};
use crate::source::SourceFile;

/// How to write the list, for messages.
const HOW: &str = "write `export const plugins = [{ use: \"./plugins/x.ts\", tools: [\"crm.*\"], \
                   config: { … } }]` with literal values (strings, numbers, booleans, null, \
                   arrays and objects of them)";

/// Reads the `plugins` export of the hand-written entrypoint `path`, if it has one: the
/// JavaScript plugins and built-in policies, in declared order, with their problems (at the
/// entrypoint's lines) in `problems`, and the entrypoint as a source file for later messages.
pub fn read(
    path: &Path,
    root: &Path,
    problems: &mut Problems,
) -> Option<(Vec<Plugin>, Vec<Policy>, SourceFile)> {
    // A missing or unreadable entrypoint is reported where the entrypoint is checked.
    let text = std::fs::read_to_string(path).ok()?;
    // Cheap: most entrypoints never mention it.
    if !text.contains("plugins") {
        return None;
    }
    let name = path
        .strip_prefix(root)
        .map_or_else(|_| path.display().to_string(), crate::paths::slash_path);
    let file = SourceFile::new(path.to_path_buf(), name, text);
    // A syntax error is the analysis's to report, with its position.
    let module = crate::analyze::parse(path, &file.text).ok()?;
    let found = find(&module.body, &file)?;
    let node = match found {
        Ok(expr) => match node(expr, &file) {
            Ok(node) => node,
            Err(problem) => {
                problems.push(problem);
                return None;
            }
        },
        Err(problem) => {
            problems.push(problem);
            return None;
        }
    };
    let (plugins, policies) = super::plugins::read(&node, &file, root, problems);
    Some((plugins, policies, file))
}

fn problem(file: &SourceFile, span: swc_common::Span, message: String) -> Problem {
    let (line, column) = file.line_col(offset(span));
    Problem::new(ConfigError::Plugin {
        message,
        help: HOW.into(),
    })
    .at_line(file, line, column, "here")
}

fn offset(span: swc_common::Span) -> usize {
    span.lo.0.saturating_sub(crate::analyze::BASE) as usize
}

/// The initialiser of the exported `plugins`: `export const plugins = …`, or a top-level
/// `const plugins = …` exported by `export { plugins }`. `None`: no such export.
fn find<'m>(body: &'m [ModuleItem], file: &SourceFile) -> Option<Result<&'m Expr, Problem>> {
    let local = |name: &str| {
        body.iter().find_map(|item| match item {
            ModuleItem::Stmt(Stmt::Decl(Decl::Var(var))) => var
                .decls
                .iter()
                .find(|d| matches!(&d.name, Pat::Ident(i) if i.id.sym == *name))
                .map(|d| (var.kind, d, var.span)),
            ModuleItem::ModuleDecl(ModuleDecl::ExportDecl(e)) => match &e.decl {
                Decl::Var(var) => var
                    .decls
                    .iter()
                    .find(|d| matches!(&d.name, Pat::Ident(i) if i.id.sym == *name))
                    .map(|d| (var.kind, d, var.span)),
                _ => None,
            },
            _ => None,
        })
    };
    let const_init = |name: &str, at: swc_common::Span| -> Result<&'m Expr, Problem> {
        match local(name) {
            Some((VarDeclKind::Const, decl, _)) => decl
                .init
                .as_deref()
                .ok_or_else(|| problem(file, decl.span, "`plugins` has no value".into())),
            Some((_, decl, _)) => Err(problem(
                file,
                decl.span,
                "the entrypoint's `plugins` must be a `const`: a `let` or `var` could change \
                 before the workers read it"
                    .into(),
            )),
            None => Err(problem(
                file,
                at,
                format!(
                    "the entrypoint exports `plugins` as `{name}`, which is not a `const` of this \
                     module, so it cannot be read without running the module"
                ),
            )),
        }
    };
    for item in body {
        let ModuleItem::ModuleDecl(decl) = item else {
            continue;
        };
        match decl {
            ModuleDecl::ExportDecl(e) => match &e.decl {
                Decl::Var(var)
                    if var
                        .decls
                        .iter()
                        .any(|d| matches!(&d.name, Pat::Ident(i) if i.id.sym == "plugins")) =>
                {
                    return Some(const_init("plugins", var.span));
                }
                Decl::Fn(f) if f.ident.sym == "plugins" => {
                    return Some(Err(problem(
                        file,
                        f.function.span,
                        "the entrypoint's `plugins` is a function; it must be a list".into(),
                    )));
                }
                _ => {}
            },
            ModuleDecl::ExportNamed(named) => {
                for spec in &named.specifiers {
                    let swc_ecma_ast::ExportSpecifier::Named(s) = spec else {
                        continue;
                    };
                    let exported = s.exported.as_ref().unwrap_or(&s.orig);
                    if export_name(exported) != "plugins" {
                        continue;
                    }
                    if named.src.is_some() {
                        return Some(Err(problem(
                            file,
                            named.span,
                            "the entrypoint re-exports `plugins` from another module; write the \
                             list in the entrypoint itself"
                                .into(),
                        )));
                    }
                    return Some(const_init(&export_name(&s.orig), named.span));
                }
            }
            _ => {}
        }
    }
    None
}

fn export_name(n: &ModuleExportName) -> String {
    match n {
        ModuleExportName::Ident(i) => i.sym.to_string(),
        ModuleExportName::Str(s) => s.value.to_atom_lossy().to_string(),
    }
}

/// A literal as the tree `plugins::read` reads (positions in the entrypoint).
fn node(expr: &Expr, file: &SourceFile) -> Result<Node, Problem> {
    let at = super::yaml::location(file.line_col(offset(expr.span())));
    let not_literal = |what: &str| {
        problem(
            file,
            expr.span(),
            format!("the entrypoint's `plugins` cannot be read without running it: {what}"),
        )
    };
    let kind = match expr {
        Expr::Paren(p) => return node(&p.expr, file),
        Expr::TsAs(e) => return node(&e.expr, file),
        Expr::TsSatisfies(e) => return node(&e.expr, file),
        Expr::TsConstAssertion(e) => return node(&e.expr, file),
        Expr::Lit(Lit::Str(s)) => Kind::String(s.value.to_atom_lossy().to_string()),
        Expr::Lit(Lit::Bool(b)) => Kind::Bool(b.value),
        Expr::Lit(Lit::Null(_)) => Kind::Null,
        Expr::Lit(Lit::Num(n)) => number(n.value),
        Expr::Unary(u) if u.op == UnaryOp::Minus => match &*u.arg {
            Expr::Lit(Lit::Num(n)) => number(-n.value),
            _ => return Err(not_literal("a computed value")),
        },
        Expr::Tpl(t) if t.exprs.is_empty() => Kind::String(
            t.quasis
                .iter()
                .map(|q| {
                    q.cooked
                        .as_ref()
                        .map_or(String::new(), |c| c.to_atom_lossy().to_string())
                })
                .collect(),
        ),
        Expr::Array(a) => {
            let mut items = Vec::new();
            for e in &a.elems {
                match e {
                    Some(e) if e.spread.is_none() => items.push(node(&e.expr, file)?),
                    _ => return Err(not_literal("a spread or a hole in a list")),
                }
            }
            Kind::Seq(items)
        }
        Expr::Object(o) => {
            let mut entries = Vec::new();
            for p in &o.props {
                let PropOrSpread::Prop(p) = p else {
                    return Err(not_literal("a spread (`...`) in an object"));
                };
                let Prop::KeyValue(kv) = &**p else {
                    return Err(not_literal(
                        "an object member that is not `key: value` (a shorthand, method or getter)",
                    ));
                };
                let key = match &kv.key {
                    PropName::Ident(i) => i.sym.to_string(),
                    PropName::Str(s) => s.value.to_atom_lossy().to_string(),
                    PropName::Num(n) => n.value.to_string(),
                    _ => return Err(not_literal("a computed key")),
                };
                let key_at = super::yaml::location(file.line_col(offset(kv.key.span())));
                entries.push(Entry {
                    key,
                    key_at,
                    value: node(&kv.value, file)?,
                });
            }
            Kind::Map(entries)
        }
        Expr::Ident(i) => {
            return Err(not_literal(&format!(
                "`{}` is a name, not a literal (an imported plugin object cannot be read \
                 statically: name its module with `use: \"./plugins/x.ts\"`)",
                i.sym
            )));
        }
        _ => return Err(not_literal("an expression that is not a literal")),
    };
    Ok(Node {
        kind,
        at,
        defined: at,
    })
}

fn number(n: f64) -> Kind {
    // Whole numbers within i64 are integers, as YAML reads `3`.
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        #[allow(clippy::cast_possible_truncation)]
        Kind::Int(n as i64)
    } else {
        Kind::Float(n)
    }
}
