//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Environment:
  COMPOZY_PROJECT            the project directory, as --project
  COMPOZY_COLOR              auto, always or never, as --color
  NO_COLOR                   no color under `--color auto`
  RUST_LOG                   log filter, over -v/-q (e.g. compozy=debug)
  COMPOZY_BUN, COMPOZY_NODE  the runtime binary (else PATH, then node_modules/.bin)
  COMPOZY_MAX_RESULT_BYTES   largest result of a tool (default 64 MiB)
  COMPOZY_MAX_LOG_BYTES      most output of a tool per call (default 16 MiB)
  COMPOZY_MAX_REQUEST_BYTES  largest `compozy mcp` request line (default 16 MiB)
  COMPOZY_WORKER_IDLE        how long a pool worker beyond the warm ones may idle before it is
                             stopped (serve, mcp, watch --serve; default 60s)
  COMPOZY_WARM_WORKERS       pool workers started at once and never stopped for idling
                             (default 1; set it to --workers to start them all at once)
  COMPOZY_MCP_HEARTBEAT      `compozy mcp`: progress heartbeat interval (default 10s, 0: none)
  COMPOZY_FORWARD            `off`: exec never forwards to a running server of the project;
                             `require`: a call that cannot be forwarded fails (exit 1)
  XDG_RUNTIME_DIR            where servers' sockets and the built-in policies' state live
                             ($XDG_RUNTIME_DIR/compozy, else /tmp/compozy-UID)
  TRACEPARENT                exec: the caller's W3C trace context, for the tool's
                             ctx.traceparent

Exit codes:
  0    success
  1    the tool failed or a rate limit refused the call, `gen --check` found stale output,
       or `migrate --check` found something to migrate
  2    usage, configuration or generation error
  101  compozy crashed (a bug: it asks for a report)
  124  the tool timed out
  127  the runtime (bun or node) was not found or is too old, or a process tool's program
       could not be started
  130  interrupted (SIGINT/SIGTERM); the tool's processes were stopped (or never started,
       while waiting under a concurrency cap)";

/// Generate, check and run TypeScript tool projects on Bun or Node.
#[derive(Debug, Parser)]
#[command(name = "compozy", version, about, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Args {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

impl Args {
    /// Parses the command line, or prints the usage error and exits 2. An unknown subcommand
    /// gets the closest one also where clap finds none (`gne` → `gen`).
    pub fn parse_or_exit() -> Self {
        use clap::error::{ContextKind, ContextValue, ErrorKind};
        use clap::{CommandFactory, Parser};
        let mut error = match Self::try_parse() {
            Ok(args) => return args,
            Err(error) => error,
        };
        if error.kind() == ErrorKind::InvalidSubcommand
            && error.get(ContextKind::SuggestedSubcommand).is_none()
            && let Some(ContextValue::String(wanted)) = error.get(ContextKind::InvalidSubcommand)
        {
            let command = Self::command();
            let names = command.get_subcommands().map(clap::Command::get_name);
            let found: Vec<String> = crate::suggest::closest(wanted, names)
                .into_iter()
                .map(str::to_owned)
                .collect();
            if !found.is_empty() {
                error.insert(
                    ContextKind::SuggestedSubcommand,
                    ContextValue::Strings(found),
                );
            }
        }
        error.exit()
    }
}

/// Options every command takes.
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// More output (-v: progress, -vv: debug, -vvv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less output (-q: no warnings).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,
    /// When to use colors (NO_COLOR is honoured by `auto`).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true, env = "COMPOZY_COLOR")]
    pub color: ColorChoice,
}

/// When to color output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Color when writing to a terminal and NO_COLOR is not set.
    Auto,
    /// Always color.
    Always,
    /// Never color.
    Never,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Human,
    /// One JSON document on stdout.
    Json,
}

/// The project to work on.
#[derive(Debug, Clone, clap::Args)]
pub struct ProjectArg {
    /// Project directory: the nearest compozy.yaml in DIR or above it, as from `cd DIR`
    /// [default: the current directory].
    #[arg(long, value_name = "DIR", env = "COMPOZY_PROJECT")]
    pub project: Option<PathBuf>,
}

/// compozy's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the tool configs and modules, then write .compozy/ (entrypoint, types, workers).
    Gen(GenArgs),
    /// Run one tool through the generated worker on bun or node and print its result as JSON.
    Exec(ExecArgs),
    /// Keep a warm pool of workers answering newline-delimited JSON requests on stdin.
    Serve(ServeArgs),
    /// Regenerate .compozy/ on every relevant change (--serve: also serve, hot-reloading).
    Watch(WatchArgs),
    /// Show what compozy sees: a project's tools and modules' exports.
    Inspect(InspectArgs),
    /// Serve every tool as a Model Context Protocol server (stdio, or Streamable HTTP).
    Mcp(McpArgs),
    /// Start, stop or show the background server that `exec` forwards its calls to.
    Daemon(DaemonArgs),
    /// Write a working project (compozy.yaml, one tool) into DIR, or the current directory.
    Init(InitArgs),
    /// Make a Deno-era Compozy project (deno.json, npm:, Deno APIs) run on Bun and Node.
    Migrate(MigrateArgs),
    /// Print the completion script for a shell.
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write one page per command into a directory.
    Man(ManArgs),
}

/// `compozy daemon`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
`compozy exec` sends its call to a running server of the project when one listens: `daemon
start`, or `serve`, `mcp` and `watch --serve` (unless --no-listen). The server answers only for
the code of the project's current files and only its own user; otherwise exec runs one-shot
(-v says why). COMPOZY_FORWARD=off keeps exec one-shot.")]
pub struct DaemonArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: DaemonAction,
}

/// `compozy daemon start|stop|status`.
#[derive(Debug, Subcommand)]
pub enum DaemonAction {
    /// Start a background server of the project (watching it, reloading on every change).
    Start(DaemonStartArgs),
    /// Stop the project's server (a `daemon start`, or a `serve`, `mcp`, `watch --serve`).
    Stop(DaemonProjectArgs),
    /// Show whether a server of the project listens (exit 1 when none does).
    Status(DaemonProjectArgs),
    /// Be the background server (what `daemon start` runs).
    #[command(hide = true)]
    Run(DaemonStartArgs),
}

/// `compozy daemon stop|status`.
#[derive(Debug, clap::Args)]
pub struct DaemonProjectArgs {
    /// Project selection.
    #[command(flatten)]
    pub project: ProjectArg,
}

/// `compozy daemon start`.
#[derive(Debug, clap::Args)]
pub struct DaemonStartArgs {
    /// Project selection.
    #[command(flatten)]
    pub project: ProjectArg,
    /// Most workers at once (default: the number of cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(usize))]
    pub workers: Option<usize>,
    /// Run on this runtime instead of `runtime.type`.
    #[arg(long, value_enum)]
    pub runtime: Option<RuntimeArg>,
}

/// `compozy init`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Writes compozy.yaml, tools/hello.yaml and tools/hello.ts, and adds .compozy/.cache/ and
node_modules/ to .gitignore (the lines it lacks).
Existing files are never overwritten: if any of them exists, nothing is written (exit 2).
Also writes a package.json (\"type\": \"module\") and a tsconfig.json for the typed tools
(`npm i -D typescript`, `compozy gen`, `npx tsc`), each only where there is none.")]
pub struct InitArgs {
    /// The project directory (created when missing).
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

/// `compozy migrate`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
What it changes:
  - a tool declared only through deno.json's import map gets `execute:` (a line added under its
    `id:`; comments and layout are kept);
  - `npm:pkg@1.2.3/sub` becomes `pkg/sub`, with `\"pkg\": \"1.2.3\"` added to package.json (created,
    with \"type\": \"module\", when missing); the version comes from deno.lock when the specifier
    has none;
  - Deno APIs with an exact Node/Bun equivalent are rewritten (Deno.env.get(k) -> process.env[k],
    Deno.readTextFile(p) -> readFile(p, \"utf8\") from node:fs/promises, ...; the README has the
    table); each `node:` import is added once.
Everything else Deno-only (other Deno APIs, jsr: and https:// imports, a tool whose module
cannot be found) is reported with its file:line and what to do; with any error nothing is
written. Files are written atomically, nothing is deleted (deno.json stays), and a second run
changes nothing. Exit: 0 done or nothing to do, 1 --check found something to migrate, 2 errors.")]
pub struct MigrateArgs {
    /// Project selection.
    #[command(flatten)]
    pub project: ProjectArg,
    /// Write nothing; exit 1 with a unified diff when there is something to migrate.
    #[arg(long)]
    pub check: bool,
}

/// `compozy completions`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  compozy completions bash > ~/.local/share/bash-completion/completions/compozy
  compozy completions zsh > ~/.zfunc/_compozy        # with fpath+=~/.zfunc before compinit
  compozy completions fish > ~/.config/fish/completions/compozy.fish")]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_name = "SHELL", value_enum)]
    pub shell: clap_complete::Shell,
}

/// `compozy man`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  compozy man | man -l -
  compozy man --dir /usr/local/share/man/man1")]
pub struct ManArgs {
    /// Write compozy.1 and one page per command (compozy-gen.1, …) into DIR instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `compozy mcp`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
A host config that runs it (Claude Code, Claude Desktop, Cursor, VS Code):
  {\"command\": \"compozy\", \"args\": [\"mcp\", \"--project\", \"/path/to/project\"]}

Over stdio (the default), stdout carries nothing but JSON-RPC and stdin closing ends the server
(exit 0). With --http, stdin is not read: the server runs until SIGINT/SIGTERM (exit 130). Logs
go to stderr.

Over HTTP, `auth:` in compozy.yaml requires a bearer token (static tokens from the environment,
or JWTs checked against a JWKS; per-tool `scopes:`) and serves the OAuth protected-resource
metadata at /.well-known/oauth-protected-resource. On an address other than loopback the server
does not start without `auth:` or --no-auth.

While a call that carries a progress token runs without reporting progress, compozy sends a
`notifications/progress` every COMPOZY_MCP_HEARTBEAT (default 10s; 0 turns it off), so that
clients which reset their timeout on progress keep waiting.

A tool declared `returns: content` answers with its own content blocks (text, image, audio,
resource_link, resource) and `structuredContent`.")]
pub struct McpArgs {
    /// Project selection.
    #[command(flatten)]
    pub project: ProjectArg,
    /// Run on this runtime instead of `runtime.type` (process tools run on their own programs).
    #[arg(long, value_enum)]
    pub runtime: Option<RuntimeArg>,
    /// Most workers at once (default: the number of cores). One starts with the server, the
    /// others when calls overlap; one idle for 60s (COMPOZY_WORKER_IDLE) beyond the first stops.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(usize))]
    pub workers: Option<usize>,
    /// Regenerate on every change, reload the workers and tell clients when the tool list changes.
    #[arg(long)]
    pub watch: bool,
    /// Serve Streamable HTTP at http://ADDR/mcp instead of stdio (e.g. 127.0.0.1:8808; port 0
    /// picks a free one and prints it). With `auth:` in compozy.yaml, every request needs a
    /// bearer token; on an address other than loopback, `auth:` or --no-auth is required.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// With --http: check no token even where `auth:` is set or the address is not loopback
    /// (for a server behind a proxy that decides who may reach it).
    #[arg(long, requires = "http")]
    pub no_auth: bool,
    /// Do not answer `compozy exec` of this project over its socket (see `compozy daemon`).
    #[arg(long)]
    pub no_listen: bool,
}

/// `compozy watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Project selection.
    #[command(flatten)]
    pub project: ProjectArg,
    /// Also serve requests on stdin (as `compozy serve`), reloading workers after each change.
    #[arg(long)]
    pub serve: bool,
    /// With --serve: most workers at once (default: the number of cores). One starts with the
    /// server, the others when calls overlap; one idle for 60s (COMPOZY_WORKER_IDLE) beyond the
    /// first stops.
    #[arg(long, value_name = "N", requires = "serve")]
    pub workers: Option<usize>,
    /// With --serve: run on this runtime instead of `runtime.type`.
    #[arg(long, value_enum, requires = "serve")]
    pub runtime: Option<RuntimeArg>,
    /// Do not answer `compozy exec` of this project over its socket (see `compozy daemon`).
    #[arg(long)]
    pub no_listen: bool,
}

/// `compozy serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Requests: one JSON object per line on stdin; only tool_id is required (ID@MAJOR names one
major version of a tool kept in several; the id alone is the newest).
  {\"id\": 1, \"tool_id\": \"math.add\", \"input\": {\"a\": 1, \"b\": 2}}
  optional: tool_exec_id, config (instead of the tool's config:), env ({\"K\": \"V\"}), timeout_ms,
  traceparent (a W3C trace context: the parent of the call's span, the tool's ctx.traceparent)
  {\"cancel\": \"<tool_exec_id>\"} stops that call (it answers CancelledError; a queued one never
  starts); the line itself gets no answer

Answers: one JSON line each on stdout, matched by id (out of order when --workers > 1).
  {\"id\": 1, \"result\": 3, \"error\": null, \"metadata\": {\"tool_id\": \"math.add\",
   \"tool_exec_id\": \"…\", \"execution_time_ms\": 0.9}}
  error: null, or {\"name\", \"message\", \"stack\", …}; name is InvalidRequestError,
  UnknownToolError, InvalidInputError, InvalidOutputError, TimeoutError, WorkerExitedError,
  LimitExceededError, RateLimitedError, CancelledError, PluginError, or the class of what the
  tool threw.

Closing stdin answers everything in flight, then exits 0. Logs go to stderr.")]
pub struct ServeArgs {
    /// Project selection.
    #[command(flatten)]
    pub project: ProjectArg,
    /// Most workers at once (default: the number of cores). One starts with the server, the
    /// others when calls overlap; one idle for 60s (COMPOZY_WORKER_IDLE) beyond the first stops.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(usize))]
    pub workers: Option<usize>,
    /// Run on this runtime instead of `runtime.type`.
    #[arg(long, value_enum)]
    pub runtime: Option<RuntimeArg>,
    /// Do not answer `compozy exec` of this project over its socket (see `compozy daemon`).
    #[arg(long)]
    pub no_listen: bool,
}

/// A runtime choice on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeArg {
    /// Bun.
    Bun,
    /// Node (22.6 or newer).
    Node,
}

impl From<RuntimeArg> for crate::config::RuntimeKind {
    fn from(arg: RuntimeArg) -> Self {
        match arg {
            RuntimeArg::Bun => Self::Bun,
            RuntimeArg::Node => Self::Node,
        }
    }
}

/// `compozy exec`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
When a server of the project is running (`compozy daemon start`, or `serve`, `mcp`,
`watch --serve`), the call is forwarded to its warm pool, with the same result, output and exit
code; otherwise, or when it cannot answer for the project's current files, it runs one-shot
(-v says which). COMPOZY_FORWARD=off keeps it one-shot.

A tool kept in several major versions side by side (two declarations of one id whose `version:`
differ in their major): TOOL_ID runs the newest, TOOL_ID@MAJOR (weather@1) the major asked for.
A major that does not exist exits 2, listing those that do.")]
pub struct ExecArgs {
    /// The tool's id; ID@MAJOR for one major version of a tool kept in several.
    #[arg(value_name = "TOOL_ID")]
    pub tool_id: String,
    /// Project selection.
    #[command(flatten)]
    pub project: ProjectArg,
    /// The input as JSON (default: read from stdin when it is not a terminal, else `{}`).
    #[arg(long, value_name = "JSON", conflicts_with = "input_file")]
    pub input: Option<String>,
    /// Read the input JSON from a file (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub input_file: Option<PathBuf>,
    /// The tool's config (2nd argument) as JSON, instead of `config:` from the YAML.
    #[arg(long, value_name = "JSON")]
    pub config: Option<String>,
    /// Set an environment variable for the tool (repeatable; highest precedence).
    #[arg(long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Deadline, such as 500ms, 30s or 2m (default: the tool's `timeout:`, then the runtime's).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Run on this runtime instead of `runtime.type`.
    #[arg(long, value_enum)]
    pub runtime: Option<RuntimeArg>,
}

/// `compozy gen`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Writes .compozy/tools.ts (the entrypoint, in generated-entrypoint mode), .compozy/types.ts (every
tool's input, output and config types), .compozy/bun_worker.ts and .compozy/node_worker.mjs, each
only when its content changed; files it generated before and no longer does are removed. Also
writes compozy.lock (every tool's version and interface, to commit) and refuses a breaking change
to a tool within one major version (exit 2, with a value that breaks): see README, Tool versioning.")]
pub struct GenArgs {
    /// Project selection.
    #[command(flatten)]
    pub project: ProjectArg,
    /// Write nothing; exit 1 with a diff when .compozy/ or compozy.lock is stale (for pre-commit
    /// and CI).
    #[arg(long)]
    pub check: bool,
    /// Output format of the report and diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// `compozy inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Project selection.
    #[command(flatten)]
    pub project: ProjectArg,
    /// Modules to inspect (exports as a runtime sees them, and type-only names).
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Show the environment this tool would run with, and where each variable comes from
    /// (values not declared in the project are masked).
    #[arg(long = "env", value_name = "TOOL_ID")]
    pub env: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}
