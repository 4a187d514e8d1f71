//! The package a command's program belongs to, read from disk when a capture starts: how an
//! agent the catalog does not know gets a name and a version.
//!
//! The program is `argv[0]` (searched in `PATH` when it has no `/`), or, when that is a script
//! interpreter (`node`, `bun`, `deno`, `python3`, …), its first non-option argument: the
//! script. Symbolic links are followed (an npm `bin` link leads into its package). Then, in
//! order:
//! 1. the nearest `package.json` with a `name` above it: `name` and `version`
//!    (<https://nodejs.org/api/packages.html#name>);
//! 2. the Python distribution installed beside it (`<prefix>/lib/python*/site-packages` or
//!    `dist-packages` for a program in `<prefix>/bin`) whose `entry_points.txt`
//!    `[console_scripts]`/`[gui_scripts]` names the program, or whose `RECORD` lists it:
//!    `Name` and `Version` of its `METADATA`
//!    (<https://packaging.python.org/en/latest/specifications/entry-points/>,
//!    <https://packaging.python.org/en/latest/specifications/recording-installed-packages/>,
//!    <https://packaging.python.org/en/latest/specifications/core-metadata/>).
//!
//! Nothing found is `None`; unreadable files are skipped, never an error.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::record::AgentPackage;

/// Interpreters whose first non-option argument is the program that runs.
const INTERPRETERS: &[&str] = &["node", "nodejs", "bun", "deno", "python", "pypy", "pypy3"];
/// Files larger than this are not package metadata.
const MAX_FILE: u64 = 4 << 20;

/// The package `argv`'s program belongs to, with relative paths taken from `cwd` and bare
/// names searched in `path` (the child's `PATH`).
pub fn agent_package(argv: &[String], cwd: &Path, path: Option<&OsStr>) -> Option<AgentPackage> {
    let program = resolve(argv.first()?, cwd, path)?;
    let file = if is_interpreter(&program) {
        cwd.join(interpreted_script(&program, &argv[1..])?)
    } else {
        program
    };
    let real = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
    package_json(&real)
        .or_else(|| dist_info(&file))
        .or_else(|| dist_info(&real))
}

/// The program a process runs: the script (its first non-option argument) when `exe` is a
/// script interpreter (`node /usr/lib/x/cli.js` runs `/usr/lib/x/cli.js`), else `exe`. `argv`
/// includes `argv[0]`.
pub fn running_program<'a>(exe: &'a str, argv: &'a [String]) -> &'a str {
    let exe = exe.strip_suffix(" (deleted)").unwrap_or(exe);
    interpreted_script(Path::new(exe), argv.get(1..).unwrap_or_default()).unwrap_or(exe)
}

/// A program name as a path: as given when it has a `/`, else the first executable file of
/// that name in `path`.
fn resolve(program: &str, cwd: &Path, path: Option<&OsStr>) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(cwd.join(program));
    }
    std::env::split_paths(path?)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The interpreter's name without its version (`python3.12` → `python`).
fn interpreter_name(program: &Path) -> Option<&str> {
    let name = program.file_name()?.to_str()?;
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    INTERPRETERS.contains(&base).then_some(base)
}

fn is_interpreter(program: &Path) -> bool {
    interpreter_name(program).is_some()
}

/// The script an interpreter runs: its first argument that is not an option (`deno run`'s
/// after `run`); none for `python -m module` or code given inline.
fn interpreted_script<'a>(program: &Path, args: &'a [String]) -> Option<&'a str> {
    let base = interpreter_name(program)?;
    for arg in args {
        match arg.as_str() {
            "-m" | "-c" | "-e" | "--eval" | "-p" | "--print" => return None,
            "run" if base == "deno" => continue,
            a if a.starts_with('-') => continue,
            a => return Some(a),
        }
    }
    None
}

fn read_small(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_FILE {
        return None;
    }
    std::fs::read_to_string(path).ok()
}

/// The nearest `package.json` above `file` that has a `name`.
fn package_json(file: &Path) -> Option<AgentPackage> {
    file.ancestors().skip(1).find_map(|dir| {
        let text = read_small(&dir.join("package.json"))?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        let name = json.get("name")?.as_str().filter(|n| !n.is_empty())?;
        Some(AgentPackage {
            name: name.to_owned(),
            version: json
                .get("version")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            source: "package.json".to_owned(),
        })
    })
}

/// The Python distribution installed beside `file` (in `<prefix>/bin`) that installed it.
fn dist_info(file: &Path) -> Option<AgentPackage> {
    let name = file.file_name()?.to_str()?;
    let prefix = file.parent()?.parent()?;
    let lib = std::fs::read_dir(prefix.join("lib")).ok()?;
    let mut sites: Vec<PathBuf> = lib
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
        .flat_map(|e| ["site-packages", "dist-packages"].map(|s| e.path().join(s)))
        .filter(|d| d.is_dir())
        .collect();
    sites.sort();
    sites.iter().find_map(|site| {
        let mut infos: Vec<PathBuf> = std::fs::read_dir(site)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "dist-info"))
            .collect();
        infos.sort();
        infos
            .iter()
            .find(|info| installs(info, name))
            .and_then(|info| metadata(info))
    })
}

/// Whether a `.dist-info` directory's entry points or RECORD name the program `name`.
fn installs(info: &Path, name: &str) -> bool {
    let by_entry_point = read_small(&info.join("entry_points.txt")).is_some_and(|text| {
        let mut scripts = false;
        text.lines().map(str::trim).any(|line| {
            if line.starts_with('[') {
                scripts = matches!(line, "[console_scripts]" | "[gui_scripts]");
                return false;
            }
            scripts && line.split('=').next().is_some_and(|key| key.trim() == name)
        })
    });
    by_entry_point
        || read_small(&info.join("RECORD")).is_some_and(|text| {
            text.lines().any(|line| {
                let path = line.split(',').next().unwrap_or_default();
                path.ends_with(&format!("/bin/{name}"))
            })
        })
}

/// `Name` and `Version` of a `.dist-info`'s METADATA (its header fields, before the body).
fn metadata(info: &Path) -> Option<AgentPackage> {
    let text = read_small(&info.join("METADATA"))?;
    let field = |key: &str| {
        text.lines()
            .take_while(|l| !l.is_empty())
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_owned())
    };
    Some(AgentPackage {
        name: field("Name:")?,
        version: field("Version:"),
        source: "dist-info".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    #[test]
    fn a_node_script_is_named_by_its_package_json() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().join("node_modules/acme-agent");
        write(
            &root.join("package.json"),
            r#"{"name":"acme-agent","version":"3.1.4"}"#,
        );
        write(&root.join("dist/package.json"), r#"{"type":"module"}"#);
        write(&root.join("dist/cli.js"), "");
        let argv = [
            "node",
            "--no-warnings",
            "node_modules/acme-agent/dist/cli.js",
        ];
        let argv: Vec<String> = argv.map(str::to_owned).to_vec();
        let bin = dir.path().join("bin");
        write(&bin.join("node"), "");
        let found = agent_package(&argv, dir.path(), Some(bin.as_os_str())).expect("found");
        assert_eq!(found.name, "acme-agent");
        assert_eq!(found.version.as_deref(), Some("3.1.4"));
        assert_eq!(found.source, "package.json");

        // Through an npm bin link.
        let link = dir.path().join("node_modules/.bin/acme");
        std::fs::create_dir_all(link.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(root.join("dist/cli.js"), &link).expect("link");
        let argv = vec![link.display().to_string()];
        assert_eq!(
            agent_package(&argv, dir.path(), None).map(|p| p.name),
            Some("acme-agent".to_owned())
        );
    }

    #[test]
    fn a_python_entry_point_is_named_by_its_dist_info() {
        let dir = tempfile::tempdir().expect("tmp");
        let prefix = dir.path().join("venv");
        write(&prefix.join("bin/acme"), "#!/usr/bin/python3\n");
        write(&prefix.join("bin/other"), "#!/usr/bin/python3\n");
        let site = prefix.join("lib/python3.12/site-packages");
        let info = site.join("acme_agent-2.0.1.dist-info");
        write(
            &info.join("METADATA"),
            "Metadata-Version: 2.1\nName: acme-agent\nVersion: 2.0.1\n\nName: not this\n",
        );
        write(
            &info.join("entry_points.txt"),
            "[console_scripts]\nacme = acme_agent.cli:main\n",
        );
        let other = site.join("other-1.0.dist-info");
        write(&other.join("METADATA"), "Name: other\nVersion: 1.0\n");
        write(&other.join("RECORD"), "../../../bin/other,sha256=x,10\n");
        let path = prefix.join("bin");
        let found =
            agent_package(&["acme".to_owned()], dir.path(), Some(path.as_os_str())).expect("found");
        assert_eq!(
            (found.name.as_str(), found.version.as_deref()),
            ("acme-agent", Some("2.0.1"))
        );
        assert_eq!(found.source, "dist-info");
        let argv = ["python3", "-u", "venv/bin/other"]
            .map(str::to_owned)
            .to_vec();
        write(&dir.path().join("usr/python3"), "");
        let usr = dir.path().join("usr");
        assert_eq!(
            agent_package(&argv, dir.path(), Some(usr.as_os_str())).map(|p| p.name),
            Some("other".to_owned())
        );
        let argv = ["python3", "-m", "acme"].map(str::to_owned).to_vec();
        assert_eq!(
            agent_package(&argv, dir.path(), Some(usr.as_os_str())),
            None
        );
    }
}
