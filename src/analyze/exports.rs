//! What one module exports, read from its syntax alone (re-exports are followed in `resolve`).

use std::collections::HashMap;

use swc_ecma_ast::{
    AssignTarget, Decl, DefaultDecl, ExportSpecifier, Expr, ImportSpecifier, Lit, MemberProp,
    Module, ModuleDecl, ModuleExportName, ModuleItem, ObjectPatProp, Pat, Prop, PropName,
    PropOrSpread, SimpleAssignTarget, Stmt, TsModuleName,
};

/// Whether a name is a runtime value, a type, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Seen by the runtime.
    Value,
    /// Erased at run time.
    Type,
}

/// Where an exported name comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Declared in this module.
    Local(Kind),
    /// `export { name } from "spec"`, or a re-exported import; kind decided by the other module.
    From { specifier: String, name: String },
}

/// One exported name.
#[derive(Debug, Clone)]
pub struct Export {
    /// The name importers see.
    pub name: String,
    /// Where it comes from.
    pub origin: Origin,
}

/// The exports of one module as written.
#[derive(Debug, Clone, Default)]
pub struct LocalModule {
    /// Named exports (including `default`) in source order.
    pub exports: Vec<Export>,
    /// `export * from "spec"` specifiers.
    pub star_from: Vec<String>,
    /// Keys of a default-exported object literal.
    pub default_object_keys: Option<Vec<String>>,
    /// Exported names known to be functions declared here (for "did you mean" help).
    pub functions: Vec<String>,
    /// Value imports (`import … from "spec"`, `import "spec"`): specifier and byte range.
    pub imports: Vec<(String, usize, usize)>,
    /// The specifiers of `export { … } from "spec"`, with their byte ranges.
    pub reexports: Vec<(String, usize, usize)>,
    /// Whether the exports are complete: an ES module's are; a CommonJS module's are what a
    /// static reading finds.
    pub complete: bool,
}

impl LocalModule {
    fn push(&mut self, name: impl Into<String>, origin: Origin) {
        self.exports.push(Export {
            name: name.into(),
            origin,
        });
    }
}

/// What a top-level name is bound to.
#[derive(Debug, Clone)]
enum Binding {
    Local { value: bool, ty: bool },
    Import { specifier: String, name: String },
    ImportType,
}

fn export_name(n: &ModuleExportName) -> String {
    match n {
        ModuleExportName::Ident(i) => i.sym.to_string(),
        ModuleExportName::Str(s) => s.value.to_atom_lossy().to_string(),
    }
}

fn pat_names(pat: &Pat, out: &mut Vec<String>) {
    match pat {
        Pat::Ident(b) => out.push(b.id.sym.to_string()),
        Pat::Array(a) => a.elems.iter().flatten().for_each(|p| pat_names(p, out)),
        Pat::Rest(r) => pat_names(&r.arg, out),
        Pat::Object(o) => {
            for prop in &o.props {
                match prop {
                    ObjectPatProp::KeyValue(kv) => pat_names(&kv.value, out),
                    ObjectPatProp::Assign(a) => out.push(a.key.id.sym.to_string()),
                    ObjectPatProp::Rest(r) => pat_names(&r.arg, out),
                }
            }
        }
        Pat::Assign(a) => pat_names(&a.left, out),
        Pat::Invalid(_) | Pat::Expr(_) => {}
    }
}

/// Names a declaration binds, and whether they are values and/or types at run time.
fn decl_names(decl: &Decl) -> Vec<(String, bool, bool)> {
    match decl {
        Decl::Class(c) => vec![(c.ident.sym.to_string(), !c.declare, true)],
        Decl::Fn(f) => vec![(f.ident.sym.to_string(), !f.declare, false)],
        Decl::Var(v) => {
            let mut names = Vec::new();
            for d in &v.decls {
                pat_names(&d.name, &mut names);
            }
            names.into_iter().map(|n| (n, !v.declare, false)).collect()
        }
        Decl::Using(u) => {
            let mut names = Vec::new();
            for d in &u.decls {
                pat_names(&d.name, &mut names);
            }
            names.into_iter().map(|n| (n, true, false)).collect()
        }
        Decl::TsInterface(i) => vec![(i.id.sym.to_string(), false, true)],
        Decl::TsTypeAlias(t) => vec![(t.id.sym.to_string(), false, true)],
        Decl::TsEnum(e) => vec![(e.id.sym.to_string(), !e.declare, true)],
        Decl::TsModule(m) => match &m.id {
            TsModuleName::Ident(i) if !m.global => {
                vec![(i.sym.to_string(), !m.declare && has_values(m), true)]
            }
            _ => Vec::new(),
        },
    }
}

/// A namespace is a runtime value unless it only holds types.
fn has_values(m: &swc_ecma_ast::TsModuleDecl) -> bool {
    use swc_ecma_ast::TsNamespaceBody;
    match &m.body {
        Some(TsNamespaceBody::TsModuleBlock(block)) => block.body.iter().any(|item| match item {
            ModuleItem::Stmt(Stmt::Decl(d))
            | ModuleItem::ModuleDecl(ModuleDecl::ExportDecl(swc_ecma_ast::ExportDecl {
                decl: d,
                ..
            })) => !matches!(d, Decl::TsInterface(_) | Decl::TsTypeAlias(_)),
            ModuleItem::Stmt(_) => true,
            _ => false,
        }),
        Some(TsNamespaceBody::TsNamespaceDecl(_)) => true,
        None => false,
    }
}

fn object_keys(expr: &Expr) -> Option<Vec<String>> {
    match expr {
        Expr::Object(obj) => {
            let mut keys = Vec::new();
            for prop in &obj.props {
                let PropOrSpread::Prop(prop) = prop else {
                    continue;
                };
                let key = match &**prop {
                    Prop::Shorthand(i) => Some(i.sym.to_string()),
                    Prop::KeyValue(kv) => prop_name(&kv.key),
                    Prop::Method(m) => prop_name(&m.key),
                    Prop::Getter(g) => prop_name(&g.key),
                    Prop::Setter(s) => prop_name(&s.key),
                    Prop::Assign(a) => Some(a.key.sym.to_string()),
                };
                keys.extend(key);
            }
            Some(keys)
        }
        Expr::Paren(p) => object_keys(&p.expr),
        Expr::TsAs(a) => object_keys(&a.expr),
        Expr::TsSatisfies(s) => object_keys(&s.expr),
        Expr::TsConstAssertion(c) => object_keys(&c.expr),
        _ => None,
    }
}

fn prop_name(name: &PropName) -> Option<String> {
    match name {
        PropName::Ident(i) => Some(i.sym.to_string()),
        PropName::Str(s) => Some(s.value.to_atom_lossy().to_string()),
        PropName::Num(n) => Some(n.value.to_string()),
        PropName::Computed(_) | PropName::BigInt(_) => None,
    }
}

/// Reads the exports of an ES module.
pub fn local_exports(module: &Module) -> LocalModule {
    let mut bindings: HashMap<String, Binding> = HashMap::new();
    let mut const_objects: HashMap<String, Vec<String>> = HashMap::new();
    let mut functions: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut imports = Vec::new();
    let bind_local =
        |bindings: &mut HashMap<String, Binding>, name: String, value: bool, ty: bool| {
            let entry = bindings.entry(name).or_insert(Binding::Local {
                value: false,
                ty: false,
            });
            if let Binding::Local { value: v, ty: t } = entry {
                *v |= value;
                *t |= ty;
            }
        };

    // First pass: what every top-level name is bound to.
    for item in &module.body {
        let decl = match item {
            ModuleItem::Stmt(Stmt::Decl(d)) => d,
            ModuleItem::ModuleDecl(ModuleDecl::ExportDecl(e)) => &e.decl,
            ModuleItem::ModuleDecl(ModuleDecl::Import(import)) => {
                let specifier = import.src.value.to_atom_lossy().to_string();
                if !import.type_only {
                    let span = import.src.span;
                    let start = span.lo.0.saturating_sub(super::parse::BASE) as usize;
                    let len = span.hi.0.saturating_sub(span.lo.0) as usize;
                    imports.push((specifier.clone(), start, len));
                }
                for s in &import.specifiers {
                    let (local, binding) = match s {
                        ImportSpecifier::Named(n) => (
                            n.local.sym.to_string(),
                            if import.type_only || n.is_type_only {
                                Binding::ImportType
                            } else {
                                Binding::Import {
                                    specifier: specifier.clone(),
                                    name: n
                                        .imported
                                        .as_ref()
                                        .map_or_else(|| n.local.sym.to_string(), export_name),
                                }
                            },
                        ),
                        ImportSpecifier::Default(d) => (
                            d.local.sym.to_string(),
                            if import.type_only {
                                Binding::ImportType
                            } else {
                                Binding::Local {
                                    value: true,
                                    ty: false,
                                }
                            },
                        ),
                        ImportSpecifier::Namespace(ns) => (
                            ns.local.sym.to_string(),
                            if import.type_only {
                                Binding::ImportType
                            } else {
                                Binding::Local {
                                    value: true,
                                    ty: false,
                                }
                            },
                        ),
                    };
                    bindings.insert(local, binding);
                }
                continue;
            }
            ModuleItem::ModuleDecl(ModuleDecl::TsImportEquals(i)) => {
                bind_local(&mut bindings, i.id.sym.to_string(), !i.is_type_only, true);
                continue;
            }
            _ => continue,
        };
        for (name, value, ty) in decl_names(decl) {
            bind_local(&mut bindings, name, value, ty);
        }
        if let Decl::Fn(f) = decl {
            functions.insert(f.ident.sym.to_string());
        }
        if let Decl::Var(v) = decl {
            for d in &v.decls {
                if let (Pat::Ident(id), Some(init)) = (&d.name, &d.init) {
                    if let Some(keys) = object_keys(init) {
                        const_objects.insert(id.id.sym.to_string(), keys);
                    }
                    if matches!(&**init, Expr::Arrow(_) | Expr::Fn(_)) {
                        functions.insert(id.id.sym.to_string());
                    }
                }
            }
        }
    }

    let origin_of = |name: &str| match bindings.get(name) {
        Some(Binding::Local { value, .. }) => {
            Origin::Local(if *value { Kind::Value } else { Kind::Type })
        }
        Some(Binding::ImportType) => Origin::Local(Kind::Type),
        Some(Binding::Import { specifier, name }) => Origin::From {
            specifier: specifier.clone(),
            name: name.clone(),
        },
        // A global re-exported (`export { globalThis as g }`) is still a value.
        None => Origin::Local(Kind::Value),
    };

    let mut out = LocalModule {
        imports,
        complete: true,
        ..LocalModule::default()
    };
    for item in &module.body {
        let ModuleItem::ModuleDecl(decl) = item else {
            continue;
        };
        match decl {
            ModuleDecl::ExportDecl(e) => {
                for (name, value, _) in decl_names(&e.decl) {
                    if functions.contains(&name) {
                        out.functions.push(name.clone());
                    }
                    out.push(
                        name,
                        Origin::Local(if value { Kind::Value } else { Kind::Type }),
                    );
                }
            }
            ModuleDecl::ExportNamed(named) => {
                let src = named
                    .src
                    .as_ref()
                    .map(|s| s.value.to_atom_lossy().to_string());
                if let (Some(specifier), Some(str)) = (&src, &named.src) {
                    let start = str.span.lo.0.saturating_sub(super::parse::BASE) as usize;
                    let len = str.span.hi.0.saturating_sub(str.span.lo.0) as usize;
                    out.reexports.push((specifier.clone(), start, len));
                }
                for spec in &named.specifiers {
                    match spec {
                        ExportSpecifier::Named(n) => {
                            let orig = export_name(&n.orig);
                            let exported = n
                                .exported
                                .as_ref()
                                .map_or_else(|| orig.clone(), export_name);
                            if src.is_none() && functions.contains(&orig) {
                                out.functions.push(exported.clone());
                            }
                            let origin = if named.type_only || n.is_type_only {
                                Origin::Local(Kind::Type)
                            } else {
                                match &src {
                                    Some(specifier) => Origin::From {
                                        specifier: specifier.clone(),
                                        name: orig,
                                    },
                                    None => origin_of(&orig),
                                }
                            };
                            out.push(exported, origin);
                        }
                        ExportSpecifier::Namespace(ns) => {
                            let kind = if named.type_only {
                                Kind::Type
                            } else {
                                Kind::Value
                            };
                            out.push(export_name(&ns.name), Origin::Local(kind));
                        }
                        ExportSpecifier::Default(d) => {
                            let origin = match &src {
                                Some(specifier) => Origin::From {
                                    specifier: specifier.clone(),
                                    name: "default".into(),
                                },
                                None => Origin::Local(Kind::Value),
                            };
                            out.push(d.exported.sym.to_string(), origin);
                        }
                    }
                }
            }
            ModuleDecl::ExportDefaultDecl(d) => {
                let kind = match d.decl {
                    DefaultDecl::Class(_) | DefaultDecl::Fn(_) => Kind::Value,
                    DefaultDecl::TsInterfaceDecl(_) => Kind::Type,
                };
                out.push("default", Origin::Local(kind));
            }
            ModuleDecl::ExportDefaultExpr(e) => {
                let origin = match &*e.expr {
                    Expr::Ident(i) => origin_of(&i.sym),
                    _ => Origin::Local(Kind::Value),
                };
                // `export default someType` is legal TS only for types; treat it as what it names.
                out.push(
                    "default",
                    match origin {
                        Origin::From { .. } => Origin::Local(Kind::Value),
                        other => other,
                    },
                );
                out.default_object_keys = match &*e.expr {
                    Expr::Ident(i) => const_objects.get(&*i.sym).cloned(),
                    other => object_keys(other),
                };
            }
            ModuleDecl::TsExportAssignment(a) => {
                out.push("default", Origin::Local(Kind::Value));
                out.default_object_keys = object_keys(&a.expr);
            }
            ModuleDecl::ExportAll(all) => {
                if !all.type_only {
                    out.star_from
                        .push(all.src.value.to_atom_lossy().to_string());
                }
            }
            ModuleDecl::TsImportEquals(i) if i.is_export => {
                let kind = if i.is_type_only {
                    Kind::Type
                } else {
                    Kind::Value
                };
                out.push(i.id.sym.to_string(), Origin::Local(kind));
            }
            ModuleDecl::TsNamespaceExport(_)
            | ModuleDecl::Import(_)
            | ModuleDecl::TsImportEquals(_) => {}
        }
    }
    out
}

/// Reads the exports a static reading of a CommonJS module finds: `default` plus `exports.X`,
/// `module.exports.X` and the keys of `module.exports = { … }`.
pub fn commonjs_exports(module: &Module) -> LocalModule {
    let mut out = LocalModule::default();
    out.push("default", Origin::Local(Kind::Value));
    for item in &module.body {
        let ModuleItem::Stmt(Stmt::Expr(stmt)) = item else {
            continue;
        };
        let Expr::Assign(assign) = &*stmt.expr else {
            continue;
        };
        let AssignTarget::Simple(SimpleAssignTarget::Member(member)) = &assign.left else {
            continue;
        };
        let prop = match &member.prop {
            MemberProp::Ident(i) => Some(i.sym.to_string()),
            MemberProp::Computed(c) => match &*c.expr {
                Expr::Lit(Lit::Str(s)) => Some(s.value.to_atom_lossy().to_string()),
                _ => None,
            },
            MemberProp::PrivateName(_) => None,
        };
        let Some(prop) = prop else { continue };
        let is_ident = |e: &Expr, name: &str| matches!(e, Expr::Ident(i) if &*i.sym == name);
        let is_module_exports = |e: &Expr| match e {
            Expr::Member(m) => {
                is_ident(&m.obj, "module")
                    && matches!(&m.prop, MemberProp::Ident(p) if &*p.sym == "exports")
            }
            _ => false,
        };
        if is_ident(&member.obj, "exports") || is_module_exports(&member.obj) {
            out.push(prop, Origin::Local(Kind::Value));
        } else if is_ident(&member.obj, "module")
            && prop == "exports"
            && let Some(keys) = object_keys(&assign.right)
        {
            {
                for key in &keys {
                    out.push(key.clone(), Origin::Local(Kind::Value));
                }
                out.default_object_keys = Some(keys);
            }
        }
    }
    out
}
