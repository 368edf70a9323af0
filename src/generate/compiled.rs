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
        "compozy-project 2 {} {:016x}",
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
    auth: Option<crate::config::mcp::Auth>,
    #[serde(default)]
    plugins: Vec<crate::config::plugins::Plugin>,
    #[serde(default)]
    policies: Vec<crate::config::plugins::Policy>,
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
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    deprecated: Option<String>,
    module: Option<ProjectPath>,
    module_declared: Option<Place>,
    #[serde(default)]
    command: Option<crate::config::Command>,
    timeout: Option<Duration>,
    input: Option<Value>,
    output: Option<Value>,
    with: Option<Value>,
    config: Option<Value>,
    env: BTreeMap<String, String>,
    declared: Place,
    mcp: crate::config::mcp::ToolMeta,
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
            version: tool.version.as_ref().map(ToString::to_string),
            deprecated: tool.deprecated.clone(),
            module: tool.module.clone(),
            module_declared: tool.module_declared.as_ref().map(|d| place(&mut files, d)),
            command: tool.command.clone(),
            timeout: tool.timeout,
            input: tool.input.clone(),
            output: tool.output.clone(),
            with: tool.with.clone(),
            config: tool.config.clone(),
            env: tool.env.clone(),
            declared: place(&mut files, &tool.declared),
            mcp: tool.mcp.clone(),
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
        auth: project.auth.clone(),
        plugins: project.plugins.clone(),
        policies: project.policies.clone(),
        files,
        tools,
    };
    let mut bytes = format!("{}\n", magic()).into_bytes();
    serde_json::to_writer(&mut bytes, &head)?;
    bytes.push(b'\n');
    bytes.extend_from_slice(&blobs);
    crate::codegen::cache_dir(&project.root)?;
    crate::codegen::write_atomic(&location(&project.root), &bytes)
}

/// A stored project, read no further than its index.
pub struct Compiled {
    head: Head,
    file: std::fs::File,
    /// Where the blobs start in the file.
    blobs: u64,
}

/// The blobs a build reads: all of them at once for a whole project, else one read each (an
/// `exec` on 1,000 tools reads one record and one config file, not the 900 KiB of the others).
enum Blobs<'a> {
    All(Vec<u8>),
    Each(&'a Compiled),
}

impl Blobs<'_> {
    fn get(&self, range: &Range<usize>) -> Option<std::borrow::Cow<'_, [u8]>> {
        use std::os::unix::fs::FileExt;
        match self {
            Self::All(bytes) => bytes.get(range.clone()).map(std::borrow::Cow::Borrowed),
            Self::Each(compiled) => {
                let mut bytes = vec![0; range.len()];
                let at = compiled
                    .blobs
                    .checked_add(u64::try_from(range.start).ok()?)?;
                compiled.file.read_exact_at(&mut bytes, at).ok()?;
                Some(std::borrow::Cow::Owned(bytes))
            }
        }
    }
}

impl Compiled {
    /// Reads the stored project's index; `None` when there is none or it does not parse (the
    /// caller takes the full path). Call it only when the fingerprint says the project is fresh.
    pub fn load(root: &Path) -> Option<Self> {
        use std::io::{BufRead, Seek};
        let mut reader =
            std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(location(root)).ok()?);
        let mut line = Vec::new();
        reader.read_until(b'\n', &mut line).ok()?;
        if line.strip_suffix(b"\n")? != magic().as_bytes() {
            return None;
        }
        line.clear();
        reader.read_until(b'\n', &mut line).ok()?;
        let head: Head = serde_json::from_slice(line.strip_suffix(b"\n")?).ok()?;
        if head.root != root {
            return None;
        }
        let blobs = reader.stream_position().ok()?;
        Some(Self {
            head,
            file: reader.into_inner(),
            blobs,
        })
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
        let blobs = if tools.len() > 1 {
            use std::io::{Read, Seek, SeekFrom};
            let mut bytes = Vec::new();
            let mut file = &self.file;
            file.seek(SeekFrom::Start(self.blobs)).ok()?;
            file.read_to_end(&mut bytes).ok()?;
            Blobs::All(bytes)
        } else {
            Blobs::Each(self)
        };
        let mut files: Vec<Option<SourceFile>> = vec![None; self.head.files.len()];
        let mut file = |i: usize| -> Option<SourceFile> {
            if files.get(i)?.is_none() {
                let (path, name, range) = self.head.files.get(i)?;
                let text = String::from_utf8(blobs.get(range)?.into_owned()).ok()?;
                files[i] = Some(SourceFile {
                    path: path.clone(),
                    name: name.clone(),
                    text: Arc::new(text),
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
            let record: Record = serde_json::from_slice(&blobs.get(range)?).ok()?;
            let module_declared = match &record.module_declared {
                Some(p) => Some(declared(p)?),
                None => None,
            };
            out.push(Tool {
                id: id.clone(),
                description: record.description,
                version: match &record.version {
                    Some(v) => Some(semver::Version::parse(v).ok()?),
                    None => None,
                },
                deprecated: record.deprecated,
                module: record.module,
                module_declared,
                command: record.command,
                timeout: record.timeout,
                input: record.input,
                output: record.output,
                with: record.with,
                config: record.config,
                env: record.env,
                declared: declared(&record.declared)?,
                mcp: record.mcp,
            });
        }
        Some(Project {
            root: self.head.root.clone(),
            name: self.head.name.clone(),
            runtime: self.head.runtime.clone(),
            tools: out,
            config_files: self.head.config_files.clone(),
            config_dirs: self.head.config_dirs.clone(),
            auth: self.head.auth.clone(),
            plugins: self.head.plugins.clone(),
            policies: self.head.policies.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A project of three tools in two YAML files, checked by the real pipeline.
    fn stored_project() -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("tools")).unwrap();
        std::fs::write(
            root.join("compozy.yaml"),
            "tools:\n  - id: a\n    execute: ./a.ts\n    description: first\n",
        )
        .unwrap();
        std::fs::write(
            root.join("tools/more.yaml"),
            "tools:\n  - id: b\n    execute: ../a.ts\n    timeout: 2s\n    input:\n      type: object\n      properties: { n: { type: number } }\n  - id: c\n    execute: ../a.ts\n    env: { K: v }\n",
        )
        .unwrap();
        std::fs::write(root.join("a.ts"), "export function run() { return 1; }\n").unwrap();
        let root = root.canonicalize().unwrap();
        let generation = crate::prepare(Some(&root), &root).unwrap();
        save(&generation.project).unwrap();
        (dir, generation.project)
    }

    fn summary(tool: &Tool) -> String {
        format!(
            "{} {:?} {:?} {:?} {:?} {} {}:{}",
            tool.id,
            tool.description,
            tool.timeout,
            tool.input,
            tool.env,
            tool.declared.file.text.len(),
            tool.declared.line,
            tool.declared.column
        )
    }

    #[test]
    fn a_stored_project_reads_back_whole_or_one_tool_at_a_time() {
        let (_dir, project) = stored_project();
        let compiled = Compiled::load(&project.root).expect("the stored project loads");
        let whole = compiled.project().unwrap();
        let all: Vec<String> = whole.tools.iter().map(summary).collect();
        assert_eq!(all, project.tools.iter().map(summary).collect::<Vec<_>>());
        for tool in &project.tools {
            assert!(compiled.has(&tool.id));
            let one = compiled.project_with(&tool.id).unwrap();
            assert_eq!(
                one.tools.iter().map(summary).collect::<Vec<_>>(),
                [summary(tool)]
            );
            assert_eq!(one.config_files.len(), project.config_files.len());
        }
        assert!(!compiled.has("nope"));
        assert!(compiled.project_with("nope").is_none());
    }

    #[test]
    fn a_damaged_stored_project_is_not_trusted() {
        let (_dir, project) = stored_project();
        let path = location(&project.root);
        let bytes = std::fs::read(&path).unwrap();
        // Cut inside the blobs: the index still parses, a record does not.
        std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
        let compiled = Compiled::load(&project.root).expect("the index still reads");
        assert!(compiled.project().is_none());
        assert!(
            project
                .tools
                .iter()
                .any(|t| compiled.project_with(&t.id).is_none())
        );
        // A foreign first line.
        std::fs::write(&path, b"compozy-project 0 old\n{}\n").unwrap();
        assert!(Compiled::load(&project.root).is_none());
    }
}
