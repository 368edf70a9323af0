//! The npm distribution: `npm/pack.sh` packs the launcher package and this platform's binary
//! package from the binary under test, npm installs the two tarballs into a fresh project
//! offline, and `compozy gen` and `compozy exec` run through `npx` and `bunx`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::{Fixture, Output, output_within, runtime_bin};

/// The bound on each step (a pack, the install, one run): generous, for a loaded machine; each
/// takes a second or two.
const STEP: Duration = Duration::from_secs(120);

/// The platform package this machine installs (the names `npm/pack.sh` and the launcher use).
fn platform() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "linux-x64",
        ("linux", "aarch64") => "linux-arm64",
        ("macos", "x86_64") => "darwin-x64",
        ("macos", "aarch64") => "darwin-arm64",
        (os, arch) => panic!("compozy has no npm package for {os}-{arch}"),
    }
}

/// A program on PATH. The test fails (it never skips) when it is missing.
fn on_path(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is required for this test (it installs and runs the packed npm \
                 packages) but is not on PATH: install Node.js with npm"
            )
        })
}

/// `program ARGS` in `dir`, offline: npm and npx use a cache of their own in `cache` (empty, as
/// every package comes from a tarball), npx never installs, and the tools run on the pinned
/// runtimes.
fn command(program: &Path, args: &[&str], dir: &Path, cache: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .env("npm_config_cache", cache)
        .env("npm_config_offline", "true")
        .env("npm_config_yes", "false")
        .env("npm_config_audit", "false")
        .env("npm_config_fund", "false")
        .env("npm_config_update_notifier", "false")
        .env("COMPOZY_BUN", runtime_bin("bun"))
        .env("COMPOZY_NODE", runtime_bin("node"))
        .env_remove("RUST_LOG")
        .env_remove("COMPOZY_PROJECT")
        .env("NO_COLOR", "1");
    cmd
}

/// Runs `what` within [`STEP`] and asserts that it exits 0, showing its output when not.
#[track_caller]
fn step(what: &str, cmd: &mut Command) -> Output {
    let out = output_within(cmd, STEP);
    assert_eq!(
        out.code, 0,
        "{what} failed\n--- stdout\n{}\n--- stderr\n{}",
        out.stdout, out.stderr
    );
    out
}

#[test]
fn packed_packages_install_offline_and_run_through_npx_and_bunx() {
    let npm = on_path("npm");
    let npx = on_path("npx");
    let bunx = runtime_bin("bunx");
    let platform = platform();
    let version = env!("CARGO_PKG_VERSION");
    let scratch = Fixture::new();
    let cache = scratch.path("npm-cache");

    let pack_sh = Path::new(env!("CARGO_MANIFEST_DIR")).join("npm/pack.sh");
    // pack.sh stages in TMPDIR: inside the scratch directory, a pack killed at the bound leaves
    // nothing behind.
    let tmp = scratch.path("tmp");
    std::fs::create_dir_all(&tmp).expect("create TMPDIR");
    let packed = step(
        "npm/pack.sh",
        Command::new("sh")
            .env("TMPDIR", &tmp)
            .arg(&pack_sh)
            .arg("--binary")
            .arg(env!("CARGO_BIN_EXE_compozy"))
            .arg(scratch.path("dist")),
    );
    let tarballs: Vec<&str> = packed.stdout.lines().collect();
    let platform_tgz = scratch.path(&format!("dist/compozy-{platform}-{version}.tgz"));
    let main_tgz = scratch.path(&format!("dist/compozy-{version}.tgz"));
    assert_eq!(
        tarballs,
        [platform_tgz.to_str().unwrap(), main_tgz.to_str().unwrap()],
        "npm/pack.sh should print the paths of the two tarballs"
    );

    let project = Fixture::with(&[
        (
            "package.json",
            r#"{ "name": "npm-smoke", "private": true }"#,
        ),
        (
            "compozy.yaml",
            "tools:\n  - id: greet\n    description: Greets someone\n    \
             execute: ./tools/greet.ts\n    input: { type: object, properties: \
             { name: { type: string } }, required: [name] }\n",
        ),
        (
            "tools/greet.ts",
            "export function run(input: { name: string }) {\n  \
             return { greeting: `hello ${input.name}` };\n}\n",
        ),
    ]);
    let root = project.root();
    // Both tarballs in one offline install: the platform package becomes the project's own
    // dependency at node_modules/@compozy/PLATFORM, which satisfies compozy's optional
    // dependency on it, so npm asks no registry.
    step(
        "npm install --offline of the two tarballs",
        &mut command(
            &npm,
            &[
                "install",
                "--offline",
                "--no-audit",
                "--no-fund",
                "-D",
                platform_tgz.to_str().unwrap(),
                main_tgz.to_str().unwrap(),
            ],
            root,
            &cache,
        ),
    );
    let hoisted = project.path(&format!("node_modules/@compozy/{platform}"));
    assert!(
        project.path("node_modules/compozy/bin/compozy").is_file() && hoisted.is_dir(),
        "npm did not lay out node_modules/compozy and node_modules/@compozy/{platform}"
    );

    step(
        "npx compozy gen",
        &mut command(&npx, &["compozy", "gen"], root, &cache),
    );
    assert!(
        project.path(".compozy/tools.ts").is_file(),
        "npx compozy gen wrote no .compozy/tools.ts"
    );
    let out = step(
        "npx compozy exec (on Node)",
        &mut command(
            &npx,
            &[
                "compozy",
                "exec",
                "greet",
                "--runtime",
                "node",
                "--input",
                r#"{"name":"npx"}"#,
            ],
            root,
            &cache,
        ),
    );
    assert_eq!(out.json(), serde_json::json!({"greeting": "hello npx"}));

    std::fs::remove_dir_all(project.path(".compozy")).expect("remove .compozy");
    step(
        "bunx compozy gen",
        &mut command(&bunx, &["--no-install", "compozy", "gen"], root, &cache),
    );
    assert!(
        project.path(".compozy/tools.ts").is_file(),
        "bunx compozy gen wrote no .compozy/tools.ts"
    );
    let out = step(
        "bunx compozy exec (on Bun)",
        &mut command(
            &bunx,
            &[
                "--no-install",
                "compozy",
                "exec",
                "greet",
                "--runtime",
                "bun",
                "--input",
                r#"{"name":"bunx"}"#,
            ],
            root,
            &cache,
        ),
    );
    assert_eq!(out.json(), serde_json::json!({"greeting": "hello bunx"}));

    // The launcher both as npm links it (`.bin/compozy`, its fast path) and by its own path
    // (the symlink-resolving lookup), with the platform package hoisted, then nested under
    // compozy (where npm puts it when another version is hoisted), then missing.
    let launchers = [
        project.path("node_modules/.bin/compozy"),
        project.path("node_modules/compozy/bin/compozy"),
    ];
    let nested = project.path(&format!(
        "node_modules/compozy/node_modules/@compozy/{platform}"
    ));
    let version_line = format!("compozy {version}");
    for layout in ["hoisted", "nested"] {
        if layout == "nested" {
            std::fs::create_dir_all(nested.parent().unwrap()).expect("create nested node_modules");
            std::fs::rename(&hoisted, &nested).expect("move the platform package under compozy");
        }
        for launcher in &launchers {
            let out = step(
                &format!("{} with the platform package {layout}", launcher.display()),
                &mut command(launcher, &["--version"], root, &cache),
            );
            assert_eq!(out.stdout.trim(), version_line, "{}", launcher.display());
        }
    }

    // A platform without a package (a `uname` of our own says so): named, with the way out.
    let fake = scratch.path("fake-uname");
    scratch.write("fake-uname/uname", "#!/bin/sh\necho 'Plan9 mips'\n");
    make_executable(&fake.join("uname"));
    let path = std::env::join_paths(
        std::iter::once(fake).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .expect("join PATH");
    let out = output_within(
        command(&launchers[0], &["--version"], root, &cache).env("PATH", path),
        STEP,
    );
    out.expect_code(127).stderr_has(&[
        "no prebuilt binary for Plan9 mips",
        "linux-x64, linux-arm64, darwin-x64 and darwin-arm64",
        "Build compozy from source with cargo",
    ]);

    std::fs::remove_dir_all(&nested).expect("remove the platform package");
    for launcher in &launchers {
        let out = output_within(&mut command(launcher, &["--version"], root, &cache), STEP);
        out.expect_code(127).stderr_has(&[
            format!("the package @compozy/{platform}").as_str(),
            "is not installed",
            format!("npm i -D @compozy/{platform}@{version}").as_str(),
        ]);
    }
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod +x");
}

/// `npm ci` here warns about no package whose install scripts are unreviewed (npm 11.16 lists
/// them, npm 12 blocks them): every locked package with an install script is in `allowScripts`,
/// and the README says what the warning means for a project's own `npm i -D bun`.
#[test]
fn every_install_script_of_the_dev_dependencies_is_allowed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(root.join(name)).unwrap()).unwrap()
    };
    let manifest = read("package.json");
    let lock = read("package-lock.json");
    let with_scripts: Vec<&str> = lock["packages"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, p)| p["hasInstallScript"] == true)
        .map(|(path, _)| path.rsplit("node_modules/").next().unwrap())
        .collect();
    assert!(with_scripts.contains(&"bun"), "{with_scripts:?}");
    for name in with_scripts {
        assert_eq!(
            manifest["allowScripts"][name], true,
            "`{name}` runs an install script that package.json's allowScripts does not allow"
        );
    }
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for words in [
        "install scripts not yet covered by allowScripts",
        "npm install-scripts approve bun",
    ] {
        assert!(readme.contains(words), "the README does not say {words:?}");
    }
}
