//! Every command the README shows, run as a reader would paste it.
//!
//! The README's shell blocks are read from the file itself, so a command changed in the README is
//! the command tested. Each block runs line by line (a `\` continues a line) in `bash`, in a
//! sandbox with the demo loaded, with `accession` on `PATH` as the binary under test and `cargo`
//! as a shim that runs `cargo run --release -- ARGS` as `accession ARGS` (the same program, built
//! once); every line must exit 0. The quick-start block's `serve --demo` runs for real, and the
//! lines after it (`curl`, the CLI beside the server) run against it with the token it printed.
//!
//! What is not run is checked instead, and says so: a synopsis line (with `[…]`, `a | b` or an
//! upper-case placeholder) must name a real subcommand, and every `--flag` on it must be in that
//! subcommand's `--help`; the same for each `accession …` in the prose; `cargo test` and `cargo
//! bench` lines must be what `.ci/run` runs and benches that exist. Two paths the README writes
//! for a server are moved into the sandbox: `/etc/accession/` and `/run/secrets/`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::{BIN, Run, Sandbox, repo};

/// A shell block of the README: where it starts and its lines, continuations joined.
struct Block {
    line: usize,
    lines: Vec<(usize, String)>,
}

/// The README's fenced blocks in `sh`, in order.
fn shell_blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    let mut pending: Option<(usize, String)> = None;
    for (n, raw) in readme.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        if let Some(fence) = raw.strip_prefix("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None if fence.trim() == "sh" => {
                    current = Some(Block {
                        line: n,
                        lines: Vec::new(),
                    });
                }
                None => {
                    current = Some(Block {
                        line: 0,
                        lines: vec![],
                    })
                }
            }
            continue;
        }
        let Some(block) = current.as_mut() else {
            continue;
        };
        if block.line == 0 {
            continue; // a block in another language
        }
        let (start, mut text) = pending.take().unwrap_or((n, String::new()));
        match raw.trim_end().strip_suffix('\\') {
            Some(head) => {
                text.push_str(head);
                text.push(' ');
                pending = Some((start, text));
            }
            None => {
                text.push_str(raw);
                let text = text.trim().to_string();
                if !text.is_empty() {
                    block.lines.push((start, text));
                }
            }
        }
    }
    blocks.retain(|b| b.line != 0);
    blocks
}

/// The line without its trailing comment (`  # …`, outside quotes).
fn without_comment(line: &str) -> &str {
    let mut quote = None;
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), c) if c == q => quote = None,
            (None, b'#') if i > 0 && bytes[i - 1] == b' ' => return line[..i].trim_end(),
            _ => {}
        }
    }
    line
}

/// Whether a line shows a command's form rather than a command to paste.
fn is_synopsis(line: &str) -> bool {
    let words = line.split_whitespace().skip(1);
    line.contains('[')
        || line.contains(" | ")
        || words.clone().any(|w| {
            w.len() > 1
                && w.chars().all(|c| c.is_ascii_uppercase() || c == '.')
                && !w.starts_with("ACCESSION")
        })
}

/// The `accession` words of a line: after `accession ` or `cargo run --release -- `.
fn accession_words(line: &str) -> Option<Vec<String>> {
    let rest = line
        .strip_prefix("accession ")
        .or_else(|| line.strip_prefix("cargo run --release -- "))?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The subcommand path `words` start with, below `prefix`, and that command's `--help`: each word
/// is taken as a subcommand while the help of the path so far lists it as one.
fn resolve(
    sandbox: &Sandbox,
    prefix: &[String],
    words: &[String],
) -> Result<(Vec<String>, String), String> {
    let help_of = |path: &[String]| {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let run = sandbox.run(&args);
        (run.code == 0).then_some(run.stdout)
    };
    let mut path = prefix.to_vec();
    let mut help =
        help_of(&path).ok_or_else(|| format!("`accession {}` is not a command", path.join(" ")))?;
    for word in words {
        let a_name = word.starts_with(|c: char| c.is_ascii_lowercase())
            && word.chars().all(|c| c.is_ascii_lowercase() || c == '-');
        if word == "help" || !a_name {
            break;
        }
        let listed = help
            .lines()
            .any(|l| l.split_whitespace().next() == Some(word.as_str()));
        if !listed {
            break;
        }
        path.push(word.clone());
        help = help_of(&path)
            .ok_or_else(|| format!("`accession {}` is not a command", path.join(" ")))?;
    }
    if path.len() == prefix.len() {
        return Err(format!("`{}` names no subcommand", words.join(" ")));
    }
    Ok((path, help))
}

/// Check a synopsis (or a command from the prose) against the binary's own help: its leading
/// words name a subcommand and each `--flag` is one of its options (or a global one). ` | `
/// separates alternatives: a sibling subcommand (`import FILE | list`) or other arguments of the
/// same one (`retry ID | --all-dead`).
fn check_against_help(sandbox: &Sandbox, words: &[String]) -> Result<(), String> {
    let top = sandbox.run(&["--help"]).expect(0).stdout;
    let segments: Vec<&[String]> = words.split(|w| w == "|").collect();
    let (mut path, mut help) = resolve(sandbox, &[], segments[0])?;
    let flags_of = |segment: &[String], path: &[String], help: &str| -> Result<(), String> {
        for word in segment {
            let flag = word
                .trim_start_matches('[')
                .split(['=', ']', '|'])
                .next()
                .unwrap_or_default();
            if flag.starts_with("--")
                && flag.len() > 2
                && !help.contains(flag)
                && !top.contains(flag)
            {
                return Err(format!(
                    "`accession {}` has no option {flag}",
                    path.join(" ")
                ));
            }
        }
        Ok(())
    };
    flags_of(segments[0], &path, &help)?;
    for segment in &segments[1..] {
        let parent = &path[..path.len() - 1];
        if let Ok((sibling, sibling_help)) = resolve(sandbox, parent, segment) {
            path = sibling;
            help = sibling_help;
        }
        flags_of(segment, &path, &help)?;
    }
    Ok(())
}

/// A sandbox where `bash` finds `accession` (the binary under test) and the `cargo` shim.
struct Shell {
    sandbox: Sandbox,
    env: Vec<(String, String)>,
}

impl Shell {
    fn new(sandbox: Sandbox) -> Shell {
        let bin = sandbox.dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(BIN, bin.join("accession")).unwrap();
        let shim = bin.join("cargo");
        std::fs::write(
            &shim,
            "#!/bin/sh\n\
             # The README's `cargo run --release -- ARGS` is the accession binary with ARGS.\n\
             if [ \"$1 $2 $3\" = \"run --release --\" ]; then shift 3; exec accession \"$@\"; fi\n\
             echo \"the README test runs only 'cargo run --release --', not: cargo $*\" >&2\n\
             exit 97\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
        for dir in ["etc/accession", "run/secrets"] {
            std::fs::create_dir_all(sandbox.dir.path().join(dir)).unwrap();
        }
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Shell {
            sandbox,
            env: vec![("PATH".into(), path)],
        }
    }

    /// The README's line as it runs here: its server paths moved into the sandbox.
    fn localise(&self, line: &str) -> String {
        let root = self.sandbox.dir.path().display().to_string();
        line.replace("/etc/accession/", &format!("{root}/etc/accession/"))
            .replace("/run/secrets/", &format!("{root}/run/secrets/"))
    }

    /// `bash` in the sandbox, with the sandbox's settings and the shims first on `PATH`.
    fn bash(&self) -> Command {
        let mut bash = Command::new("bash");
        self.sandbox.environment(&mut bash);
        bash.envs(self.env.iter().map(|(k, v)| (k, v)));
        bash
    }

    /// Run `script` in bash in the sandbox, stopping at the first failing line.
    fn run(&self, script: &str) -> Run {
        let out = self
            .bash()
            .args(["-euo", "pipefail", "-c", script])
            .output()
            .expect("bash runs");
        Run {
            args: script.to_string(),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Run the lines of a block in order, each in bash after the block's `export`s so far; each
    /// must exit 0.
    #[track_caller]
    fn run_lines(&self, block: usize, lines: &[(usize, String)]) -> Vec<Run> {
        let mut runs = Vec::new();
        let mut exports = String::new();
        for (n, line) in lines {
            let text = self.localise(line);
            let run = self.run(&format!("{exports}{text}"));
            assert_eq!(
                run.code, 0,
                "README.md:{n} (block at line {block}) failed with exit {}:\n{text}\n--- stdout\n{}\n--- stderr\n{}",
                run.code, run.stdout, run.stderr
            );
            if text.starts_with("export ") {
                exports.push_str(&text);
                exports.push('\n');
            }
            runs.push(run);
        }
        runs
    }
}

/// `accession serve` started by bash from the README's own line; stopped when dropped.
struct Server {
    child: Child,
    address: String,
    tokens: Vec<(String, String)>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Shell {
    /// Start the README's serve line in the background, on a free port (the README's port is
    /// the default, which parallel tests cannot all have), and read its address and tokens.
    fn serve(&self, line: &str) -> Server {
        let script = format!("exec {}", self.localise(line));
        let mut bash = self.bash();
        bash.env("ACCESSION__SERVER__BIND", "127.0.0.1:0")
            .args(["-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = bash.spawn().expect("serve starts");
        let stdout = child.stdout.take().expect("serve's stdout");
        let mut address = None;
        let mut tokens = Vec::new();
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let line = line.expect("serve prints text");
            if let Some(rest) = line.strip_prefix("listening on ") {
                address = rest.split_whitespace().next().map(str::to_string);
            } else if let Some(token) = line.split_whitespace().last()
                && token.starts_with("acc_")
            {
                let role = line.split_whitespace().next().unwrap_or_default();
                tokens.push((role.to_string(), token.to_string()));
                if tokens.len() == 4 {
                    break;
                }
            }
        }
        // Keep reading what it prints: a closed pipe would end it (`accession` exits quietly
        // when its reader has gone).
        std::thread::spawn(move || lines.for_each(drop));
        Server {
            child,
            address: address.expect("serve printed its address"),
            tokens,
        }
    }
}

fn readme() -> String {
    std::fs::read_to_string(repo("README.md")).expect("README.md")
}

#[test]
fn the_quick_start_runs_as_written_beside_a_real_server() {
    let text = readme();
    let blocks = shell_blocks(&text);
    let serve = blocks
        .iter()
        .flat_map(|b| &b.lines)
        .find(|(_, l)| l.contains("serve --demo"))
        .expect("the README starts the service with `serve --demo`");
    let shell = Shell::new(Sandbox::new());
    let server = shell.serve(without_comment(&serve.1));
    assert_eq!(server.tokens.len(), 4, "one token per role");
    let (_, coordinator) = server
        .tokens
        .iter()
        .find(|(role, _)| role == "coordinator")
        .expect("a coordinator's token");
    // The blocks after the serve line up to the next section: curl, then the CLI beside it.
    let quick_start: Vec<&Block> = blocks
        .iter()
        .filter(|b| b.line > serve.0 && b.line < text_line(&text, "## What the demo loads"))
        .collect();
    assert!(quick_start.len() >= 2, "curl and CLI blocks follow serve");
    let mut ran = 0;
    for block in quick_start {
        let lines: Vec<(usize, String)> = block
            .lines
            .iter()
            .filter(|(_, l)| !l.starts_with("cargo test") && !l.starts_with("cargo install"))
            .map(|(n, l)| {
                let here = without_comment(l).replace("http://127.0.0.1:8080", &server.address);
                (*n, format!("T={coordinator}\n{here}"))
            })
            .collect();
        for run in shell.run_lines(block.line, &lines) {
            if run.args.contains("curl ") {
                let body: serde_json::Value =
                    serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
                        panic!("{} answered no JSON ({e}): {}", run.args, run.stdout)
                    });
                assert!(
                    !body.get("status").is_some_and(serde_json::Value::is_u64),
                    "{} answered a problem: {body}",
                    run.args
                );
            }
            ran += 1;
        }
    }
    assert!(ran >= 10, "only {ran} quick-start lines ran");
}

/// The line number of the first line starting with `heading`.
fn text_line(text: &str, heading: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(heading))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("README has no `{heading}`"))
}

#[test]
fn every_other_shell_block_runs_on_the_demo_line_by_line() {
    let text = readme();
    let end_of_quick_start = text_line(&text, "## What the demo loads");
    let mut ran = 0;
    for block in shell_blocks(&text) {
        if block.line < end_of_quick_start {
            continue;
        }
        let runnable: Vec<(usize, String)> = block
            .lines
            .iter()
            .map(|(n, l)| (*n, without_comment(l).to_string()))
            .filter(|(_, l)| !is_synopsis(l) && !l.starts_with("cargo bench"))
            .collect();
        if runnable.is_empty() {
            continue;
        }
        let shell = Shell::new(Sandbox::with_demo());
        // A file the README says the operator has (the SMTP password it points at).
        std::fs::write(
            shell.sandbox.dir.path().join("run/secrets/smtp"),
            "not-a-real-password\n",
        )
        .unwrap();
        let mut lines = runnable;
        // A block of settings only (`export …`) is shown working by a command that reads them.
        if lines.iter().all(|(_, l)| l.starts_with("export ")) {
            let last = lines.last().map(|(n, _)| *n).unwrap_or(block.line);
            let all: String = lines
                .iter()
                .map(|(_, l)| format!("{l}\n"))
                .collect::<String>();
            lines = vec![(last, format!("{all}accession outbox list"))];
        }
        ran += shell.run_lines(block.line, &lines).len();
    }
    assert!(ran >= 8, "only {ran} README lines ran");
}

#[test]
fn every_synopsis_and_every_command_in_the_prose_is_one_the_binary_has() {
    let text = readme();
    let sandbox = Sandbox::new();
    let mut checked = 0;
    let mut wrong = Vec::new();
    // Synopsis lines in shell blocks and the bare usage block of "Command line".
    for block in shell_blocks(&text) {
        for (n, line) in &block.lines {
            let line = without_comment(line);
            if let Some(words) = accession_words(line)
                && is_synopsis(line)
            {
                if let Err(e) = check_against_help(&sandbox, &words) {
                    wrong.push(format!("README.md:{n}: {e}"));
                }
                checked += 1;
            }
        }
    }
    let usage_start = text_line(&text, "## Command line");
    let mut in_usage = false;
    for (i, line) in text.lines().enumerate().skip(usage_start) {
        if line.starts_with("```") {
            if in_usage {
                break;
            }
            in_usage = true;
            continue;
        }
        let trimmed = line.trim();
        if !in_usage || trimmed.is_empty() || trimmed.starts_with('(') {
            continue;
        }
        if trimmed.starts_with("accession ") {
            continue; // the global form: `accession [--config FILE] [--json] <command>`
        }
        let words: Vec<String> = trimmed.split_whitespace().map(str::to_string).collect();
        if let Err(e) = check_against_help(&sandbox, &words) {
            wrong.push(format!("README.md:{}: {e}", i + 1));
        }
        checked += 1;
    }
    // `accession …` in backticks in the prose.
    for (i, line) in text.lines().enumerate() {
        for span in line.split('`').skip(1).step_by(2) {
            if let Some(words) = span.strip_prefix("accession ")
                && words.starts_with(|c: char| c.is_ascii_lowercase())
                && !words.contains("\\n")
            {
                let words: Vec<String> = words.split_whitespace().map(str::to_string).collect();
                if let Err(e) = check_against_help(&sandbox, &words) {
                    wrong.push(format!("README.md:{}: {e}", i + 1));
                }
                checked += 1;
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(
        checked >= 40,
        "only {checked} synopses and mentions checked"
    );
}

#[test]
fn the_readmes_build_commands_are_the_ones_ci_and_cargo_know() {
    let text = readme();
    let ci = std::fs::read_to_string(repo(".ci/run")).expect(".ci/run");
    let manifest = std::fs::read_to_string(repo("Cargo.toml")).expect("Cargo.toml");
    let mut seen_test = false;
    for block in shell_blocks(&text) {
        for (n, line) in &block.lines {
            let line = without_comment(line);
            if line.starts_with("cargo test") {
                seen_test = true;
                // The README's test command is CI's (which adds only --locked).
                assert!(
                    ci.contains(&line.replace("--workspace", "--workspace --locked")),
                    "README.md:{n}: `{line}` is not what .ci/run runs"
                );
            }
            if line.starts_with("cargo install") {
                // Installs this package's binary, which is the one named in the README.
                assert!(
                    line.contains("--path .") && manifest.contains("name = \"accession\""),
                    "README.md:{n}: `{line}` does not install the accession command"
                );
            }
            if let Some(rest) = line.strip_prefix("cargo bench --bench ") {
                let name = rest.split_whitespace().next().unwrap_or_default();
                assert!(
                    manifest.contains(&format!("name = \"{name}\""))
                        && Path::new(&repo(&format!("benches/{name}.rs"))).exists(),
                    "README.md:{n}: there is no bench `{name}`"
                );
            }
        }
    }
    assert!(seen_test, "the README says how to run the tests");
    let first_two: Vec<String> = shell_blocks(&text)
        .iter()
        .take(2)
        .flat_map(|b| b.lines.iter().map(|(_, l)| without_comment(l).to_string()))
        .collect();
    assert_eq!(
        first_two,
        [
            "cargo run --release -- serve --demo",
            "cargo test --workspace"
        ],
        "the README starts with how to run the service and how to run the tests"
    );
}

#[test]
fn the_readme_links_nothing_outside_the_repository() {
    let text = readme();
    let mut outside = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for part in line.split("](").skip(1) {
            let target = part.split(')').next().unwrap_or_default();
            let local = target.split('#').next().unwrap_or_default();
            if target.starts_with("http") || target.starts_with('#') {
                continue;
            }
            if local.starts_with("..") || !repo(local).exists() {
                outside.push(format!("README.md:{}: {target}", i + 1));
            }
        }
        if line.contains("../shared") || line.contains("shared/") {
            outside.push(format!("README.md:{}: names the team's notes", i + 1));
        }
    }
    assert!(outside.is_empty(), "{}", outside.join("\n"));
}
