//! The validated project, stored after a successful generation so that `exec`, `serve` and `mcp`
//! on an unchanged project skip the YAML, the autoload walk and the schema checks: an `exec`
//! reads the fingerprint, this file, and nothing else of the project.
//!
//! `.compozy/.cache/project`: a magic line, one line of JSON (the runtime settings, the config
//! files and an index of the tools), then the tools' records (JSON) and the config files' texts
//! (for code frames) as blobs the index points into. A tool is parsed only when it is asked for.
//! The file is an output of the fingerprint, so a missing, edited or foreign copy makes the
//! project stale; a copy that does not parse is ignored, never trusted.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::codegen::OUTPUT_DIR;
use crate::config::{Declared, Project, ProjectPath, RuntimeConfig, Tool};
use crate::source::SourceFile;

const FILE: &str = "project";

fn magic() -> String {
    format!(
        "compozy-project 1 {} {:016x}",
        env!("CARGO_PKG_VERSION"),
        crate::codegen::TEMPLATES_HASH
    )
}

/// Where the compiled project is stored.
pub fn location(root: &Path) -> PathBuf {
    root.join(OUTPUT_DIR).join(".cache").join(FILE)
}

#[derive(Serialize, Deserialize)]
struct Head {
    root: PathBuf,
    name: Option<String>,
    runtime: RuntimeConfig,
    config_files: Vec<ProjectPath>,
    config_dirs: Vec<PathBuf>,
    /// Config files: path, shown name, where the text is.
    files: Vec<(PathBuf, String, Range<usize>)>,
    /// Tools sorted by id: id, where the record is.
    tools: Vec<(String, Range<usize>)>,
}

#[derive(Serialize, Deserialize)]
struct Place {
    file: usize,
    line: usize,
    column: usize,
}

#[derive(Serialize, Deserialize)]
struct Record {
    description: Option<String>,
    module: Option<ProjectPath>,
    module_declared: Option<Place>,
    timeout: Option<Duration>,
    input: Option<Value>,
    output: Option<Value>,
    with: Option<Value>,
    config: Option<Value>,
    env: BTreeMap<String, String>,
    declared: Place,
}

/// Writes `project` to the cache (best effort: a cache that cannot be written only costs speed).
pub fn save(project: &Project) -> std::io::Result<()> {
    /// Config files in the order first seen, and their indices by path.
    #[derive(Default)]
    struct Files<'a> {
        list: Vec<&'a SourceFile>,
        index: std::collections::HashMap<&'a Path, usize>,
    }
    fn place<'a>(files: &mut Files<'a>, d: &'a Declared) -> Place {
        let next = files.list.len();
        let file = *files.index.entry(&d.file.path).or_insert(next);
        if file == next {
            files.list.push(&d.file);
        }
        Place {
            file,
            line: d.line,
            column: d.column,
        }
    }
    let mut files = Files::default();
    let mut blobs: Vec<u8> = Vec::new();
    let mut tools = Vec::with_capacity(project.tools.len());
    for tool in &project.tools {
        let record = Record {
            description: tool.description.clone(),
            module: tool.module.clone(),
            module_declared: tool.module_declared.as_ref().map(|d| place(&mut files, d)),
            timeout: tool.timeout,
            input: tool.input.clone(),
            output: tool.output.clone(),
            with: tool.with.clone(),
            config: tool.config.clone(),
            env: tool.env.clone(),
            declared: place(&mut files, &tool.declared),
        };
        let start = blobs.len();
        serde_json::to_writer(&mut blobs, &record)?;
        tools.push((tool.id.clone(), start..blobs.len()));
    }
    let files = files
        .list
        .into_iter()
        .map(|f| {
            let start = blobs.len();
            blobs.extend_from_slice(f.text.as_bytes());
            (f.path.clone(), f.name.clone(), start..blobs.len())
        })
        .collect();
    let head = Head {
        root: project.root.clone(),
        name: project.name.clone(),
        runtime: project.runtime.clone(),
        config_files: project.config_files.clone(),
        config_dirs: project.config_dirs.clone(),
        files,
        tools,
    };
    let mut bytes = format!("{}\n", magic()).into_bytes();
    serde_json::to_writer(&mut bytes, &head)?;
    bytes.push(b'\n');
    bytes.extend_from_slice(&blobs);
    let path = location(&project.root);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::codegen::write_atomic(&path, &bytes)
}

/// A stored project, read but not yet parsed beyond its index.
pub struct Compiled {
    head: Head,
    bytes: Vec<u8>,
    /// Where the blobs start in `bytes`.
    blobs: usize,
}

impl Compiled {
    /// Reads the stored project of `root`; `None` when there is none or it does not parse (the
    /// caller takes the full path). Call it only when the fingerprint says the project is fresh.
    pub fn load(root: &Path) -> Option<Self> {
        let bytes = std::fs::read(location(root)).ok()?;
        let magic = magic();
        let rest = bytes.strip_prefix(magic.as_bytes())?.strip_prefix(b"\n")?;
        let head_len = rest.iter().position(|&b| b == b'\n')?;
        let head: Head = serde_json::from_slice(&rest[..head_len]).ok()?;
        let blobs = magic.len() + 1 + head_len + 1;
        if head.root != root {
            return None;
        }
        Some(Self { head, bytes, blobs })
    }

    fn blob(&self, range: &Range<usize>) -> Option<&[u8]> {
        self.bytes
            .get(self.blobs + range.start..self.blobs + range.end)
    }

    /// Whether the project has a tool with this id.
    pub fn has(&self, id: &str) -> bool {
        self.index(id).is_some()
    }

    fn index(&self, id: &str) -> Option<usize> {
        self.head
            .tools
            .binary_search_by(|(t, _)| t.as_str().cmp(id))
            .ok()
    }

    /// The project with every tool (for `serve` and `mcp`).
    pub fn project(&self) -> Option<Project> {
        self.build(0..self.head.tools.len())
    }

    /// The project with only the tool `id` (for `exec`); `None` when there is no such tool.
    pub fn project_with(&self, id: &str) -> Option<Project> {
        let i = self.index(id)?;
        self.build(i..i + 1)
    }

    fn build(&self, tools: Range<usize>) -> Option<Project> {
        let mut files: Vec<Option<SourceFile>> = vec![None; self.head.files.len()];
        let mut file = |i: usize| -> Option<SourceFile> {
            if files.get(i)?.is_none() {
                let (path, name, range) = self.head.files.get(i)?;
                let text = std::str::from_utf8(self.blob(range)?).ok()?;
                files[i] = Some(SourceFile {
                    path: path.clone(),
                    name: name.clone(),
                    text: Arc::new(text.to_owned()),
                });
            }
            files[i].clone()
        };
        let mut declared = |p: &Place| -> Option<Declared> {
            Some(Declared {
                file: file(p.file)?,
                line: p.line,
                column: p.column,
            })
        };
        let mut out = Vec::with_capacity(tools.len());
        for (id, range) in &self.head.tools[tools] {
            let record: Record = serde_json::from_slice(self.blob(range)?).ok()?;
            let module_declared = match &record.module_declared {
                Some(p) => Some(declared(p)?),
                None => None,
            };
            out.push(Tool {
                id: id.clone(),
                description: record.description,
                module: record.module,
                module_declared,
                timeout: record.timeout,
                input: record.input,
                output: record.output,
                with: record.with,
                config: record.config,
                env: record.env,
                declared: declared(&record.declared)?,
            });
        }
        Some(Project {
            root: self.head.root.clone(),
            name: self.head.name.clone(),
            runtime: self.head.runtime.clone(),
            tools: out,
            config_files: self.head.config_files.clone(),
            config_dirs: self.head.config_dirs.clone(),
        })
    }
}
