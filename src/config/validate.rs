//! From raw YAML shapes to a validated [`Project`], collecting every problem.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use globset::GlobSet;
use serde_saphyr::Spanned;

use super::error::ConfigError;
use super::permissions::DenoPermission;
use super::raw::{RawProject, RawTool, Scalar};
use super::schema::{self, SchemaSite};
use super::{
    Declared, EntrypointMode, NodePermission, Project, ProjectPath, RuntimeConfig, RuntimeKind,
    Tool, discover,
};
use crate::codegen::OUTPUT_DIR;
use crate::diagnostic::{Problem, Problems};
use crate::paths::{normalize, slash_path};
use crate::source::SourceFile;

/// Extensions a tool module may have.
pub const MODULE_EXTENSIONS: &[&str] = &["ts", "tsx", "mts", "cts", "js", "mjs", "cjs"];

const DEFAULT_ENTRYPOINT: &str = "./.compozy/tools.ts";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

fn line_col<T>(s: &Spanned<T>) -> (usize, usize) {
    let loc = s.referenced;
    (
        usize::try_from(loc.line()).unwrap_or(0),
        usize::try_from(loc.column()).unwrap_or(0),
    )
}

pub(super) fn at<T>(
    error: ConfigError,
    file: &SourceFile,
    spanned: &Spanned<T>,
    label: &str,
) -> Problem {
    let (line, column) = line_col(spanned);
    Problem::new(error).at_line(file, line, column, label)
}

/// The include and exclude glob sets of `autoload:` (or the defaults).
pub fn autoload_globs(
    raw: &RawProject,
    file: &SourceFile,
    problems: &mut Problems,
) -> Option<(Vec<String>, GlobSet, GlobSet)> {
    let (include, exclude) = match &raw.autoload {
        Some(a) => (
            a.value.include.clone().unwrap_or_default(),
            a.value.exclude.clone().unwrap_or_default(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    let include_strings: Vec<String> = if raw.autoload.is_some() {
        include.iter().map(|g| g.value.clone()).collect()
    } else {
        discover::DEFAULT_INCLUDE
            .iter()
            .map(|g| (*g).to_owned())
            .collect()
    };
    let exclude_strings: Vec<String> = exclude.iter().map(|g| g.value.clone()).collect();
    let compile = |strings: &[String], spans: &[Spanned<String>], problems: &mut Problems| {
        discover::glob_set(strings)
            .map_err(|(i, reason)| {
                let glob = strings.get(i).cloned().unwrap_or_default();
                let error = ConfigError::InvalidGlob { glob, reason };
                problems.push(match spans.get(i) {
                    Some(s) => at(error, file, s, "this glob"),
                    None => Problem::new(error),
                });
            })
            .ok()
    };
    let inc = compile(&include_strings, &include, problems)?;
    let exc = compile(&exclude_strings, &exclude, problems)?;
    Some((include_strings, inc, exc))
}

/// Validates everything. Returns the project with every valid tool and the problems of the
/// others, so that later stages can report their problems in the same run; fails outright only
/// when `runtime:` itself is broken.
pub fn project(
    root: PathBuf,
    config_file: SourceFile,
    raw: RawProject,
    declared: Vec<(SourceFile, Spanned<RawTool>)>,
    needs_entrypoint: bool,
    mut problems: Problems,
) -> Result<(Project, Problems), Problems> {
    let runtime = runtime(&root, &config_file, &raw, needs_entrypoint, &mut problems);
    let mode = runtime.as_ref().map(|r| r.mode);
    let mut cx = ToolContext {
        root: &root,
        mode,
        dirs: RealDirs::new(),
        schema_sites: Vec::new(),
    };

    // Every tool with an id, in the order read, and which of them have problems: those are left
    // out of the project, but still count as declarations of their id.
    let mut tools = Vec::new();
    let mut broken = HashSet::new();
    for (file, tool) in declared {
        if let Some(t) = self::tool(&mut cx, &file, tool, tools.len(), &mut problems) {
            keep(&mut tools, &mut broken, t);
        }
    }
    let config_files = vec![ProjectPath {
        abs: config_file.path.clone(),
        rel: config_file.name.clone(),
    }];

    let auth = raw
        .auth
        .as_ref()
        .and_then(|node| super::mcp::auth(node, &config_file, &root, &mut problems));
    let (plugins, policies) = raw
        .plugins
        .as_ref()
        .map(|node| super::plugins::read(node, &config_file, &root, &mut problems))
        .unwrap_or_default();
    broken.extend(schema::check(cx.schema_sites, &mut problems));
    let repeated = duplicates(&tools, &broken, &mut problems);
    let mut tools: Vec<Tool> = tools
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !broken.contains(i) && !repeated.contains(i))
        .map(|(_, t)| t)
        .collect();
    super::versions::assign_keys(&mut tools);
    tools.sort_by(|a, b| a.id.cmp(&b.id));
    mcp_names_taken(&tools, &mut problems);
    super::plugins::warn_unused(&plugins, &policies, &tools, &config_file, &mut problems);
    super::plugins::check_cached(&policies, &tools, &config_file, &mut problems);
    // A hand-written entrypoint may export more plugins, after those of compozy.yaml.
    let (mut plugins, mut policies) = (plugins, policies);
    if let Some(runtime) = runtime
        .as_ref()
        .filter(|r| r.mode == EntrypointMode::HandWritten)
        && let Some((more, more_policies, file)) =
            super::entry_plugins::read(&runtime.entrypoint.abs, &root, &mut problems)
    {
        super::plugins::warn_unused(&more, &more_policies, &tools, &file, &mut problems);
        super::plugins::check_cached(&more_policies, &tools, &file, &mut problems);
        plugins.extend(more);
        policies.extend(more_policies);
    }

    match runtime {
        Some(runtime) => Ok((
            Project {
                root,
                name: raw.name.map(|n| n.value),
                runtime,
                tools,
                config_files,
                config_dirs: Vec::new(),
                auth,
                plugins,
                policies,
            },
            problems,
        )),
        None => Err(problems),
    }
}

/// Adds a checked tool to `tools`, and its index to `broken` when it has problems.
fn keep(tools: &mut Vec<Tool>, broken: &mut HashSet<usize>, (tool, ok): (Tool, bool)) {
    if !ok {
        broken.insert(tools.len());
    }
    tools.push(tool);
}

/// Whether two declarations of one id are the same tool (workflows often each declare the
/// tool they share): everything but where they are written agrees.
fn same_tool(a: &Tool, b: &Tool) -> bool {
    a.description == b.description
        && a.version == b.version
        && a.deprecated == b.deprecated
        && a.module.as_ref().map(|m| &m.rel) == b.module.as_ref().map(|m| &m.rel)
        && a.timeout == b.timeout
        && a.input == b.input
        && a.output == b.output
        && a.with == b.with
        && a.config == b.config
        && a.env == b.env
        && a.mcp == b.mcp
}

/// Drops repeated declarations of the same tool; reports an id declared for different tools of
/// one major version (different majors are served side by side, see `versions`).
/// Returns the indices of the repeats, which are left out.
/// A declaration with problems of its own is never taken for the same tool.
fn duplicates(tools: &[Tool], broken: &HashSet<usize>, problems: &mut Problems) -> HashSet<usize> {
    let mut first: HashMap<(&str, u64), (usize, &Tool)> = HashMap::new();
    let mut repeated = HashSet::new();
    for (i, tool) in tools.iter().enumerate() {
        match first.get(&(tool.id.as_str(), tool.major())) {
            Some(&(j, earlier))
                if !broken.contains(&i) && !broken.contains(&j) && same_tool(earlier, tool) =>
            {
                repeated.insert(i);
            }
            Some(&(_, earlier)) => {
                let related = Problem::note(format!("`{}` was first declared here", tool.id))
                    .at_line(
                        &earlier.declared.file,
                        earlier.declared.line,
                        earlier.declared.column,
                        "first declared here",
                    );
                problems.push(
                    Problem::new(ConfigError::DuplicateId {
                        id: tool.id.clone(),
                        major: (tool.version.is_some() || earlier.version.is_some())
                            .then(|| tool.major()),
                    })
                    .at_line(
                        &tool.declared.file,
                        tool.declared.line,
                        tool.declared.column,
                        "declared again here",
                    )
                    .with_related(related),
                );
            }
            None => {
                first.insert((&tool.id, tool.major()), (i, tool));
            }
        }
    }
    repeated
}

/// Reports a tool whose id is the MCP name of another's older major (`weather.v1` beside
/// `weather` 2 and 1): MCP could not tell them apart.
fn mcp_names_taken(tools: &[Tool], problems: &mut Problems) {
    for older in tools.iter().filter(|t| t.is_older_major()) {
        let name = super::versions::mcp_name(older);
        let Ok(i) = tools.binary_search_by(|t| t.id.as_str().cmp(&name)) else {
            continue;
        };
        let taken = &tools[i];
        let d = &older.declared;
        problems.push(
            Problem::new(ConfigError::McpNameTaken {
                name: name.clone(),
                key: older.id.clone(),
            })
            .at_line(
                &taken.declared.file,
                taken.declared.line,
                taken.declared.column,
                "this tool",
            )
            .with_related(
                Problem::note(format!("`{}` is listed to MCP as `{name}`", older.id)).at_line(
                    &d.file,
                    d.line,
                    d.column,
                    "the older major",
                ),
            ),
        );
    }
}

/// Where Compozy projects keep a hand-written entrypoint when `runtime.entrypoint` is not set.
const ENTRYPOINT_CANDIDATES: &[&str] = &["entrypoint.ts", "entrypoint.js", "tools.ts", "tools.js"];

/// The hand-written entrypoint of a project whose tools have no `execute:` and whose
/// `runtime:` names none: `entrypoint.ts`, Compozy's default `tools.ts`, or package.json's `main`.
fn found_entrypoint(root: &Path) -> Option<String> {
    if let Some(found) = ENTRYPOINT_CANDIDATES
        .iter()
        .find(|c| root.join(c).is_file())
    {
        return Some(format!("./{found}"));
    }
    let package = std::fs::read_to_string(root.join("package.json")).ok()?;
    let package: serde_json::Value = serde_json::from_str(&package).ok()?;
    let main = package.get("main")?.as_str()?;
    let ext_ok = Path::new(main)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| MODULE_EXTENSIONS.contains(&e));
    (ext_ok && root.join(main).is_file()).then(|| main.to_owned())
}

fn runtime(
    root: &Path,
    file: &SourceFile,
    raw: &RawProject,
    needs_entrypoint: bool,
    problems: &mut Problems,
) -> Option<RuntimeConfig> {
    let rt = raw.runtime.as_ref();

    let kind = match rt.and_then(|r| r.kind.as_ref()) {
        None => RuntimeKind::Bun,
        Some(k) => match k.value.as_str() {
            "bun" => RuntimeKind::Bun,
            "node" => RuntimeKind::Node,
            other => {
                problems.push(at(
                    ConfigError::UnknownRuntime(other.to_owned()),
                    file,
                    k,
                    "expected `bun` or `node`",
                ));
                RuntimeKind::Bun
            }
        },
    };

    let entry_raw = rt.and_then(|r| r.entrypoint.as_ref());
    let found = match entry_raw {
        None if needs_entrypoint => found_entrypoint(root),
        _ => None,
    };
    let entry_str = entry_raw.map_or_else(
        || found.as_deref().unwrap_or(DEFAULT_ENTRYPOINT),
        |e| e.value.as_str(),
    );
    let entry_abs = normalize(&root.join(entry_str));
    let entry_problems = problems.0.len();
    let (entrypoint, mode) = match entry_abs.strip_prefix(root) {
        Ok(rel) => {
            let rel = slash_path(rel);
            let mode = if rel.starts_with(&format!("{OUTPUT_DIR}/")) {
                EntrypointMode::Generated
            } else {
                EntrypointMode::HandWritten
            };
            if mode == EntrypointMode::HandWritten {
                check_module_file(root, &entry_abs, entry_str, true, &mut RealDirs::new())
                    .unwrap_or_else(|e| {
                        problems.push(match entry_raw {
                            Some(s) => at(e, file, s, "entrypoint"),
                            None => Problem::new(e),
                        })
                    });
            }
            (
                ProjectPath {
                    abs: entry_abs.clone(),
                    rel,
                },
                mode,
            )
        }
        Err(_) => {
            let e = ConfigError::EntrypointOutsideRoot {
                path: entry_str.to_owned(),
            };
            problems.push(match entry_raw {
                Some(s) => at(e, file, s, "outside the project"),
                None => Problem::new(e),
            });
            (
                ProjectPath {
                    abs: entry_abs.clone(),
                    rel: String::new(),
                },
                EntrypointMode::HandWritten,
            )
        }
    };

    // Without a usable entrypoint the tools cannot be checked; other fields fall back to defaults
    // so that the rest of the project is still checked in this run.
    let entrypoint_ok = problems.0.len() == entry_problems;

    let mut permissions = Vec::new();
    let mut deno = Vec::new();
    let mut sandbox = true;
    for p in rt
        .and_then(|r| r.permissions.as_ref())
        .into_iter()
        .flatten()
    {
        if let Some(perm) = NodePermission::parse(&p.value) {
            permissions.push(perm);
        } else if let Some(flag) = DenoPermission::parse(&p.value) {
            match &flag {
                DenoPermission::Node(grants) => permissions.extend(grants.iter().cloned()),
                DenoPermission::Unrestricted => {}
                DenoPermission::All => sandbox = false,
            }
            deno.push((p.value.trim().to_owned(), flag));
        } else {
            problems.push(at(
                ConfigError::UnknownPermission(p.value.clone()),
                file,
                p,
                "not a known permission",
            ));
        }
    }
    let timeout = rt
        .and_then(|r| r.timeout.as_ref().or(r.tool_execution_timeout.as_ref()))
        .and_then(|t| duration(t, file, problems))
        .unwrap_or(DEFAULT_TIMEOUT);

    let env_files = rt
        .and_then(|r| r.env_files.as_ref())
        .map(|files| files.iter().map(|f| f.value.clone()).collect());
    let env_passthrough: Vec<String> = rt
        .and_then(|r| r.env_passthrough.as_ref())
        .map(|globs| globs.iter().map(|g| g.value.clone()).collect())
        .unwrap_or_default();
    if let Some(globs) = rt.and_then(|r| r.env_passthrough.as_ref()) {
        let strings: Vec<String> = globs.iter().map(|g| g.value.clone()).collect();
        if let Err((i, reason)) = discover::glob_set(&strings)
            && let Some(g) = globs.get(i)
        {
            problems.push(at(
                ConfigError::InvalidGlob {
                    glob: g.value.clone(),
                    reason,
                },
                file,
                g,
                "this glob",
            ));
        }
    }
    let env = env_map(rt.and_then(|r| r.env.as_ref()), file, problems);
    let preload = preload(root, file, rt.and_then(|r| r.preload.as_ref()), problems);

    entrypoint_ok.then_some(RuntimeConfig {
        kind,
        entrypoint,
        mode,
        permissions: rt
            .and_then(|r| r.permissions.as_ref())
            .filter(|_| sandbox)
            .map(|_| permissions),
        deno_permissions: deno.into_iter().map(|(flag, _)| flag).collect(),
        entrypoint_found: found.is_some(),
        timeout,
        env_files,
        env_passthrough,
        env,
        worker_dir: None,
        preload,
    })
}

/// `runtime.preload:`: files of the project, relative to `compozy.yaml`.
fn preload(
    root: &Path,
    file: &SourceFile,
    raw: Option<&Vec<Spanned<String>>>,
    problems: &mut Problems,
) -> Vec<ProjectPath> {
    let mut out = Vec::new();
    for p in raw.into_iter().flatten() {
        let abs = crate::paths::normalize(&file.path.parent().unwrap_or(root).join(&p.value));
        match abs.strip_prefix(root) {
            Ok(rel) if abs.is_file() => {
                let rel = rel.to_string_lossy().replace('\\', "/");
                out.push(ProjectPath { abs, rel });
            }
            _ => problems.push(at(
                ConfigError::Plugin {
                    message: format!(
                        "the preload module `{}` does not exist in the project",
                        p.value
                    ),
                    help: "name a module inside the project, relative to compozy.yaml".into(),
                },
                file,
                p,
                "this module",
            )),
        }
    }
    out
}

fn env_map(
    raw: Option<&BTreeMap<String, Spanned<Scalar>>>,
    file: &SourceFile,
    problems: &mut Problems,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (name, value) in raw.into_iter().flatten() {
        if !is_env_name(name) {
            problems.push(at(
                ConfigError::InvalidEnvName(name.clone()),
                file,
                value,
                "the value of this variable",
            ));
            continue;
        }
        env.insert(name.clone(), value.value.to_env_string());
    }
    env
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn duration(raw: &Spanned<Scalar>, file: &SourceFile, problems: &mut Problems) -> Option<Duration> {
    let fail = |value: String, reason: String, problems: &mut Problems| {
        problems.push(at(
            ConfigError::InvalidDuration { value, reason },
            file,
            raw,
            "this duration",
        ));
        None
    };
    match &raw.value {
        Scalar::String(s) => match humantime::parse_duration(s.trim())
            .map_err(|e| e.to_string())
            .and_then(|d| timeout_problem(d).map_or(Ok(d), Err))
        {
            Ok(d) => Some(d),
            Err(reason) => fail(s.clone(), reason, problems),
        },
        other => fail(other.to_env_string(), "a unit is required".into(), problems),
    }
}

/// Why a timeout cannot be used, if it cannot: zero, or too long to be added to a clock reading
/// for a deadline (the bound of serve's `timeout_ms`).
pub fn timeout_problem(timeout: Duration) -> Option<String> {
    if timeout.is_zero() {
        Some("must be greater than zero".into())
    } else if timeout > Duration::from_millis(u64::MAX) {
        Some(format!("must be at most {}ms", u64::MAX))
    } else {
        None
    }
}

/// Why an id is invalid, if it is.
pub fn id_problem(id: &str) -> Option<&'static str> {
    let mut chars = id.chars();
    match chars.next() {
        None => return Some("it is empty"),
        Some(c) if !(c.is_ascii_alphanumeric() || c == '_') => {
            return Some("it must start with a letter, a digit or `_`");
        }
        _ => {}
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')) {
        return Some("only letters, digits and `_ . - /` are allowed");
    }
    if id.contains("..") {
        return Some("`..` is not allowed");
    }
    None
}

/// What checking one tool needs besides the tool itself.
struct ToolContext<'a> {
    root: &'a Path,
    mode: Option<EntrypointMode>,
    dirs: RealDirs,
    schema_sites: Vec<SchemaSite>,
}

fn tool(
    cx: &mut ToolContext<'_>,
    file: &SourceFile,
    raw: Spanned<RawTool>,
    tools_so_far: usize,
    problems: &mut Problems,
) -> Option<(Tool, bool)> {
    let (root, mode) = (cx.root, cx.mode);
    let (mut line, mut column) = line_col(&raw);
    let raw_tool = raw.value;
    if line == 0 {
        // A standalone file holding one tool: the entry is the file itself, or its `id:`.
        (line, column) = raw_tool.id.as_ref().map_or((1, 1), line_col);
    }
    let declared = Declared {
        file: file.clone(),
        line,
        column,
    };
    let before = problems.0.len();

    if raw_tool.tools.is_some() {
        problems.push(Problem::new(ConfigError::NestedTools).at_line(
            file,
            line,
            column,
            "this tool",
        ));
    }
    let Some(id) = raw_tool.id.as_ref() else {
        // A misread tool most likely has its `id` under a misspelt key, already reported.
        if !raw_tool.misread {
            problems.push(Problem::new(ConfigError::MissingId).at_line(
                file,
                line,
                column,
                "this tool",
            ));
        }
        return None;
    };
    if let Some(reason) = id_problem(&id.value) {
        problems.push(at(
            ConfigError::InvalidId {
                id: id.value.clone(),
                reason,
            },
            file,
            id,
            "this id",
        ));
    }

    let yaml_dir = file.path.parent().unwrap_or(root);
    let wasm_path = raw_tool
        .execute
        .as_ref()
        .filter(|e| raw_tool.command.is_none() && super::wasm::is_wasm_path(&e.value));
    let command = match (&raw_tool.command, wasm_path) {
        (Some(raw), _) => command(
            &id.value,
            raw,
            yaml_dir,
            root,
            file,
            raw_tool.misread,
            problems,
        ),
        (None, Some(path)) => {
            super::wasm::tool(&id.value, path, None, yaml_dir, root, file, problems)
        }
        (None, None) => None,
    };
    let (module, module_declared) = match (&raw_tool.execute, mode) {
        _ if raw_tool.command.is_some() || wasm_path.is_some() => (None, None),
        (Some(exec), _) => {
            let yaml_dir = file.path.parent().unwrap_or(root);
            let (l, c) = line_col(exec);
            let declared_exec = Declared {
                file: file.clone(),
                line: l,
                column: c,
            };
            match resolve_module(root, yaml_dir, &exec.value, &mut cx.dirs) {
                Ok(path) => (Some(path), Some(declared_exec)),
                Err(e) => {
                    problems.push(at(e, file, exec, "execute"));
                    (None, None)
                }
            }
        }
        (None, Some(EntrypointMode::Generated)) if !raw_tool.misread => {
            problems.push(
                Problem::new(ConfigError::MissingExecute {
                    id: id.value.clone(),
                })
                .at_line(file, line, column, "this tool"),
            );
            (None, None)
        }
        (None, _) => (None, None),
    };

    let version =
        raw_tool
            .version
            .as_ref()
            .and_then(|v| match semver::Version::parse(v.value.trim()) {
                Ok(version) => Some(version),
                Err(e) => {
                    problems.push(at(
                        ConfigError::InvalidVersion {
                            value: v.value.clone(),
                            reason: e.to_string(),
                        },
                        file,
                        v,
                        "this version",
                    ));
                    None
                }
            });
    let timeout = raw_tool
        .timeout
        .as_ref()
        .and_then(|t| duration(t, file, problems));
    // JSON Schemas are checked later, all together and in parallel (it is the costly part).
    let mut schemas = [None, None];
    for (slot, (field, raw)) in schemas
        .iter_mut()
        .zip([("input", raw_tool.input), ("output", raw_tool.output)])
    {
        if let Some(node) = raw {
            let json = node.to_json();
            *slot = Some(json.clone());
            cx.schema_sites.push(SchemaSite {
                tool: tools_so_far,
                schema: json,
                node,
                field,
                file: file.clone(),
                // `with:` is a partial input: checked against `input:` once that is known valid.
                with: if field == "input" {
                    raw_tool.with.clone()
                } else {
                    None
                },
            });
        }
    }
    let [input, output] = schemas;
    let env = env_map(raw_tool.env.as_ref(), file, problems);
    let mcp = super::mcp::tool_meta(
        &raw_tool.mcp,
        file,
        file.path.parent().unwrap_or(root),
        root,
        problems,
    );

    let ok = problems.0.len() == before && !raw_tool.misread;
    let tool = Tool {
        id: id.value.clone(),
        description: raw_tool.description,
        version,
        deprecated: raw_tool.deprecated,
        module,
        module_declared,
        command,
        timeout,
        input,
        output,
        with: raw_tool.with.map(|w| w.value.to_json()),
        config: raw_tool.config,
        env,
        declared,
        mcp,
    };
    Some((tool, ok))
}

/// `execute: {command: [...], protocol, persistent}`: the program resolved (relative to the YAML
/// file's directory when it names a path, else on PATH) and checked to be an executable file.
fn command(
    id: &str,
    raw: &Spanned<super::raw::RawCommand>,
    yaml_dir: &Path,
    root: &Path,
    file: &SourceFile,
    misread: bool,
    problems: &mut Problems,
) -> Option<super::Command> {
    let bad = |reason: &str, help: &str| ConfigError::BadExecute {
        id: id.to_owned(),
        reason: reason.to_owned(),
        help: help.to_owned(),
    };
    let value = &raw.value;
    if let Some(wasm) = &value.wasm {
        let program_keys =
            value.command.is_empty() && value.protocol.is_none() && value.persistent.is_none();
        if !program_keys {
            problems.push(at(
                bad(
                    "names both a program (`command:`) and a WebAssembly module (`wasm:`)",
                    "keep one: `command:` (with `protocol`, `persistent`) runs a program, \
                     `wasm:` (with `dirs`, `env`, `memory`) runs a module in compozy's sandbox",
                ),
                file,
                raw,
                "execute",
            ));
            return None;
        }
        return super::wasm::tool(id, wasm, Some(value), yaml_dir, root, file, problems);
    }
    if !value.dirs.is_empty() || !value.env.is_empty() || value.memory.is_some() {
        problems.push(at(
            bad(
                "gives `dirs`, `env` or `memory` to a program",
                "those grant a WebAssembly module (`wasm: ./x.wasm`) its sandbox; a program runs \
                 with the tool's whole environment (use the tool's `env:`), and can reach any file",
            ),
            file,
            raw,
            "execute",
        ));
        return None;
    }
    let protocol = match value.protocol.as_ref() {
        None => super::Protocol::Compozy,
        Some(p) if p.value == "compozy" => super::Protocol::Compozy,
        Some(p) if p.value == "stdio" => super::Protocol::Stdio,
        Some(p) => {
            let help = crate::suggest::did_you_mean(&p.value, ["compozy", "stdio"])
                .unwrap_or_else(|| "write `protocol: compozy` or `protocol: stdio`".into());
            problems.push(at(
                bad(&format!("has an unknown protocol `{}`", p.value), &help),
                file,
                p,
                "this protocol",
            ));
            return None;
        }
    };
    let persistent = value.persistent.as_ref().is_some_and(|p| p.value);
    if persistent
        && protocol == super::Protocol::Stdio
        && let Some(p) = &value.persistent
    {
        problems.push(at(
            bad(
                "asks for a persistent `stdio` process",
                "a `stdio` program answers one input and exits; remove `persistent: true`, or \
                 speak `protocol: compozy` to answer many requests",
            ),
            file,
            p,
            "persistent",
        ));
        return None;
    }
    let Some((program, args)) = value.command.split_first() else {
        if misread {
            // A misspelt `command` was reported as such.
            return None;
        }
        problems.push(at(
            bad(
                "has no `command:`",
                "name the program and its arguments, e.g. `command: [./bin/resize, --fast]` \
                 (relative to this YAML file)",
            ),
            file,
            raw,
            "execute",
        ));
        return None;
    };
    let written = program.value.as_str();
    let bad_command = |reason: &str, help: String| ConfigError::BadCommand {
        id: id.to_owned(),
        path: written.to_owned(),
        reason: reason.to_owned(),
        help,
    };
    let path = if written.contains('/') {
        Some(normalize(&yaml_dir.join(written)))
    } else {
        find_on_path(written)
    };
    let Some(path) = path.filter(|p| p.is_file()) else {
        let help = if written.contains('/') {
            format!(
                "paths are relative to the YAML file that declares the tool ({}); build the \
                 program or fix the path",
                file.name
            )
        } else {
            "install it, or name it by a path (`./bin/x`, relative to this YAML file)".into()
        };
        problems.push(at(
            bad_command("does not exist", help),
            file,
            program,
            "this command",
        ));
        return None;
    };
    if !is_executable(&path) {
        let help = format!("make it executable: chmod +x {}", path.display());
        problems.push(at(
            bad_command("is not executable", help),
            file,
            program,
            "this command",
        ));
        return None;
    }
    Some(super::Command {
        program: path,
        args: args.iter().map(|a| a.value.clone()).collect(),
        protocol,
        persistent,
        wasm: None,
    })
}

/// `name` in the directories of PATH.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file() && is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// Resolves `execute` relative to the YAML file's directory and checks that it stays inside the
/// project (symlinks included), exists, and is a module.
pub fn resolve_module(
    root: &Path,
    yaml_dir: &Path,
    execute: &str,
    dirs: &mut RealDirs,
) -> Result<ProjectPath, ConfigError> {
    let abs = normalize(&yaml_dir.join(execute));
    check_module_file(root, &abs, execute, false, dirs)?;
    let rel = abs
        .strip_prefix(root)
        .map(slash_path)
        .map_err(|_| ConfigError::OutsideRoot {
            path: execute.to_owned(),
        })?;
    Ok(ProjectPath { abs, rel })
}

/// Real (symlink-free) directories already resolved: one `canonicalize` per directory instead of
/// one per module, which matters with a thousand tools.
pub type RealDirs = HashMap<PathBuf, Option<PathBuf>>;

fn check_module_file(
    root: &Path,
    abs: &Path,
    written: &str,
    entrypoint: bool,
    dirs: &mut RealDirs,
) -> Result<(), ConfigError> {
    let path = written.to_owned();
    let outside = || {
        if entrypoint {
            ConfigError::EntrypointOutsideRoot { path: path.clone() }
        } else {
            ConfigError::OutsideRoot { path: path.clone() }
        }
    };
    let missing = || {
        if entrypoint {
            ConfigError::MissingEntrypoint { path: path.clone() }
        } else {
            ConfigError::MissingModule { path: path.clone() }
        }
    };
    if !abs.starts_with(root) {
        return Err(outside());
    }
    let (Some(parent), Some(name)) = (abs.parent(), abs.file_name()) else {
        return Err(missing());
    };
    let real_parent = dirs
        .entry(parent.to_path_buf())
        .or_insert_with(|| parent.canonicalize().ok())
        .clone()
        .ok_or_else(missing)?;
    let meta = std::fs::symlink_metadata(abs).map_err(|_| missing())?;
    let real = if meta.is_symlink() {
        abs.canonicalize().map_err(|_| missing())?
    } else {
        real_parent.join(name)
    };
    if !real.starts_with(root) {
        return Err(outside());
    }
    let is_file = if meta.is_symlink() {
        real.is_file()
    } else {
        meta.is_file()
    };
    if !is_file {
        return Err(missing());
    }
    let ext_ok = abs
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| MODULE_EXTENSIONS.contains(&e));
    if !ext_ok {
        return Err(ConfigError::BadExtension { path });
    }
    Ok(())
}
