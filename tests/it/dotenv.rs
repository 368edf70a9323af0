//! Differential tests: `env::dotenv::load` against the pinned `bun` binary.
//!
//! Each scenario writes a set of `.env` files into a fresh directory, runs the
//! real `bun` there with a cleared environment plus a few chosen variables, and
//! requires the variables Bun took from the files to be exactly what `load`
//! returns for the same files in Bun's order for the same mode.

use compozy::env::dotenv::{self, Mode};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const SCRIPT: &str = "print-env.ts";

struct Scenario {
    name: &'static str,
    files: &'static [(&'static str, &'static [u8])],
    process: &'static [(&'static str, &'static str)],
}

/// Process variables most scenarios start from: one to expand, one set but empty.
const PROC: &[(&str, &str)] = &[("PROC", "from-process"), ("EMPTY", "")];

const ALL_FILES: &[(&str, &[u8])] = &[
    (".env", b"WHO=.env\nIN_ENV=1\nPROC=from-file\n"),
    // Setting NODE_ENV in a file does not change which files Bun picks.
    (
        ".env.local",
        b"WHO=.env.local\nIN_LOCAL=1\nNODE_ENV=production\n",
    ),
    (
        ".env.development",
        b"WHO=.env.development\nIN_DEVELOPMENT=1\n",
    ),
    (
        ".env.development.local",
        b"WHO=.env.development.local\nIN_DEVELOPMENT_LOCAL=1\n",
    ),
    (".env.production", b"WHO=.env.production\nIN_PRODUCTION=1\n"),
    (
        ".env.production.local",
        b"WHO=.env.production.local\nIN_PRODUCTION_LOCAL=1\n",
    ),
    (".env.test", b"WHO=.env.test\nIN_TEST=1\n"),
    (".env.test.local", b"WHO=.env.test.local\nIN_TEST_LOCAL=1\n"),
];

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "value syntax",
        files: &[
            (
                ".env",
                br#"# a full-line comment
   # an indented comment
SINGLE='single quoted'
DOUBLE="double quoted"
BACKTICK=`backtick quoted`
EMPTY_VALUE=
EMPTY_DOUBLE=""
EMPTY_SINGLE=''
NO_EQUALS
export EXPORTED=1
export  EXPORTED_SPACES = 2
export=named export
exportX=4
COLON: colon value
COLON_NO_SPACE:nope
EQUALS_IN_VALUE=a=b=c
=starts with equals
BAD KEY=1
BAD$KEY=1
dotted.key-name=ok
9LEADING_DIGIT=ok
lower_case=ok
TRAILING_COMMENT=value # comment
HASH_NO_SPACE=value#not a comment?
ONLY_HASH=#
QUOTED_HASH="a # b" # comment
QUOTED_HASH_TIGHT='a#b'#comment
AFTER_QUOTE="kept" dropped
AFTER_QUOTE_TIGHT="kept"dropped
FIRST_QUOTE_WINS='it''s'
INNER_QUOTES="it's 'fine'"
MIDDLE_QUOTE=a"b"c
UNCLOSED_AT_EOL=`never closed
AFTER_UNCLOSED=still parsed
NEXT_LINE_QUOTED=
"on the next line"
NEXT_LINE_PLAIN=
not a value
KEY_THEN_NEWLINE
=joined
DUPLICATE=first
DUPLICATE=second
"#,
            ),
            // Whitespace-sensitive lines, escaped so that they stay visible.
            (
                ".env.local",
                b"PLAIN=hello world   \nNO_EQUALS_SPACE \n  SPACED_KEY   =   spaced value   \n\
                  \tTABBED\t=\ttabbed\t\nexport\tEXPORTED_TAB=3\nVT_FF=\x0b\x0cv\x0b\x0c\n\
                  \x0b\x0cVT_FF_KEY=1\nNBSP_IS_NOT_SPACE=\xC2\xA0v\xC2\xA0\n",
            ),
        ],
        process: PROC,
    },
    Scenario {
        name: "escapes and multi-line values",
        files: &[(
            ".env",
            br#"D_ESC="n:\n t:\t bs:\\ q:\" d:\$ r:\r s:\' x:\x"
S_ESC='n:\n t:\t bs:\\ q:\" d:\$ s:\' x:\x'
B_ESC=`n:\n t:\t bs:\\ q:\" d:\$ b:\` x:\x`
U_ESC=n:\n t:\t bs:\\ q:\" d:\$ x:\x
D_MULTI="line one
  line two
line three"
S_MULTI='one
two'
B_MULTI=`one
two`
SPANS="starts here
SWALLOWED=1
ENDS="at the next quote" rest of that line
AFTER_SPAN=1
"#,
        )],
        process: PROC,
    },
    Scenario {
        name: "expansion",
        files: &[(
            ".env",
            br#"FROM_PROC=$PROC
FROM_PROC_BRACES=${PROC}
IN_WORDS=x${PROC}y$PROC.z
UNDEFINED=[$NOPE][${NOPE}]
ESCAPED=\$PROC \${PROC}
DOUBLE_ESCAPE=\\$PROC
IN_SINGLE='$PROC'
IN_DOUBLE="$PROC"
IN_BACKTICK=`$PROC`
DEFAULT_UNSET=${NOPE:-fallback}
DEFAULT_SET=${PROC:-fallback}
DEFAULT_EMPTY=${EMPTY:-fallback}
EMPTY_PLAIN=[$EMPTY]
DEFAULT_NESTED=${NOPE:-${ALSO_NOPE:-${PROC}}}
DEFAULT_BRACES=${NOPE:-{x}}
DEFAULT_ESCAPED=${NOPE:-a\}b}
DEFAULT_WITHOUT_BRACES=$NOPE:-x
OTHER_OPERATORS=${NOPE-x}|${NOPE:=x}|${NOPE:+x}
NOT_A_NAME=${ PROC }|${A.B}|$ x|a$|$|$$
EMPTY_NAME=[${}][${:-d}]
UNCLOSED=${PROC $PROC
UNCLOSED_NESTED=${NOPE:-${PROC} $PROC
DIGITS=$1x|${2}
SELF=$SELF.more
SAME_FILE=$LATER|$EARLIER
EARLIER=early
LATER=$EARLIER-late
CHAIN=$CHAIN_B
CHAIN_B=$CHAIN_C
CHAIN_C=end
REDEFINED_USE=$REDEFINED
REDEFINED=one
REDEFINED=two
PROC=ignored
USES_PROC=$PROC
"#,
        )],
        process: &[("PROC", "from-process"), ("EMPTY", ""), ("HAS_DOLLAR", "$PROC")],
    },
    Scenario {
        name: "expansion across files",
        files: &[
            (".env", b"LOW=low\nLOW_SEES_HIGH=$HIGH\nLOW_SEES_MID=${MID}\n"),
            (".env.development", b"MID=mid\nMID_SEES_LOW=[$LOW]\nMID_SEES_HIGH=$HIGH_EXPANDED\n"),
            (".env.local", b"HIGH=high\nHIGH_SEES_LOW=[$LOW]\nHIGH_EXPANDED=$HIGH+$HAS_DOLLAR\n"),
            (".env.development.local", b"TOP=${LOW:-no-low}|${HIGH:-no-high}\nHIGH=from-top\n"),
        ],
        process: &[("HAS_DOLLAR", "$PROC")],
    },
    Scenario {
        name: "precedence, development",
        files: ALL_FILES,
        process: PROC,
    },
    Scenario {
        name: "precedence, NODE_ENV=production",
        files: ALL_FILES,
        process: &[("NODE_ENV", "production"), ("PROC", "from-process")],
    },
    Scenario {
        name: "precedence, NODE_ENV=test",
        files: ALL_FILES,
        process: &[("NODE_ENV", "test")],
    },
    Scenario {
        name: "precedence, BUN_ENV=test over NODE_ENV=production",
        files: ALL_FILES,
        process: &[("BUN_ENV", "test"), ("NODE_ENV", "production")],
    },
    Scenario {
        name: "precedence, empty BUN_ENV hides NODE_ENV",
        files: ALL_FILES,
        process: &[("BUN_ENV", ""), ("NODE_ENV", "production")],
    },
    Scenario {
        name: "precedence, mode names are case-sensitive",
        files: ALL_FILES,
        process: &[("NODE_ENV", "Production")],
    },
    Scenario {
        name: "process variables win, even empty ones",
        files: &[
            (".env", b"SET=file\nEMPTY=file\nUNSET=file\n"),
            (".env.local", b"EMPTY=local\n"),
        ],
        process: &[("SET", "process"), ("EMPTY", "")],
    },
    Scenario {
        name: "line endings",
        files: &[
            (".env", b"CRLF=1\r\nCRLF_QUOTED=\"a\r\nb\"\r\nCRLF_COMMENT=2 # c\r\nCRLF_EMPTY=\r\nLAST=3\r\n"),
            (".env.local", b"CR=1\rCR_QUOTED='a\rb'\rCR_LAST=2"),
            (".env.development", b"NO_FINAL_NEWLINE=yes"),
        ],
        process: &[],
    },
    Scenario {
        name: "byte order marks",
        files: &[
            (".env", b"\xEF\xBB\xBFBOM_FIRST=1\nSECOND=2\n\xEF\xBB\xBFBOM_MID=3\nBOM_VALUE=\xEF\xBB\xBFx\n"),
            (".env.local", b"\xEF\xBB\xBF"),
        ],
        process: &[],
    },
    Scenario {
        name: "non-ASCII and invalid UTF-8",
        files: &[(
            ".env",
            b"CYRILLIC=\xD0\x9F\xD0\x95\xD0\xA2\xD0\xA0\nNBSP=\xC2\xA0x\xC2\xA0\nLONE_LEAD=a\xC3\nBAD=a\xFFb\nSURROGATE=\xED\xA0\x80x\nNUL=a\x00b\n\xC2\xA0NBSP_KEY=1\n",
        )],
        process: &[],
    },
    Scenario {
        name: "bytes joined across files by expansion",
        files: &[
            (".env.local", b"LEAD=\xC3\n"),
            (".env", b"JOINED=${LEAD}\xA9\n"),
        ],
        process: &[],
    },
    Scenario {
        name: "empty files",
        files: &[(".env", b""), (".env.local", b"\n\n  \t\n# only a comment")],
        process: PROC,
    },
];

fn bun() -> PathBuf {
    let path = std::env::var_os("COMPOZY_TEST_BUN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/.bin/bun"),
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "the pinned bun binary is missing at {}: run `npm ci` in the repository root \
         (or point COMPOZY_TEST_BUN at a bun 1.4.5 binary)",
        path.display()
    );
    path
}

fn owned(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Runs bun in `dir` with exactly `process` as its environment and returns its `process.env`.
fn bun_env(dir: &Path, process: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    std::fs::write(
        dir.join(SCRIPT),
        "process.stdout.write(JSON.stringify(process.env));\n",
    )
    .expect("write the env-printing script");
    let output = Command::new(bun())
        .arg(SCRIPT)
        .current_dir(dir)
        .env_clear()
        .envs(process)
        .output()
        .expect("spawn bun");
    assert!(
        output.status.success(),
        "bun failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "bun printed something that is not a JSON object of strings ({err}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn write_files(dir: &Path, files: &[(&str, &[u8])]) {
    for (name, contents) in files {
        std::fs::write(dir.join(name), contents).expect("write a fixture file");
    }
}

/// Compares one scenario; returns a readable report of the differences, if any.
fn check(name: &str, files: &[(&str, &[u8])], process: &[(&str, &str)]) -> Option<String> {
    let dir = tempfile::tempdir().expect("create a temp dir");
    write_files(dir.path(), files);
    let process = owned(process);

    let seen = bun_env(dir.path(), &process);
    let mut report = Vec::new();
    for name in process.keys() {
        if !seen.contains_key(name) {
            report.push(format!("  process variable {name} vanished under bun"));
        }
    }
    // Bun adds nothing of its own (see `bun_adds_no_variables_of_its_own`),
    // so whatever is new or changed came from a file.
    let from_bun: BTreeMap<&String, &String> = seen
        .iter()
        .filter(|(name, value)| process.get(*name) != Some(*value))
        .collect();

    let mode = Mode::from_env(
        process.get("BUN_ENV").map(String::as_str),
        process.get("NODE_ENV").map(String::as_str),
    );
    let names = dotenv::default_files(mode);
    let paths: Vec<PathBuf> = names.iter().map(|name| dir.path().join(name)).collect();
    let ours = dotenv::load(&paths, &process).expect("load the fixture files");

    let all: BTreeSet<&String> = from_bun.keys().copied().chain(ours.keys()).collect();
    for var in all {
        let theirs = from_bun.get(var).copied();
        let mine = ours.get(var).map(|(value, _)| value);
        if theirs != mine {
            report.push(format!(
                "  {var}:\n    bun:  {theirs:?}\n    ours: {mine:?}"
            ));
        }
    }
    // Where a value names a file, it must be reported as coming from that file.
    for (var, (value, index)) in &ours {
        let expected = names.iter().position(|file| file == value);
        if expected.is_some_and(|expected| expected != *index) {
            report.push(format!(
                "  {var}={value:?} is said to come from {:?}",
                names.get(*index)
            ));
        }
    }

    (!report.is_empty()).then(|| {
        let files: Vec<String> = files
            .iter()
            .map(|(file, text)| format!("  {file}: {:?}", String::from_utf8_lossy(text)))
            .collect();
        format!(
            "scenario {name:?} (mode {mode:?}, process {process:?})\nfiles:\n{}\ndifferences:\n{}",
            files.join("\n"),
            report.join("\n")
        )
    })
}

#[test]
fn bun_adds_no_variables_of_its_own() {
    let dir = tempfile::tempdir().expect("create a temp dir");
    for process in [&[][..], PROC, &[("NODE_ENV", "test")][..]] {
        let process = owned(process);
        assert_eq!(bun_env(dir.path(), &process), process);
    }
}

#[test]
fn load_matches_bun_in_every_scenario() {
    let failures: Vec<String> = SCENARIOS
        .iter()
        .filter_map(|scenario| check(scenario.name, scenario.files, scenario.process))
        .collect();
    assert!(
        failures.is_empty(),
        "dotenv::load differs from bun in {} of {} scenarios:\n\n{}",
        failures.len(),
        SCENARIOS.len(),
        failures.join("\n\n")
    );
}

#[test]
fn a_directory_named_like_an_env_file_is_skipped() {
    let dir = tempfile::tempdir().expect("create a temp dir");
    std::fs::create_dir(dir.path().join(".env")).expect("create .env as a directory");
    write_files(dir.path(), &[(".env.local", b"FROM_LOCAL=1\n")]);
    let process = BTreeMap::new();
    let seen = bun_env(dir.path(), &process);
    let paths: Vec<PathBuf> = dotenv::default_files(Mode::Development)
        .iter()
        .map(|name| dir.path().join(name))
        .collect();
    let ours: BTreeMap<String, String> = dotenv::load(&paths, &process)
        .expect("a directory is skipped, not an error")
        .into_iter()
        .map(|(name, (value, _))| (name, value))
        .collect();
    assert_eq!(ours, seen);
}

#[test]
fn deeply_nested_defaults_match_bun() {
    // Bun keeps defaults nested past a fixed depth verbatim; probe both sides of it.
    let mut failures = Vec::new();
    for depth in [200, 201, 202] {
        let value = format!(
            "{}\\$PROC $PROC ${{PROC}} ${{NOPE:-x}}{}",
            "${NOPE:-".repeat(depth),
            "}".repeat(depth)
        );
        let file = format!("NESTED=a{value}b\nUNCLOSED={}\n", "${NOPE:-".repeat(depth));
        let files: [(&str, &[u8]); 1] = [(".env", file.as_bytes())];
        failures.extend(check(&format!("nested {depth} deep"), &files, PROC));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
