//! End-to-end tests of the `accession` command line: the real binary, run in its own temporary
//! folder with its own SQLite database, on the repository's workflows and demo data.
//!
//! Exit codes: 0 ok, 1 refused or invalid input, 2 usage, 3 conflict (stale version, already
//! exists). An error is one line on stderr starting with `error:`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_accession");

#[path = "cli/polish.rs"]
mod polish;
#[path = "cli/readme.rs"]
mod readme;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// One temporary folder, one database, nothing inherited from the environment's `ACCESSION*`.
struct Sandbox {
    dir: TempDir,
}

/// What a run of the binary left behind.
struct Run {
    args: String,
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Assert the exit code, showing everything the command printed when it differs.
    #[track_caller]
    fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "`accession {}` exited {} instead of {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.args, self.code, self.stdout, self.stderr
        );
        self
    }

    /// The one line an error ends in: on stderr, starting with `error:`.
    #[track_caller]
    fn error_line(&self) -> &str {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "`accession {}` should print one line on stderr:\n{}",
            self.args,
            self.stderr
        );
        assert!(
            lines[0].starts_with("error: "),
            "not an error line: {}",
            lines[0]
        );
        lines[0]
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "`accession {}` did not print JSON ({e}):\n{}",
                self.args, self.stdout
            )
        })
    }
}

impl Sandbox {
    fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    /// A sandbox with the Kyrgyz demo loaded.
    fn with_demo() -> Sandbox {
        let s = Sandbox::new();
        s.run(&["demo"]).expect(0);
        s
    }

    fn database(&self) -> PathBuf {
        self.dir.path().join("accession.db")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        self.environment(&mut cmd);
        cmd.args(args);
        cmd
    }

    /// Run `cmd` in the sandbox: its folder, its database, the repository's workflows and demo,
    /// and nothing of the environment's `ACCESSION*`.
    fn environment(&self, cmd: &mut Command) {
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ACCESSION") {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(self.dir.path())
            .env("ACCESSION__WORKFLOWS__DIR", repo("workflows"))
            .env("ACCESSION__DEMO__DIR", repo("config/demo"))
            .env(
                "ACCESSION__CALENDAR__HOLIDAYS",
                repo("config/calendars/kg.toml"),
            )
            .env(
                "ACCESSION__DATABASE__URL",
                format!("sqlite://{}", self.database().display()),
            );
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// Run with extra environment variables.
    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(args);
        cmd.envs(env.iter().copied());
        let out = cmd.output().expect("the accession binary runs");
        Run {
            args: args.join(" "),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        }
    }

    /// `procedures VERB ARGS… --as INSTITUTION --expected-version VERSION`.
    fn act(&self, args: &[&str], institution: &str, version: &str) -> Run {
        let mut all = vec!["procedures"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--as", institution, "--expected-version", version]);
        self.run(&all)
    }

    /// `procedures show ID --json`.
    fn procedure(&self, id: &str) -> Value {
        self.run(&["procedures", "show", id, "--json"])
            .expect(0)
            .json()
    }

    /// `procedures history ID --json`, as a list.
    fn history(&self, id: &str) -> Vec<Value> {
        match self
            .run(&["procedures", "history", id, "--json"])
            .expect(0)
            .json()
        {
            Value::Array(rows) => rows,
            other => panic!("history is not a list: {other}"),
        }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write a file in the sandbox");
        path
    }
}

/// The 1-based line and column where `needle` starts in `text`.
fn position(text: &str, needle: &str) -> (usize, usize) {
    let at = text.find(needle).expect("the needle is in the text");
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.chars().rev().take_while(|&c| c != '\n').count() + 1;
    (line, column)
}

/// The `id`s of the `[[section]]` entries of a seed file.
fn seed_ids(file: &str, section: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo(file)).expect("the seed file");
    let seed: toml::Table = toml::from_str(&text).expect("the seed is TOML");
    seed[section]
        .as_array()
        .expect("a list of entries")
        .iter()
        .map(|e| e["id"].as_str().expect("an id").to_string())
        .collect()
}

/// Every row starts with one of `ids`, and each of `filled` columns starts, in every row, exactly
/// under its header.
#[track_caller]
fn assert_aligned_table(out: &str, ids: &[String], filled: &[&str]) {
    let mut lines = out.lines();
    let header: Vec<char> = lines.next().expect("a header line").chars().collect();
    let header_text: String = header.iter().collect();
    let rows: Vec<Vec<char>> = lines.map(|l| l.chars().collect()).collect();
    let mut first: Vec<String> = rows
        .iter()
        .map(|r| r.iter().take_while(|c| **c != ' ').collect())
        .collect();
    first.sort();
    let mut expected = ids.to_vec();
    expected.sort();
    assert_eq!(first, expected, "one row per seed id:\n{out}");
    for column in filled {
        let at = header_text
            .find(&format!(" {column}"))
            .unwrap_or_else(|| panic!("no column {column} in: {header_text}"))
            + 1;
        for row in &rows {
            let line: String = row.iter().collect();
            assert!(
                row.get(at - 1) == Some(&' ') && row.get(at).is_some_and(|c| *c != ' '),
                "column {column} is not aligned at {at} in:\n{header_text}\n{line}"
            );
        }
    }
}

// ---------------------------------------------------------------- exit 0

#[test]
fn demo_loads_the_kyrgyz_case_and_a_second_run_changes_nothing() {
    let s = Sandbox::new();
    let first = s.run(&["demo"]).expect(0);
    assert!(
        first
            .stdout
            .contains("institutions: 11 inserted, 0 updated, 0 unchanged"),
        "{}",
        first.stdout
    );
    assert!(
        first
            .stdout
            .contains("conventions: 6 inserted, 0 updated, 0 unchanged"),
        "{}",
        first.stdout
    );
    assert!(
        first.stdout.contains("procedures created: kg-ets-112, "),
        "{}",
        first.stdout
    );
    let before = s.history("kg-ets-112").len();

    let second = s.run(&["demo"]).expect(0);
    assert!(
        second
            .stdout
            .contains("institutions: 0 inserted, 0 updated, 11 unchanged"),
        "{}",
        second.stdout
    );
    assert!(
        second
            .stdout
            .contains("conventions: 0 inserted, 0 updated, 6 unchanged"),
        "{}",
        second.stdout
    );
    assert!(
        !second.stdout.contains("procedures created"),
        "{}",
        second.stdout
    );
    let existing = second
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("procedures already there: "))
        .unwrap_or_else(|| panic!("no `procedures already there` line:\n{}", second.stdout));
    assert_eq!(existing.split(", ").count(), 6, "{existing}");
    assert_eq!(s.history("kg-ets-112").len(), before);
}

#[test]
fn procedures_list_json_has_the_six_demo_procedures() {
    let s = Sandbox::with_demo();
    let list = s.run(&["procedures", "list", "--json"]).expect(0).json();
    let mut ids: Vec<&str> = list
        .as_array()
        .expect("a JSON list")
        .iter()
        .map(|p| p["id"].as_str().expect("an id"))
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "kg-cets-197",
            "kg-cets-201",
            "kg-cets-210",
            "kg-ets-112",
            "kg-ets-173",
            "kg-ets-185"
        ]
    );
}

#[test]
fn ets_112_is_a_party_deposited_on_2024_04_22_and_in_force_on_2024_08_01() {
    let s = Sandbox::with_demo();
    let p = s.procedure("kg-ets-112");
    assert_eq!(p["stage"], "party");
    assert_eq!(p["status"], "active");
    assert_eq!(p["key_dates"]["deposited_on"], "2024-04-22");
    assert_eq!(p["key_dates"]["entry_into_force_computed"], "2024-08-01");

    let table = s.run(&["procedures", "list"]).expect(0).stdout;
    let row = table
        .lines()
        .find(|l| l.starts_with("kg-ets-112 "))
        .unwrap_or_else(|| panic!("no kg-ets-112 row:\n{table}"));
    assert!(
        row.contains(" party ") && row.ends_with("2024-04-22  2024-08-01"),
        "{row}"
    );
}

#[test]
fn audit_verify_finds_every_chain_intact() {
    let s = Sandbox::with_demo();
    let out = s.run(&["audit", "verify"]).expect(0).stdout;
    assert!(out.starts_with("OK: 6 procedure(s), "), "{out}");
    assert!(out.contains("every chain intact"), "{out}");
    let one = s
        .run(&["audit", "verify", "--procedure", "kg-ets-112"])
        .expect(0)
        .stdout;
    assert!(
        one.starts_with("OK: 1 procedure(s), 18 history row(s)"),
        "{one}"
    );
}

#[test]
fn workflows_check_accepts_the_shipped_workflows_without_creating_a_database() {
    let s = Sandbox::new();
    let out = s.run(&["workflows", "check"]).expect(0).stdout;
    assert!(out.contains("coe-accession v2"), "{out}");
    assert!(
        out.contains("3 workflow file(s) valid (institutions checked against "),
        "{out}"
    );
    assert!(out.contains("institutions.toml)"), "{out}");
    assert!(
        !s.database().exists(),
        "`workflows check` created a database"
    );

    s.run(&["demo"]).expect(0);
    let out = s.run(&["workflows", "check"]).expect(0).stdout;
    assert!(
        out.contains("(institutions checked against the database)"),
        "{out}"
    );
}

#[test]
fn workflows_diagram_in_dot_is_a_digraph() {
    let s = Sandbox::new();
    let out = s
        .run(&["workflows", "diagram", "coe-accession", "--format", "dot"])
        .expect(0)
        .stdout;
    assert!(out.starts_with("digraph \"coe-accession\" {"), "{out}");
    assert!(out.trim_end().ends_with('}'), "{out}");
    assert!(out.contains("\"legal-review\""), "{out}");
    assert!(out.contains("->"), "{out}");
}

#[test]
fn institutions_list_is_an_aligned_table_of_the_seed() {
    let s = Sandbox::with_demo();
    let out = s.run(&["institutions", "list"]).expect(0).stdout;
    assert!(
        out.starts_with("ID ") && out.lines().next().unwrap().ends_with(" ROLE"),
        "{out}"
    );
    let ids = seed_ids("config/demo/institutions.toml", "institutions");
    assert_aligned_table(&out, &ids, &["NAME", "LANG", "TIME ZONE", "EMAILS"]);
    let mfa = out.lines().find(|l| l.starts_with("mfa ")).expect("mfa");
    assert!(mfa.ends_with(" coordinator"), "{mfa}");
}

#[test]
fn conventions_list_is_an_aligned_table_of_the_seed() {
    let s = Sandbox::with_demo();
    let out = s.run(&["conventions", "list"]).expect(0).stdout;
    let ids = seed_ids("config/demo/conventions.toml", "conventions");
    assert_aligned_table(
        &out,
        &ids,
        &["NUMBER", "TITLE", "IN FORCE", "RULE", "MONITORING"],
    );
    let istanbul = out
        .lines()
        .find(|l| l.starts_with("cets-210 "))
        .expect("cets-210");
    assert!(
        istanbul.contains("CETS No. 210") && istanbul.contains("Istanbul Convention"),
        "{istanbul}"
    );
}

#[test]
fn procedures_show_prints_every_value_in_one_column() {
    let s = Sandbox::with_demo();
    let out = s
        .run(&["procedures", "show", "kg-cets-210"])
        .expect(0)
        .stdout;
    let labelled = [
        "workflow",
        "status",
        "stage",
        "responsible",
        "due",
        "key dates",
    ];
    let columns: Vec<usize> = labelled
        .iter()
        .map(|label| {
            let line = out
                .lines()
                .find(|l| l.starts_with(label))
                .unwrap_or_else(|| panic!("no `{label}` line:\n{out}"));
            label.len() + line[label.len()..].len() - line[label.len()..].trim_start().len()
        })
        .collect();
    assert!(
        columns.iter().all(|c| *c == columns[0]),
        "values start at columns {columns:?}:\n{out}"
    );
    let responsible = out.lines().find(|l| l.starts_with("responsible"));
    assert!(responsible.is_some_and(|l| l.ends_with(" moj")), "{out}");
}

#[test]
fn a_reader_that_stops_early_does_not_make_the_cli_panic() {
    let s = Sandbox::with_demo();
    for args in [
        &["procedures", "list", "--json"][..],
        &["procedures", "history", "kg-ets-112"][..],
        &["workflows", "diagram", "coe-accession"][..],
    ] {
        let mut child = s
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the accession binary runs");
        // Close the reading end at once, like `accession … | head -0`.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("it ends");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}:\n{stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}:\n{stderr}");
    }
}

// ---------------------------------------------------------------- exit 1

#[test]
fn advancing_as_an_institution_that_is_not_responsible_is_refused_and_changes_nothing() {
    let s = Sandbox::with_demo();
    assert_eq!(s.procedure("kg-cets-210")["version"], 2);
    let run = s
        .act(
            &["advance", "kg-cets-210", "--to", "interagency-consultation"],
            "mia",
            "2",
        )
        .expect(1);
    let line = run.error_line();
    assert!(line.contains("`mia`"), "{line}");
    assert!(line.contains("allowed: `moj`"), "{line}");
    assert_eq!(run.stdout, "");
    let p = s.procedure("kg-cets-210");
    assert_eq!(p["version"], 2);
    assert_eq!(p["stage"], "legal-review");
}

#[test]
fn recording_an_impossible_date_is_refused_naming_the_field() {
    let s = Sandbox::with_demo();
    let run = s
        .act(
            &["set", "kg-cets-210", "request_date", "2024-13-45"],
            "mfa",
            "2",
        )
        .expect(1);
    let line = run.error_line();
    assert!(line.contains("`request_date`"), "{line}");
    assert!(line.contains("2024-13-45"), "{line}");
    assert!(line.contains("YYYY-MM-DD"), "{line}");
    let p = s.procedure("kg-cets-210");
    assert_eq!(p["version"], 2);
    assert!(p["fields"].get("request_date").is_none(), "{p}");
}

const BROKEN_WORKFLOW: &str = r#"id = "broken"
version = 1
title = "A workflow with two mistakes"
initial = "seminar"

[[stages]]
id = "seminar"
title = "Seminar"
responsible = ["mfa"]
due = "30 days"
reminders = [{ cron = "every monday" }]

[[stages]]
id = "signature"
title = "Signature"
responsible = ["mfa"]
terminal = true

[[transitions]]
from = "seminar"
to = "ratification"
"#;

#[test]
fn workflows_check_of_a_broken_file_exits_1_with_file_line_column_for_each_error() {
    let s = Sandbox::new();
    s.write("broken.toml", BROKEN_WORKFLOW);
    let run = s.run(&["workflows", "check", "broken.toml"]).expect(1);
    for (needle, about) in [
        ("\"every monday\"", "cron"),
        ("\"ratification\"", "ratification"),
    ] {
        let (line, column) = position(BROKEN_WORKFLOW, needle);
        let at = format!("broken.toml:{line}:{column}: error:");
        let diagnostic = run
            .stderr
            .lines()
            .find(|l| l.starts_with(&at))
            .unwrap_or_else(|| panic!("no `{at}` line:\n{}", run.stderr));
        assert!(diagnostic.contains(about), "{diagnostic}");
    }
    assert!(
        run.stderr.contains("unknown stage `ratification`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.trim_end().ends_with("2 error(s)"),
        "{}",
        run.stderr
    );

    let json = s
        .run(&["workflows", "check", "broken.toml", "--json"])
        .expect(1)
        .json();
    assert_eq!(json["ok"], false);
    assert_eq!(json["errors"].as_array().map(Vec::len), Some(2), "{json}");
}

#[test]
fn importing_institutions_with_an_unknown_key_exits_1_naming_file_line_column() {
    let s = Sandbox::new();
    let text = "[[institutions]]\nid = \"customs\"\nname = \"State Customs Service\"\n\
                emails = [\"office@customs.example.org\"]\nlanguage = \"ru\"\n\
                time_zone = \"Asia/Bishkek\"\ncolour = \"blue\"\n";
    s.write("institutions.toml", text);
    let run = s
        .run(&["institutions", "import", "institutions.toml"])
        .expect(1);
    let line = run.error_line();
    let (l, c) = position(text, "colour");
    assert!(
        line.starts_with(&format!("error: institutions.toml:{l}:{c}: ")),
        "{line}"
    );
    assert!(line.contains("`colour`"), "{line}");
    let list = s.run(&["institutions", "list", "--json"]).expect(0).json();
    assert_eq!(list, serde_json::json!([]), "nothing imported");
}

#[test]
fn an_unknown_procedure_exits_1() {
    let s = Sandbox::with_demo();
    for args in [
        &["procedures", "show", "kg-cets-999"][..],
        &["procedures", "history", "kg-cets-999"][..],
        &[
            "procedures",
            "comment",
            "kg-cets-999",
            "hello",
            "--as",
            "mfa",
            "--expected-version",
            "1",
        ][..],
        &["audit", "verify", "--procedure", "kg-cets-999"][..],
    ] {
        let run = s.run(args).expect(1);
        assert_eq!(
            run.error_line(),
            "error: procedure `kg-cets-999` does not exist"
        );
    }
}

// ---------------------------------------------------------------- exit 2

#[test]
fn a_missing_required_flag_is_a_usage_error_exit_2() {
    let s = Sandbox::with_demo();
    let run = s
        .run(&[
            "procedures",
            "advance",
            "kg-cets-210",
            "--to",
            "interagency-consultation",
            "--as",
            "moj",
        ])
        .expect(2);
    assert!(run.stderr.contains("--expected-version"), "{}", run.stderr);
    assert_eq!(s.procedure("kg-cets-210")["version"], 2);
}

#[test]
fn an_unknown_subcommand_is_a_usage_error_exit_2() {
    let s = Sandbox::new();
    let run = s.run(&["procedures", "frobnicate"]).expect(2);
    assert!(run.stderr.contains("frobnicate"), "{}", run.stderr);
    let run = s.run(&["frobnicate"]).expect(2);
    assert!(run.stderr.contains("frobnicate"), "{}", run.stderr);
}

// ---------------------------------------------------------------- exit 3

#[test]
fn a_stale_expected_version_exits_3_and_writes_nothing() {
    let s = Sandbox::with_demo();
    assert_eq!(s.procedure("kg-cets-210")["version"], 2);
    let before = s.history("kg-cets-210").len();
    let run = s
        .act(
            &["set", "kg-cets-210", "compatibility_report", "MoJ/2025/17"],
            "moj",
            "1",
        )
        .expect(3);
    let line = run.error_line();
    assert!(
        line.contains("version 1") && line.contains("at 2"),
        "{line}"
    );
    assert_eq!(s.history("kg-cets-210").len(), before);
    let p = s.procedure("kg-cets-210");
    assert_eq!(p["version"], 2);
    assert!(p["fields"].get("compatibility_report").is_none(), "{p}");
}

#[test]
fn starting_a_procedure_that_already_exists_exits_3() {
    let s = Sandbox::with_demo();
    let run = s
        .run(&[
            "procedures",
            "start",
            "--state",
            "KG",
            "--convention",
            "cets-210",
            "--as",
            "mfa",
        ])
        .expect(3);
    assert_eq!(
        run.error_line(),
        "error: procedure `kg-cets-210` already exists"
    );
}

#[test]
fn a_start_for_an_unknown_state_a_foreign_one_or_a_second_open_one_is_refused_naming_why() {
    let s = Sandbox::with_demo();
    let states = s.run(&["states", "list", "--json"]).expect(0).json();
    let codes: Vec<&str> = states
        .as_array()
        .unwrap()
        .iter()
        .map(|st| st["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"KG") && codes.contains(&"TN"), "{states}");
    let table = s.run(&["states", "list"]).expect(0).stdout;
    assert!(table.contains("Кыргыз Республикасы"), "{table}");
    let before = s.run(&["procedures", "list", "--json"]).expect(0).stdout;
    let start = |state: &str, convention: &str, id: &str| {
        s.run(&[
            "procedures",
            "start",
            "--id",
            id,
            "--state",
            state,
            "--convention",
            convention,
            "--as",
            "mfa",
        ])
    };
    let run1 = start("XX", "ets-185", "xx-ets-185").expect(1);
    let line = run1.error_line();
    assert!(
        line.starts_with("error: State `XX` is not in the States registry (known: "),
        "{line}"
    );
    let run2 = start("TN", "ets-185", "tn-ets-185").expect(1);
    let line = run2.error_line();
    assert!(
        line.contains("not TN's") && line.contains("`mfa` (KG)"),
        "{line}"
    );
    let run3 = start("KG", "cets-210", "kg-cets-210-b").expect(3);
    let line = run3.error_line();
    assert!(
        line.contains("KG already has an open procedure on `cets-210`: `kg-cets-210`"),
        "{line}"
    );
    let after = s.run(&["procedures", "list", "--json"]).expect(0).stdout;
    assert_eq!(after, before);
}

// ---------------------------------------------------------------- configuration

#[test]
fn a_config_file_with_an_unknown_key_exits_1_naming_the_key() {
    let s = Sandbox::new();
    s.write("settings.toml", "[database]\npool = 3\n");
    let run = s
        .run(&["--config", "settings.toml", "procedures", "list"])
        .expect(1);
    let line = run.error_line();
    assert!(line.contains("`database.pool`"), "{line}");
    assert!(line.contains("settings.toml"), "{line}");
    assert!(!s.database().exists());
}

#[test]
fn a_missing_config_file_exits_1() {
    let s = Sandbox::new();
    let run = s
        .run(&["--config", "nowhere.toml", "procedures", "list"])
        .expect(1);
    assert!(run.error_line().contains("nowhere.toml"), "{}", run.stderr);
}

#[test]
fn an_invalid_time_zone_in_the_environment_exits_1_naming_calendar_time_zone() {
    let s = Sandbox::new();
    let run = s
        .run_with(
            &["procedures", "list"],
            &[("ACCESSION__CALENDAR__TIME_ZONE", "Mars/Olympus")],
        )
        .expect(1);
    let line = run.error_line();
    assert!(line.contains("calendar.time_zone"), "{line}");
    assert!(line.contains("Mars/Olympus"), "{line}");
}

// ---------------------------------------------------------------- an act, from start to end

#[test]
fn moj_records_the_compatibility_report_then_opens_the_interagency_consultation() {
    let s = Sandbox::with_demo();
    let history = s.history("kg-cets-210").len();

    let set = s
        .act(
            &[
                "set",
                "kg-cets-210",
                "compatibility_report",
                "MoJ/2025/17",
                "--json",
            ],
            "moj",
            "2",
        )
        .expect(0)
        .json();
    assert_eq!(set["version"], 3);
    assert_eq!(set["fields"]["compatibility_report"], "MoJ/2025/17");

    let advance = s
        .act(
            &[
                "advance",
                "kg-cets-210",
                "--to",
                "interagency-consultation",
                "--comment",
                "Draft sent for opinions.",
            ],
            "moj",
            "3",
        )
        .expect(0);
    let stage = advance.stdout.lines().find(|l| l.starts_with("stage "));
    assert!(
        stage.is_some_and(|l| l.contains(" interagency-consultation ")),
        "{}",
        advance.stdout
    );

    let p = s.procedure("kg-cets-210");
    assert_eq!(p["version"], 4);
    assert_eq!(p["stage"], "interagency-consultation");
    assert_eq!(p["approvals_needed"]["at_least"], 3, "{p}");
    let rows = s.history("kg-cets-210");
    assert_eq!(rows.len(), history + 2);
    let last = rows.last().expect("a last row");
    assert_eq!(last["command"], "advance");
    assert_eq!(last["actor_institution"], "moj");
    assert_eq!(last["to_stage"], "interagency-consultation");
    assert_eq!(last["comment"], "Draft sent for opinions.");

    let out = s.run(&["audit", "verify"]).expect(0).stdout;
    assert!(out.starts_with("OK: "), "{out}");
}

#[test]
fn a_list_filter_naming_an_unknown_institution_or_convention_exits_1() {
    let s = Sandbox::with_demo();
    for args in [
        ["procedures", "list", "--institution", "nobody"],
        ["procedures", "list", "--convention", "ets-999"],
    ] {
        let run = s.run(&args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
    }
    // A real filter still works.
    let run = s.run(&["procedures", "list", "--institution", "moj", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json().as_array().map(|a| a.len()), Some(5));
}

#[test]
fn calendar_entry_into_force_applies_the_conventions_rule() {
    let s = Sandbox::with_demo();
    let run = s
        .run(&[
            "calendar",
            "entry-into-force",
            "--convention",
            "ets-185",
            "--deposit",
            "2025-08-28",
        ])
        .expect(0);
    assert_eq!(run.stdout, "2025-12-01\n");
    // Albania deposited before the general entry into force: it is the general date.
    let json = s
        .run(&[
            "calendar",
            "entry-into-force",
            "--convention",
            "ets-185",
            "--deposit",
            "2002-06-20",
            "--json",
        ])
        .expect(0)
        .json();
    assert_eq!(json["entry_into_force"], "2004-07-01");
    assert_eq!(json["rule"]["months_after"], 3);
    // Istanbul reservations are valid five years from entry into force.
    let json = s
        .run(&[
            "calendar",
            "entry-into-force",
            "--convention",
            "cets-210",
            "--deposit",
            "2024-04-22",
            "--json",
        ])
        .expect(0)
        .json();
    assert_eq!(json["entry_into_force"], "2024-08-01");
    assert_eq!(json["reservations_valid_until"], "2029-08-01");
}

#[test]
fn calendar_entry_into_force_refuses_an_unknown_convention_and_a_bad_date() {
    let s = Sandbox::with_demo();
    let run = s
        .run(&[
            "calendar",
            "entry-into-force",
            "--convention",
            "ets-999",
            "--deposit",
            "2025-08-28",
        ])
        .expect(1);
    assert!(run.error_line().contains("ets-999"), "{}", run.stderr);
    let run = s
        .run(&[
            "calendar",
            "entry-into-force",
            "--convention",
            "ets-185",
            "--deposit",
            "2025-02-30",
        ])
        .expect(2);
    assert!(run.stderr.contains("--deposit"), "{}", run.stderr);
}

fn emails_in(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("data/outbox"))
        .map(|d| d.filter(|e| e.is_ok()).count())
        .unwrap_or(0)
}

#[test]
fn scheduler_run_once_at_a_time_sends_the_due_mail_and_a_second_run_sends_nothing() {
    let s = Sandbox::with_demo();
    let at = [
        "scheduler",
        "run-once",
        "--at",
        "2026-11-30T03:00:00Z",
        "--json",
    ];
    let first = s.run(&at).expect(0).json();
    let fired = first["timers"]["fired"].as_u64().unwrap();
    let sent = first["outbox"]["sent"].as_u64().unwrap();
    // The five overdue procedures: deadline and escalation long past, and Monday's reminder.
    assert!(fired >= 15, "{first}");
    assert!(sent > fired, "{first}");
    assert_eq!(first["outbox"]["dead"], 0);
    assert_eq!(emails_in(s.dir.path()), sent as usize);

    let second = s.run(&at).expect(0).json();
    assert_eq!(second["timers"]["fired"], 0, "{second}");
    assert_eq!(second["outbox"]["sent"], 0, "{second}");
    assert_eq!(emails_in(s.dir.path()), sent as usize);

    // Every row is sent but the calls to act on stages the demo's procedures had already left
    // by the time of the run, which are cancelled; a sent row shows its Message-ID, and cannot
    // be "retried".
    let rows = s
        .run(&["outbox", "list", "--json", "--limit", "500"])
        .expect(0)
        .json();
    let rows = rows.as_array().unwrap();
    let with = |status: &str| rows.iter().filter(|r| r["status"] == status).count() as u64;
    assert_eq!(with("sent"), sent);
    assert_eq!(with("sent") + with("cancelled"), rows.len() as u64);
    assert_eq!(
        first["outbox"]["cancelled"].as_u64(),
        Some(with("cancelled"))
    );
    let rows: Vec<_> = rows.iter().filter(|r| r["status"] == "sent").collect();
    let id = rows[0]["id"].to_string();
    let show = s.run(&["outbox", "show", &id]).expect(0);
    assert!(show.stdout.contains("message-id:   <"), "{}", show.stdout);
    let retry = s.run(&["outbox", "retry", &id]).expect(1);
    assert!(retry.error_line().contains("not dead"), "{}", retry.stderr);
}

#[test]
fn scheduler_run_once_refuses_a_time_it_cannot_read() {
    let s = Sandbox::with_demo();
    let run = s
        .run(&["scheduler", "run-once", "--at", "next tuesday"])
        .expect(1);
    assert!(
        run.error_line().contains("--at `next tuesday`"),
        "{}",
        run.stderr
    );
}

#[test]
fn with_no_smtp_server_mail_becomes_dead_letters_that_a_coordinator_can_requeue() {
    let s = Sandbox::with_demo();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let env = [
        ("ACCESSION__MAIL__TRANSPORT", "smtp"),
        ("ACCESSION__MAIL__SMTP__HOST", "127.0.0.1"),
        ("ACCESSION__MAIL__SMTP__PORT", port.as_str()),
        ("ACCESSION__MAIL__SMTP__SECURITY", "none"),
        ("ACCESSION__DISPATCHER__MAX_ATTEMPTS", "1"),
        ("ACCESSION__MAIL__SMTP__POOL_MAX", "2"),
    ];
    let run = s
        .run_with(&["scheduler", "run-once", "--json"], &env)
        .expect(0)
        .json();
    // The first wave (one email per pooled connection, two) fails, and with one attempt allowed
    // those are dead; the pass stops there rather than spend the others' attempts on a server
    // that is not there.
    let dead = run["outbox"]["dead"].as_u64().unwrap();
    assert_eq!(dead, 2, "{run}");
    assert_eq!(run["outbox"]["sent"], 0);
    let waiting = s
        .run(&[
            "outbox", "list", "--status", "pending", "--json", "--limit", "500",
        ])
        .expect(0)
        .json()
        .as_array()
        .unwrap()
        .len() as u64;
    assert!(waiting > 0);
    let list = s
        .run(&[
            "outbox", "list", "--status", "dead", "--json", "--limit", "500",
        ])
        .expect(0)
        .json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len() as u64, dead);
    assert!(
        list[0]["last_error"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{port}")),
        "{}",
        list[0]
    );
    let requeued = s.run(&["outbox", "retry", "--all-dead"]).expect(0);
    assert_eq!(
        requeued.stdout,
        format!("{dead} email(s) back in the queue\n")
    );
    // With the file transport, it and every waiting one go out (or are cancelled: the demo's
    // calls to act on stages its procedures left long ago).
    let run = s.run(&["scheduler", "run-once", "--json"]).expect(0).json();
    let (sent, cancelled) = (
        run["outbox"]["sent"].as_u64().unwrap(),
        run["outbox"]["cancelled"].as_u64().unwrap(),
    );
    assert!(sent > 0, "{run}");
    assert_eq!(sent + cancelled, dead + waiting, "{run}");
}

#[test]
fn scheduler_run_sends_the_due_mail_and_stops_cleanly_on_sigterm() {
    let s = Sandbox::with_demo();
    let mut child = s
        .command(&["scheduler", "run", "-v"])
        .env("ACCESSION__SCHEDULER__INTERVAL_SECS", "1")
        .env("ACCESSION__DISPATCHER__INTERVAL_SECS", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the accession binary starts");
    // Its log says when an email has gone out; read it on a thread, wait at most a minute.
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut log = Vec::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("email sent") {
                let _ = tx.send(());
            }
            log.push(line);
        }
        log
    });
    let sent = rx.recv_timeout(std::time::Duration::from_secs(60));
    assert!(sent.is_ok(), "no email was sent");
    assert!(emails_in(s.dir.path()) > 0, "no email was written");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let out = child.wait_with_output().expect("the process ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log = reader.join().expect("the log reader ends with the process");
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", log.join("\n"));
    assert!(
        log.iter().any(|l| l.contains("stopped")),
        "{}",
        log.join("\n")
    );
    assert!(stdout.contains("Ctrl-C to stop"), "{stdout}");
    assert!(stdout.trim_end().ends_with("stopped"), "{stdout}");
}

// ---------------------------------------------------------------- API tokens

/// A sandbox with the seed's institutions, and nothing else.
fn with_institutions() -> Sandbox {
    let s = Sandbox::new();
    let states = repo("config/demo/states.toml");
    s.run(&["states", "import", states.to_str().expect("a UTF-8 path")])
        .expect(0);
    let seed = repo("config/demo/institutions.toml");
    s.run(&[
        "institutions",
        "import",
        seed.to_str().expect("a UTF-8 path"),
    ])
    .expect(0);
    s
}

#[test]
fn tokens_create_prints_a_token_once_that_list_shows_by_prefix_only() {
    let s = with_institutions();
    let created = s
        .run(&[
            "tokens",
            "create",
            "--institution",
            "moj",
            "--role",
            "ministry",
            "--name",
            "Treaty department",
        ])
        .expect(0);
    let token = created
        .stdout
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("not one line: {:?}", created.stdout));
    assert_eq!(token.len(), 68, "{token}");
    assert!(token.starts_with("acc_"), "{token}");
    assert!(
        token[4..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{token}"
    );
    assert!(
        created.stderr.contains("shown only this once"),
        "{}",
        created.stderr
    );
    assert!(!created.stderr.contains(&token[4..]), "{}", created.stderr);

    let list = s.run(&["tokens", "list"]).expect(0).stdout;
    let mut lines = list.lines();
    let header = lines.next().expect("a header");
    for column in [
        "ID",
        "PREFIX",
        "INSTITUTION",
        "ROLE",
        "NAME",
        "CREATED",
        "LAST USED",
        "REVOKED",
    ] {
        assert!(header.contains(column), "no {column} in {header}");
    }
    let row = lines.next().expect("one token row");
    assert!(row.starts_with("1 "), "{row}");
    assert!(row.contains(&token[..12]), "the prefix is not shown: {row}");
    assert!(
        row.contains(" moj ") && row.contains(" ministry ") && row.contains("Treaty department"),
        "{row}"
    );
    assert!(row.contains(" never "), "{row}");
    let json = s.run(&["tokens", "list", "--json"]).expect(0);
    for out in [&list, &json.stdout] {
        // No run of the secret longer than the prefix appears anywhere.
        assert!(!out.contains(&token[12..24]), "the token is shown:\n{out}");
    }
    let rows = json.json();
    assert_eq!(rows[0]["prefix"], &token[..12]);
    assert_eq!(rows[0]["role"], "ministry");
    assert!(rows[0]["revoked_at"].is_null(), "{rows}");
    assert!(rows[0].get("token").is_none() && rows[0].get("token_hash").is_none());

    let revoked = s.run(&["tokens", "revoke", "1"]).expect(0);
    assert!(
        revoked
            .stdout
            .starts_with("token 1 (moj ministry `Treaty department`) revoked at "),
        "{}",
        revoked.stdout
    );
    let rows = s.run(&["tokens", "list", "--json"]).expect(0).json();
    assert!(rows[0]["revoked_at"].is_string(), "{rows}");
    let list = s.run(&["tokens", "list"]).expect(0).stdout;
    let row = list.lines().nth(1).expect("the token row");
    assert!(
        !row.trim_end().ends_with(" -"),
        "not shown as revoked: {row}"
    );
    // Revoking again is not an error.
    s.run(&["tokens", "revoke", "1"]).expect(0);
}

#[test]
fn tokens_feed_key_prints_a_new_calendar_address_once_and_refuses_a_revoked_token() {
    let s = with_institutions();
    s.run(&[
        "tokens",
        "create",
        "--institution",
        "moj",
        "--role",
        "ministry",
        "--name",
        "Treaty department",
    ])
    .expect(0);
    let address = |run: &Run| -> String {
        let url = run
            .stdout
            .strip_suffix('\n')
            .unwrap_or_else(|| panic!("not one line: {:?}", run.stdout))
            .to_string();
        let key = url
            .strip_prefix("http://127.0.0.1:8080/calendar/moj.ics?key=")
            .unwrap_or_else(|| panic!("not the feed of moj: {url}"));
        assert_eq!(key.len(), 64, "{url}");
        assert!(key.bytes().all(|b| b.is_ascii_hexdigit()), "{url}");
        assert!(
            run.stderr.contains("shown only this once"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains(key), "{}", run.stderr);
        url
    };
    let first = address(&s.run(&["tokens", "feed-key", "1"]).expect(0));
    let second = address(&s.run(&["tokens", "feed-key", "1"]).expect(0));
    assert_ne!(first, second, "a new key each time");
    let rows = s.run(&["tokens", "list", "--json"]).expect(0);
    assert!(
        rows.json()[0]["feed_key_created_at"].is_string(),
        "{}",
        rows.stdout
    );
    for url in [&first, &second] {
        assert!(
            !rows.stdout.contains(&url[url.len() - 64..]),
            "{}",
            rows.stdout
        );
    }

    s.run(&["tokens", "revoke", "1"]).expect(0);
    let refused = s.run(&["tokens", "feed-key", "1"]).expect(1);
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);
    assert!(
        refused.error_line().contains("token 1 is revoked"),
        "{}",
        refused.stderr
    );
    let missing = s.run(&["tokens", "feed-key", "99"]).expect(1);
    assert!(
        missing.error_line().contains("token `99` does not exist"),
        "{}",
        missing.stderr
    );
}

#[test]
fn tokens_create_json_has_the_token_and_its_row() {
    let s = with_institutions();
    let created = s
        .run(&[
            "tokens",
            "create",
            "--institution",
            "mfa",
            "--role",
            "coordinator",
            "--name",
            "Coordination desk",
            "--json",
        ])
        .expect(0)
        .json();
    let token = created["token"].as_str().expect("a token");
    assert!(token.starts_with("acc_") && token.len() == 68, "{token}");
    assert_eq!(created["row"]["id"], 1);
    assert_eq!(created["row"]["institution"], "mfa");
    assert_eq!(created["row"]["role"], "coordinator");
    assert_eq!(created["row"]["prefix"], &token[..12]);
}

#[test]
fn tokens_create_for_an_unknown_institution_exits_1_naming_it() {
    let s = with_institutions();
    let run = s
        .run(&[
            "tokens",
            "create",
            "--institution",
            "nowhere",
            "--role",
            "ministry",
            "--name",
            "Ghost",
        ])
        .expect(1);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let line = run.error_line();
    assert!(
        line.contains("institution `nowhere` does not exist"),
        "{line}"
    );
    s.run(&["tokens", "revoke", "7"]).expect(1);
    let list = s.run(&["tokens", "list"]).expect(0).stdout;
    assert_eq!(list, "(none)\n");
}

#[test]
fn tokens_create_with_a_bad_role_exits_2() {
    let s = with_institutions();
    let run = s
        .run(&[
            "tokens",
            "create",
            "--institution",
            "moj",
            "--role",
            "minister",
            "--name",
            "Typo",
        ])
        .expect(2);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.contains("minister"), "{}", run.stderr);
    assert!(run.stderr.contains("coordinator"), "{}", run.stderr);
}

/// `GET path` with a bearer token over a plain TCP connection; the status line and the body.
fn http_get(address: &str, path: &str, token: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("the server accepts");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.lines().next().unwrap_or_default().to_string();
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

#[test]
fn serve_demo_prints_a_token_per_role_serves_the_api_and_stops_on_sigterm() {
    use std::io::BufRead;
    let s = Sandbox::new();
    let mut child = s
        .command(&["serve", "--demo", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the accession binary starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let mut address = None;
    let mut tokens = std::collections::BTreeMap::new();
    while tokens.len() < 4 {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("serve printed only:\n{}", lines.join("\n")));
        if let Some(rest) = line.strip_prefix("listening on http://") {
            address = rest.split_whitespace().next().map(str::to_string);
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [role, _institution, token] = words[..]
            && token.starts_with("acc_")
        {
            tokens.insert(role.to_string(), token.to_string());
        }
        lines.push(line);
    }
    assert!(
        lines[0].starts_with("demo loaded: 6 procedures"),
        "{lines:?}"
    );
    let address = address.expect("the address is printed");
    assert_eq!(
        tokens.keys().collect::<Vec<_>>(),
        ["admin", "auditor", "coordinator", "ministry"]
    );
    let (status, body) = http_get(&address, "/api/v1/procedures", &tokens["auditor"]);
    assert!(status.contains(" 200 "), "{status}\n{body}");
    assert!(body.contains("kg-ets-112"), "{body}");
    let (status, _) = http_get(&address, "/api/v1/tokens", &tokens["auditor"]);
    assert!(status.contains(" 403 "), "{status}");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = child.wait().expect("the process ends");
    reader.join().unwrap();
    let rest: Vec<String> = rx.try_iter().collect();
    assert_eq!(status.code(), Some(0), "{rest:?}");
    assert_eq!(rest.last().map(String::as_str), Some("stopped"), "{rest:?}");
}

// ---------------------------------------------------------------- roles and institutions

#[test]
fn tokens_are_made_only_for_a_role_the_institution_may_hold() {
    let s = with_institutions();
    let table = [
        ("mfa", "coordinator", 0),
        ("mfa", "admin", 0),
        ("ombudsperson", "auditor", 0),
        ("moj", "ministry", 0),
        ("moj", "admin", 1),
        ("moj", "coordinator", 1),
        ("bar-training-centre", "coordinator", 1),
    ];
    for (institution, role, code) in table {
        let run = s
            .run(&[
                "tokens",
                "create",
                "--institution",
                institution,
                "--role",
                role,
                "--name",
                "table test",
            ])
            .expect(code);
        if code == 1 {
            assert!(run.stdout.is_empty(), "{}", run.stdout);
            let line = run.error_line();
            assert!(
                line.contains(&format!(
                    "the {role} role belongs to the coordinating institution (`mfa`), and \
                     `{institution}` is not one"
                )),
                "{line}"
            );
        }
    }
    let rows = s.run(&["tokens", "list", "--json"]).expect(0).json();
    assert_eq!(rows.as_array().map(Vec::len), Some(4), "{rows}");
}

#[test]
fn acting_in_a_role_the_institution_may_not_hold_is_refused_and_changes_nothing() {
    let s = Sandbox::with_demo();
    let version = s.procedure("kg-ets-185")["version"].to_string();
    for (institution, role, says) in [
        (
            "bar-training-centre",
            "coordinator",
            "the coordinator role belongs to the coordinating institution (`mfa`), and \
             `bar-training-centre` is not one",
        ),
        ("mfa", "admin", "the admin role runs the service"),
    ] {
        let run = s
            .run(&[
                "procedures",
                "suspend",
                "kg-ets-185",
                "--reason",
                "reshuffle",
                "--as",
                institution,
                "--role",
                role,
                "--expected-version",
                &version,
            ])
            .expect(1);
        let line = run.error_line();
        assert!(line.contains(says), "{line}");
    }
    let p = s.procedure("kg-ets-185");
    assert_eq!(p["version"].to_string(), version);
    assert_eq!(p["status"], "active");
}

#[test]
fn importing_institutions_that_leave_no_coordinator_or_two_exits_1_at_the_line_and_changes_nothing()
{
    let s = with_institutions();
    let before = s.run(&["institutions", "list", "--json"]).expect(0).stdout;
    let seed = std::fs::read_to_string(repo("config/demo/institutions.toml")).unwrap();
    let none = seed.replace("coordinator = true\n", "");
    let two = seed.replace("id = \"moj\"\n", "id = \"moj\"\ncoordinator = true\n");
    assert!(none != seed && two != seed);
    for (name, text, at, says) in [
        (
            "none.toml",
            &none,
            "[[institutions]]\nid = \"mfa\"",
            "this import takes `coordinator = true` from `mfa` and gives it to no other institution",
        ),
        (
            "two.toml",
            &two,
            "[[institutions]]\nid = \"moj\"",
            "more than one institution would be the coordinator (`mfa`, `moj`)",
        ),
    ] {
        s.write(name, text);
        let run = s.run(&["institutions", "import", name]).expect(1);
        let (l, c) = position(text, at);
        let line = run.error_line();
        assert!(
            line.starts_with(&format!("error: {name}:{l}:{c}: {says}")),
            "{line}"
        );
        assert_eq!(
            s.run(&["institutions", "list", "--json"]).expect(0).stdout,
            before,
            "{name} changed the institutions"
        );
    }
    // A first import without any coordinator imports nothing.
    let fresh = Sandbox::new();
    fresh.write("none.toml", &none);
    let run = fresh
        .run(&["institutions", "import", "none.toml"])
        .expect(1);
    assert!(
        run.error_line()
            .starts_with("error: none.toml:1:1: no institution is the coordinator"),
        "{}",
        run.stderr
    );
    let list = fresh
        .run(&["institutions", "list", "--json"])
        .expect(0)
        .json();
    assert_eq!(list, serde_json::json!([]));
    // A file adding one ministry, silent on the coordinator, is an ordinary import.
    let customs = "[[institutions]]\nid = \"customs\"\nstate = \"KG\"\nname = \"State Customs Service\"\n\
                   emails = [\"office@customs.example.org\"]\nlanguage = \"ru\"\n\
                   time_zone = \"Asia/Bishkek\"\n";
    s.write("customs.toml", customs);
    s.run(&["institutions", "import", "customs.toml"]).expect(0);
}

// ---------------------------------------------------------------- control characters

#[test]
fn control_characters_in_command_line_text_are_refused_and_change_nothing() {
    let s = Sandbox::with_demo();
    let rows = s.history("kg-cets-210").len();
    let cases: [(&[&str], &str, &str); 5] = [
        (
            &["comment", "kg-cets-210", "a\u{1b}b"],
            "moj",
            "`text` is not valid: it contains the control character U+001B (escape) at character 2",
        ),
        (
            &["set", "kg-cets-210", "compatibility_report", "MoJ\u{7}"],
            "moj",
            "field `compatibility_report` is not valid: it contains the control character U+0007 (bell)",
        ),
        (
            &[
                "advance",
                "kg-cets-210",
                "--to",
                "interagency-consultation",
                "--comment",
                "a\u{7f}",
            ],
            "moj",
            "`comment` is not valid: it contains the control character U+007F (delete)",
        ),
        (
            &["suspend", "kg-cets-210", "--reason", "a\u{1}"],
            "mfa",
            "`reason` is not valid: it contains the control character U+0001 at character 2",
        ),
        (
            &["comment", "kg-cets-210", "fine", "--name", "Clerk\u{1b}[0m"],
            "moj",
            "the actor's name is not valid: it contains the control character U+001B (escape)",
        ),
    ];
    for (args, institution, says) in cases {
        let run = s.act(args, institution, "2").expect(1);
        let line = run.error_line();
        assert!(line.contains(says), "{line}");
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert_eq!(s.procedure("kg-cets-210")["version"], 2);
        assert_eq!(s.history("kg-cets-210").len(), rows);
    }
}

#[test]
fn importing_a_name_or_title_with_a_control_character_exits_1_at_file_line_column() {
    let s = Sandbox::new();
    let institutions = "[[institutions]]\nid = \"mfa\"\nname = \"MFA\\u0000\"\nemails = []\n\
                        language = \"en\"\ntime_zone = \"Asia/Bishkek\"\ncoordinator = true\n";
    s.write("institutions.toml", institutions);
    let run = s
        .run(&["institutions", "import", "institutions.toml"])
        .expect(1);
    let (l, c) = position(institutions, "\"MFA");
    assert!(
        run.error_line().starts_with(&format!(
            "error: institutions.toml:{l}:{c}: `name`: it contains the control character U+0000 (NUL) at character 4"
        )),
        "{}",
        run.stderr
    );
    let conventions = "[[conventions]]\nid = \"ets-112\"\nnumber = \"ETS No. 112\"\n\
                       title = \"Transfer of\\nSentenced Persons\"\n\
                       entry_into_force = { months_after = 3 }\n";
    s.write("conventions.toml", conventions);
    let run = s
        .run(&["conventions", "import", "conventions.toml"])
        .expect(1);
    let (l, c) = position(conventions, "\"Transfer");
    assert!(
        run.error_line().starts_with(&format!(
            "error: conventions.toml:{l}:{c}: `title`: it contains the control character U+000A (line feed)"
        )),
        "{}",
        run.stderr
    );
    for list in ["institutions", "conventions"] {
        let json = s.run(&[list, "list", "--json"]).expect(0).json();
        assert_eq!(json, serde_json::json!([]), "{list} imported");
    }
}

#[test]
fn serve_refuses_a_bad_setting_before_it_listens_and_every_command_names_it() {
    let s = Sandbox::new();
    // With the file transport one send may take 10 s: a lease of 10 s is too short.
    let env = [("ACCESSION__DISPATCHER__LEASE_SECS", "10")];
    let run = s
        .run_with(&["serve", "--demo", "--bind", "127.0.0.1:0"], &env)
        .expect(1);
    assert!(
        !run.stdout.contains("listening"),
        "it listened before refusing:\n{}",
        run.stdout
    );
    assert!(!run.stdout.contains("demo loaded"), "{}", run.stdout);
    let line = run.error_line();
    assert!(line.contains("`dispatcher.lease_secs` (10)"), "{line}");
    let list = s.run_with(&["procedures", "list"], &env).expect(1);
    assert!(list.error_line().contains("`dispatcher.lease_secs`"));
    assert!(!s.database().exists(), "a refused command wrote nothing");
}

#[test]
fn workflows_check_of_a_folder_checks_every_toml_file_in_it() {
    let s = Sandbox::new();
    let folder = repo("workflows");
    let out = s
        .run(&["workflows", "check", folder.to_str().unwrap()])
        .expect(0)
        .stdout;
    assert!(out.contains("3 workflow file(s) valid"), "{out}");
    assert!(out.contains("coe-ratification v2"), "{out}");

    let mine = s.dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::copy(repo("workflows/four-stage.toml"), mine.join("a.toml")).unwrap();
    std::fs::write(mine.join("b.toml"), "id = \"broken\"\nversion = 0\n").unwrap();
    std::fs::write(mine.join("notes.txt"), "not a workflow").unwrap();
    let run = s.run(&["workflows", "check", "mine"]).expect(1);
    assert!(run.stderr.contains("b.toml"), "{}", run.stderr);
    assert!(!run.stderr.contains("notes.txt"), "{}", run.stderr);
    assert!(!run.stderr.contains("a.toml"), "{}", run.stderr);

    let empty = s.dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let run = s.run(&["workflows", "check", "empty"]).expect(1);
    assert!(
        run.error_line().contains("empty has no workflow files"),
        "{}",
        run.stderr
    );
}

/// Run `sql` on the SQLite database at `path`, then close it (the last connection's close
/// checkpoints the WAL and removes the -wal and -shm files).
fn sqlite_exec(path: &Path, sql: &str) {
    use sea_orm::ConnectionTrait;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let db = sea_orm::Database::connect(format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        db.execute_unprepared(sql).await.unwrap();
        db.close().await.unwrap();
    });
}

/// A folder nobody may write to, undone when dropped: a read-only tmpfs mount (root ignores
/// file modes, so for root that is the way), else immutable files (`chattr +i`), else, for
/// other users, modes 0444 and 0555.
struct ReadOnlyFolder {
    path: PathBuf,
    how: &'static str,
}

impl ReadOnlyFolder {
    /// `files` copied into `path`, which is then made read-only; None (said on stderr) when
    /// this machine allows none of the ways, which in CI is a failure.
    fn with_copies(path: PathBuf, files: &[PathBuf]) -> Option<ReadOnlyFolder> {
        let ok = |cmd: &mut Command| {
            cmd.stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        std::fs::create_dir(&path).unwrap();
        let copy = || {
            for file in files {
                std::fs::copy(file, path.join(file.file_name().unwrap())).unwrap();
            }
        };
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if !root {
            copy();
            let mut all = vec![path.clone()];
            all.extend(files.iter().map(|f| path.join(f.file_name().unwrap())));
            for p in &all[1..] {
                ok(Command::new("chmod").arg("0444").arg(p));
            }
            ok(Command::new("chmod").arg("0555").arg(&path));
            return Some(ReadOnlyFolder { path, how: "chmod" });
        }
        if ok(Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64m", "tmpfs"])
            .arg(&path))
        {
            copy();
            if ok(Command::new("mount").args(["-o", "remount,ro"]).arg(&path)) {
                return Some(ReadOnlyFolder { path, how: "mount" });
            }
            ok(Command::new("umount").arg(&path));
        }
        copy();
        let copies: Vec<PathBuf> = files
            .iter()
            .map(|f| path.join(f.file_name().unwrap()))
            .collect();
        if ok(Command::new("chattr").arg("+i").args(&copies).arg(&path)) {
            return Some(ReadOnlyFolder {
                path,
                how: "chattr",
            });
        }
        if std::env::var_os("CI").is_some() {
            panic!("CI must be able to make a read-only folder (mount or chattr as root)");
        }
        eprintln!("skipping the read-only database checks: as root this needs `mount` or `chattr`");
        None
    }
}

impl Drop for ReadOnlyFolder {
    fn drop(&mut self) {
        let undo = |cmd: &mut Command| {
            let _ = cmd.stderr(Stdio::null()).status();
        };
        match self.how {
            "mount" => undo(Command::new("umount").arg(&self.path)),
            "chattr" => undo(Command::new("chattr").args(["-R", "-i"]).arg(&self.path)),
            _ => undo(Command::new("chmod").args(["-R", "u+w"]).arg(&self.path)),
        }
    }
}

#[test]
fn read_commands_work_on_a_database_that_cannot_be_written() {
    let s = Sandbox::with_demo();
    // As a copy kept as evidence would be: the WAL folded in, no -wal or -shm beside it.
    sqlite_exec(&s.database(), "PRAGMA wal_checkpoint(TRUNCATE)");
    assert!(!s.dir.path().join("accession.db-wal").exists());
    let Some(folder) = ReadOnlyFolder::with_copies(s.dir.path().join("evidence"), &[s.database()])
    else {
        return;
    };
    let url = format!("sqlite://{}", folder.path.join("accession.db").display());
    let env = [("ACCESSION__DATABASE__URL", url.as_str())];

    let list = s
        .run_with(&["procedures", "list", "--json"], &env)
        .expect(0)
        .json();
    assert_eq!(list.as_array().unwrap().len(), 6, "{list}");
    let verify = s.run_with(&["audit", "verify"], &env).expect(0);
    assert!(
        verify.stdout.contains("every chain intact"),
        "{}",
        verify.stdout
    );
    for read in [
        &["procedures", "show", "kg-ets-112"][..],
        &["procedures", "history", "kg-ets-112"],
        &["institutions", "list"],
        &["outbox", "list"],
        &["tokens", "list"],
        &["workflows", "check"],
    ] {
        s.run_with(read, &env).expect(0);
    }
    // A write says why it cannot.
    let write = s
        .run_with(
            &[
                "procedures",
                "comment",
                "kg-ets-112",
                "noted",
                "--as",
                "mfa",
                "--expected-version",
                "18",
            ],
            &env,
        )
        .expect(4);
    assert!(
        write
            .error_line()
            .contains("the database cannot be written here: the file or its folder is read-only"),
        "{}",
        write.stderr
    );
    assert!(
        !folder.path.join("accession.db-wal").exists(),
        "nothing was written beside it ({})",
        folder.how
    );
}

#[test]
fn a_read_command_on_a_read_only_database_with_an_older_schema_says_to_migrate() {
    let s = Sandbox::with_demo();
    sqlite_exec(
        &s.database(),
        "DELETE FROM seaql_migrations WHERE version = \
         (SELECT MAX(version) FROM seaql_migrations)",
    );
    let Some(folder) = ReadOnlyFolder::with_copies(s.dir.path().join("old"), &[s.database()])
    else {
        return;
    };
    let url = format!("sqlite://{}", folder.path.join("accession.db").display());
    let run = s
        .run_with(
            &["procedures", "list"],
            &[("ACCESSION__DATABASE__URL", url.as_str())],
        )
        .expect(1);
    let line = run.error_line();
    assert!(
        line.contains("the database's schema is behind this version of accession")
            && line.contains("1 migration(s) to apply")
            && line.contains("run `accession migrate` where the database can be written"),
        "{line}"
    );
}

#[test]
fn a_write_that_waits_too_long_for_the_lock_says_the_database_is_busy() {
    use sea_orm::{ConnectionTrait, SqliteTransactionMode, TransactionOptions, TransactionTrait};
    let s = Sandbox::with_demo();
    let comment = [
        "procedures",
        "comment",
        "kg-ets-112",
        "noted",
        "--as",
        "mfa",
        "--expected-version",
        "18",
    ];
    let env = [("ACCESSION__DATABASE__BUSY_TIMEOUT_MS", "1")];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // The pool's connections are dropped in this runtime, even when an assertion fails.
    let _inside = runtime.enter();
    let url = format!("sqlite://{}", s.database().display());
    let (other, holding) = runtime.block_on(async {
        let other = sea_orm::Database::connect(&url).await.unwrap();
        let holding = other
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
            .unwrap();
        holding
            .execute_unprepared("UPDATE institutions SET id = id WHERE 1 = 0")
            .await
            .unwrap();
        (other, holding)
    });
    let busy = s.run_with(&comment, &env).expect(5);
    assert_eq!(
        busy.error_line(),
        "error: the database is busy: another process held the write lock for longer than \
         database.busy_timeout_ms (1 ms); try again, or raise the setting"
    );
    runtime.block_on(async {
        holding.rollback().await.unwrap();
        other.close().await.unwrap();
    });
    assert_eq!(s.history("kg-ets-112").len(), 18, "nothing was written");
    s.run_with(&comment, &env).expect(0);
    assert_eq!(s.history("kg-ets-112").len(), 19);
}

/// The key pair, a checkpoint, and the environment that names the key, for the audit tests.
fn with_audit_key(s: &Sandbox) -> (PathBuf, Vec<(String, String)>) {
    let key = s.dir.path().join("audit.key");
    let out = s
        .run(&["audit", "keygen", key.to_str().unwrap()])
        .expect(0)
        .stdout;
    assert!(out.contains("key id"), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the private key is readable by its owner only");
    }
    // A second keygen never overwrites the key.
    let again = s.run(&["audit", "keygen", key.to_str().unwrap()]);
    assert_ne!(again.code, 0, "{}", again.stdout);
    assert!(
        again.stderr.contains("never overwritten"),
        "{}",
        again.stderr
    );
    let env = vec![(
        "ACCESSION__AUDIT__KEY_FILE".to_string(),
        key.display().to_string(),
    )];
    (key, env)
}

fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn a_checkpoint_and_an_inclusion_proof_check_out_here_and_in_an_independent_script() {
    let s = Sandbox::with_demo();
    let (key, env) = with_audit_key(&s);
    let env = env_refs(&env);
    let public = format!("{}.pub", key.display());
    let cp = s.run_with(&["audit", "checkpoint"], &env).expect(0);
    let cp_json = cp.json();
    assert_eq!(cp_json["format"], "accession checkpoint v1");
    assert!(cp_json["size"].as_u64().unwrap() > 10, "{cp_json}");
    let cp_file = s.write("cp.json", &cp.stdout);
    assert!(
        !cp.stderr
            .contains(&std::fs::read_to_string(&key).unwrap().trim().to_string()),
        "the private key is never printed"
    );
    let cp_path = cp_file.to_str().unwrap();

    let ok = s
        .run_with(&["audit", "verify", "--checkpoint", cp_path], &env)
        .expect(0)
        .stdout;
    assert!(ok.contains("extends the"), "{ok}");

    let proof = s
        .run_with(
            &[
                "audit",
                "prove",
                "--procedure",
                "kg-ets-112",
                "--checkpoint",
                cp_path,
            ],
            &env,
        )
        .expect(0);
    let proof_file = s.write("proof.json", &proof.stdout);
    let proof_path = proof_file.to_str().unwrap();
    let check = |proof: &str| {
        s.run(&[
            "audit",
            "check-proof",
            proof,
            "--checkpoint",
            cp_path,
            "--public-key",
            &public,
        ])
    };
    let out = check(proof_path).expect(0).stdout;
    assert!(out.starts_with("OK: `kg-ets-112`"), "{out}");

    let python = |proof: &str, cp: &str| {
        std::process::Command::new("python3")
            .arg(repo("tests/check_proof.py"))
            .args([proof, cp, &public])
            .output()
            .expect("python3 runs")
    };
    let independent = python(proof_path, cp_path);
    assert!(
        independent.status.success(),
        "{}",
        String::from_utf8_lossy(&independent.stdout)
    );
    assert_eq!(
        String::from_utf8_lossy(&independent.stdout).trim(),
        "OK: recorded 2024-08-01T04:00:00Z, took effect as recorded"
    );

    // A row whose day is not known (the request, sequence 8): the proof carries it, both times
    // included, and both checkers rebuild its form-2 encoding; an edit to its effective day in
    // the proof is refused by both.
    let request = s
        .run_with(
            &[
                "audit",
                "prove",
                "--procedure",
                "kg-ets-112",
                "--sequence",
                "8",
                "--checkpoint",
                cp_path,
            ],
            &env,
        )
        .expect(0);
    let request_json = request.json();
    assert_eq!(request_json["format"], "accession inclusion proof v2");
    assert_eq!(request_json["row"]["hash_form"], 3);
    let request_file = s.write("request.json", &request.stdout);
    let request_path = request_file.to_str().unwrap();
    check(request_path).expect(0);
    let out = python(request_path, cp_path);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "OK: recorded 2023-12-20T04:05:00Z, took effect on or before 2023-12-20 (day not known), \
         retrospective"
    );
    let mut moved = request_json.clone();
    moved["row"]["effective_on"] = Value::String("2023-09-01".into());
    let moved_file = s.write("moved.json", &moved.to_string());
    let moved_path = moved_file.to_str().unwrap();
    let out = check(moved_path).expect(1).stdout;
    assert!(out.contains("edited"), "{out}");
    let out = python(moved_path, cp_path);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("altered"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Text beyond ASCII, quotes and a backslash encode alike in both checkers.
    let v = s.procedure("kg-ets-112")["version"].to_string();
    s.act(
        &[
            "comment",
            "kg-ets-112",
            "Мнение «получено» — \"ok\" \\ 😀",
            "--effective",
            "2024-08-02",
        ],
        "mfa",
        &v,
    )
    .expect(0);
    let cp2 = s.run_with(&["audit", "checkpoint"], &env).expect(0);
    let cp2_file = s.write("cp2.json", &cp2.stdout);
    let cp2_path = cp2_file.to_str().unwrap();
    let newest = s
        .run_with(
            &[
                "audit",
                "prove",
                "--procedure",
                "kg-ets-112",
                "--checkpoint",
                cp2_path,
            ],
            &env,
        )
        .expect(0);
    let newest_file = s.write("newest.json", &newest.stdout);
    let out = python(newest_file.to_str().unwrap(), cp2_path);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("took effect on 2024-08-02, retrospective"),
        "{said}"
    );

    // A proof of the first form (the row's hash alone) is still read by both.
    let mut v1 = request_json.clone();
    v1["format"] = Value::String("accession inclusion proof v1".into());
    v1.as_object_mut().unwrap().remove("row");
    let v1_file = s.write("v1.json", &v1.to_string());
    check(v1_file.to_str().unwrap()).expect(0);
    let out = python(v1_file.to_str().unwrap(), cp_path);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");

    // A proof of another row hash, and a checkpoint with another size: refused by both.
    let mut tampered = proof.json();
    let h = tampered["row_hash"].as_str().unwrap().to_string();
    let flipped = format!("{}{}", if h.starts_with('0') { "1" } else { "0" }, &h[1..]);
    tampered["row_hash"] = Value::String(flipped);
    let bad_proof = s.write("bad-proof.json", &tampered.to_string());
    let out = check(bad_proof.to_str().unwrap()).expect(1).stdout;
    assert!(out.starts_with("BROKEN proof"), "{out}");
    assert!(
        !python(bad_proof.to_str().unwrap(), cp_path)
            .status
            .success()
    );

    let mut forged = cp_json.clone();
    forged["size"] = Value::from(cp_json["size"].as_u64().unwrap() + 1);
    let forged_file = s.write("forged.json", &forged.to_string());
    let forged_path = forged_file.to_str().unwrap();
    let out = s
        .run(&[
            "audit",
            "check-proof",
            proof_path,
            "--checkpoint",
            forged_path,
            "--public-key",
            &public,
        ])
        .expect(1)
        .stdout;
    assert!(out.contains("signature is not valid"), "{out}");
    assert!(!python(proof_path, forged_path).status.success());
    let refused = s
        .run_with(&["audit", "verify", "--checkpoint", forged_path], &env)
        .expect(1);
    assert!(
        refused.stderr.contains("signature is not valid"),
        "{}",
        refused.stderr
    );
}

#[test]
fn rows_deleted_and_the_log_rebuilt_pass_audit_verify_but_not_against_a_checkpoint() {
    let s = Sandbox::with_demo();
    let (_key, env) = with_audit_key(&s);
    let env = env_refs(&env);
    let cp = s.run_with(&["audit", "checkpoint"], &env).expect(0);
    let cp_file = s.write("cp.json", &cp.stdout);
    // An attacker with the database: the newest row of one procedure goes, the version follows,
    // and the log is emptied so that the application rebuilds it from what is left.
    sqlite_exec(
        &s.database(),
        "DROP TRIGGER history_no_delete; DROP TRIGGER log_leaves_no_delete; \
         DROP TRIGGER log_nodes_no_delete; DROP TRIGGER log_head_grows; \
         DELETE FROM history WHERE procedure_id = 'kg-ets-112' AND sequence = \
           (SELECT MAX(sequence) FROM history WHERE procedure_id = 'kg-ets-112'); \
         UPDATE procedures SET version = version - 1 WHERE id = 'kg-ets-112'; \
         DELETE FROM log_leaves; DELETE FROM log_nodes; \
         UPDATE log_head SET size = 0, frontier = '', \
           root = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', \
           backfill_pending = 1;",
    );
    // Opened for writing, the application puts every row back in the log.
    s.run_with(&["audit", "checkpoint"], &env).expect(0);
    let plain = s.run(&["audit", "verify"]).expect(0).stdout;
    assert!(plain.starts_with("OK"), "{plain}");
    let out = s
        .run_with(
            &["audit", "verify", "--checkpoint", cp_file.to_str().unwrap()],
            &env,
        )
        .expect(1)
        .stdout;
    assert!(out.contains("BROKEN against the checkpoint"), "{out}");
    assert!(out.contains("missing"), "{out}");
}

#[test]
fn audit_checkpoint_queues_its_email_to_the_auditor_institutions_unless_no_email() {
    let s = Sandbox::with_demo();
    let (_key, env) = with_audit_key(&s);
    let env = env_refs(&env);
    for (institution, role) in [("ombudsperson", "auditor"), ("moj", "ministry")] {
        s.run(&[
            "tokens",
            "create",
            "--institution",
            institution,
            "--role",
            role,
            "--name",
            "reader",
        ])
        .expect(0);
    }
    let checkpoint_rows = |s: &Sandbox| -> Vec<Value> {
        s.run(&["outbox", "list", "--json", "--limit", "500"])
            .expect(0)
            .json()
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["kind"] == "checkpoint")
            .cloned()
            .collect()
    };
    let made = s.run_with(&["audit", "checkpoint"], &env).expect(0);
    // Stdout is the checkpoint alone, so that it can be saved as a file; the email is told on
    // stderr.
    let cp = made.json();
    assert!(
        made.stderr
            .contains("queued by email to 1 auditor institution(s): ombudsperson"),
        "{}",
        made.stderr
    );
    let rows = checkpoint_rows(&s);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["recipient_institution"], "ombudsperson");
    assert_eq!(rows[0]["procedure"], Value::Null);
    assert_eq!(rows[0]["status"], "pending");
    assert_eq!(rows[0]["payload"]["checkpoint"], cp);
    let size = cp["size"].as_u64().unwrap();
    assert_eq!(
        rows[0]["payload"]["file"],
        format!("checkpoint-{size}.json")
    );
    let id = rows[0]["id"].to_string();
    let shown = s.run(&["outbox", "show", &id]).expect(0).stdout;
    assert!(shown.contains("procedure:    -"), "{shown}");
    assert!(shown.contains("kind:         checkpoint"), "{shown}");

    let quiet = s
        .run_with(&["audit", "checkpoint", "--no-email"], &env)
        .expect(0);
    assert_eq!(quiet.json()["format"], "accession checkpoint v1");
    assert!(
        quiet.stderr.contains("emailed to nobody"),
        "{}",
        quiet.stderr
    );
    assert_eq!(checkpoint_rows(&s).len(), 1, "--no-email queues nothing");
    let listed = s
        .run_with(&["audit", "checkpoint", "--json"], &env)
        .expect(0);
    assert_eq!(listed.json()["format"], "accession checkpoint v1");
    assert_eq!(checkpoint_rows(&s).len(), 2);
}

#[test]
fn an_act_records_the_actor_given_with_actor_or_its_older_spelling_name() {
    let s = Sandbox::with_demo();
    let version = |s: &Sandbox| s.procedure("kg-cets-210")["version"].to_string();
    for (flag, who) in [("--actor", "Aida Sadykova"), ("--name", "Bakyt Osmonov")] {
        let v = version(&s);
        s.act(
            &["comment", "kg-cets-210", "checked the file", flag, who],
            "mfa",
            &v,
        )
        .expect(0);
        let history = s.history("kg-cets-210");
        let last = history.last().unwrap();
        assert_eq!(last["actor_name"], who, "{last}");
    }
    // Neither, and no user in the environment (a service, a cron job): the process's owner.
    let owner = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let owner = String::from_utf8(owner.stdout).unwrap().trim().to_string();
    let v = version(&s);
    let mut cmd = s.command(&[
        "procedures",
        "comment",
        "kg-cets-210",
        "from a service",
        "--as",
        "mfa",
        "--expected-version",
        &v,
    ]);
    for key in ["USER", "LOGNAME", "USERNAME"] {
        cmd.env_remove(key);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let history = s.history("kg-cets-210");
    assert_eq!(
        history.last().unwrap()["actor_name"],
        format!("cli:{owner}"),
        "never cli:unknown"
    );
}

#[test]
fn an_act_recorded_late_states_the_day_it_took_effect() {
    let s = Sandbox::with_demo();
    let version = |s: &Sandbox| s.procedure("kg-cets-210")["version"].to_string();
    let v = version(&s);
    s.act(
        &[
            "comment",
            "kg-cets-210",
            "opinion received",
            "--effective",
            "2024-06-03",
        ],
        "mfa",
        &v,
    )
    .expect(0);
    let v = version(&s);
    s.act(
        &[
            "comment",
            "kg-cets-210",
            "letter sent",
            "--effective",
            "2024-06-10",
            "--approximate",
        ],
        "mfa",
        &v,
    )
    .expect(0);
    let history = s.history("kg-cets-210");
    let [.., exact, approximate] = history.as_slice() else {
        panic!("{history:?}")
    };
    assert_eq!(
        (
            &exact["effective_on"],
            &exact["effective_approximate"],
            &exact["retrospective"]
        ),
        (&json!("2024-06-03"), &json!(false), &json!(true))
    );
    assert_eq!(
        (
            &approximate["effective_on"],
            &approximate["effective_approximate"]
        ),
        (&json!("2024-06-10"), &json!(true))
    );
    let table = s
        .run(&["procedures", "history", "kg-cets-210"])
        .expect(0)
        .stdout;
    assert!(table.contains("TOOK EFFECT"), "{table}");
    assert!(table.contains("2024-06-03, retrospective"), "{table}");
    assert!(
        table.contains("≤ 2024-06-10 (day not known), retrospective"),
        "{table}"
    );
    assert!(table.contains("as recorded"), "{table}");

    // Refused, naming what: before the previous act, a day not in full, approximate alone.
    let v = version(&s);
    let before = s
        .act(
            &["comment", "kg-cets-210", "x", "--effective", "2024-06-01"],
            "mfa",
            &v,
        )
        .expect(1);
    assert!(
        before.error_line().contains("before 2024-06-10"),
        "{}",
        before.stderr
    );
    let short = s.act(
        &["comment", "kg-cets-210", "x", "--effective", "2024-6-1"],
        "mfa",
        &v,
    );
    assert_ne!(short.code, 0);
    assert!(short.stderr.contains("YYYY-MM-DD"), "{}", short.stderr);
    let alone = s.act(&["comment", "kg-cets-210", "x", "--approximate"], "mfa", &v);
    assert_ne!(alone.code, 0);
    assert!(alone.stderr.contains("--effective"), "{}", alone.stderr);
    assert_eq!(version(&s), v, "nothing was written");
}

#[test]
fn a_procedure_moves_to_a_new_workflow_version_after_a_plan_that_writes_nothing() {
    let s = Sandbox::with_demo();
    // Version 3 of coe-accession (the shipped one is 2) in a folder of its own, `legal-review` renamed.
    let v1 = std::fs::read_to_string(repo("workflows/coe-accession.toml")).unwrap();
    let folder = s.dir.path().join("workflows-v2");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(
        folder.join("coe-accession.toml"),
        v1.replace("\"legal-review\"", "\"domestic-review\"")
            .replace("\nversion = 2\n", "\nversion = 3\n"),
    )
    .unwrap();
    let dir = folder.display().to_string();
    let v2 = [("ACCESSION__WORKFLOWS__DIR", dir.as_str())];
    let before = s.history("kg-cets-210").len();

    // Without a map the plan says which cannot move, and why.
    let plan = s
        .run_with(
            &[
                "workflows",
                "migrate-plan",
                "2",
                "3",
                "--workflow",
                "coe-accession",
            ],
            &v2,
        )
        .expect(0);
    assert!(plan.stdout.contains("CANNOT"), "{}", plan.stdout);
    assert!(
        plan.stdout
            .contains("stage `legal-review` is not in the new version"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("cannot move"), "{}", plan.stdout);
    // A map that is not OLD=NEW is one readable line, exit 1.
    let bad = s
        .run_with(
            &[
                "workflows",
                "migrate-plan",
                "2",
                "3",
                "--workflow",
                "coe-accession",
                "--map",
                "legal-review",
            ],
            &v2,
        )
        .expect(1);
    assert!(
        bad.error_line().contains("is not OLD=NEW"),
        "{}",
        bad.stderr
    );

    // With the map: one procedure moves, its history says from what to what.
    let moved = s
        .run_with(
            &[
                "procedures",
                "migrate",
                "kg-cets-210",
                "--to-version",
                "3",
                "--map",
                "legal-review=domestic-review",
                "--as",
                "mfa",
                "--json",
            ],
            &v2,
        )
        .expect(0)
        .json();
    assert_eq!(moved["stage"], "domestic-review");
    assert_eq!(moved["workflow"]["version"], 3);
    let history = s
        .run_with(&["procedures", "history", "kg-cets-210", "--json"], &v2)
        .expect(0)
        .json();
    let rows = history.as_array().unwrap();
    assert_eq!(rows.len(), before + 1);
    assert_eq!(rows.last().unwrap()["command"], "migrate");
    // The chain covers the move.
    s.run_with(&["audit", "verify"], &v2).expect(0);
}

#[test]
fn the_chart_of_ets_112_is_derived_from_the_history_as_of_a_day() {
    let s = Sandbox::with_demo();
    let row = |as_of: &str| {
        let chart = s
            .run(&[
                "chart",
                "--convention",
                "ets-112",
                "--as-of",
                as_of,
                "--json",
            ])
            .expect(0)
            .json();
        chart["rows"][0].clone()
    };
    assert_eq!(row("2024-04-01")["deposit"], Value::Null);
    assert_eq!(row("2024-05-01")["deposit"], "2024-04-22");
    assert_eq!(row("2024-05-01")["in_force"], false);
    assert_eq!(row("2024-08-01")["in_force"], true);
    let table = s
        .run(&["chart", "--state", "KG", "--as-of", "2024-08-01"])
        .expect(0);
    assert!(table.stdout.contains("Non-members"), "{}", table.stdout);
    assert!(
        table.stdout.contains("2024-08-01 (in force)"),
        "{}",
        table.stdout
    );
    // One of --convention and --state: both is a usage error.
    s.run(&["chart", "--state", "KG", "--convention", "ets-112"])
        .expect(2);
    let bad = s.run(&["chart", "--convention", "ets-112", "--as-of", "01.05.2024"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

#[test]
fn reservations_are_recorded_listed_and_withdrawn_from_the_command_line() {
    let s = Sandbox::with_demo();
    let version = s.procedure("kg-ets-112")["version"].to_string();
    // Made at deposit but dated otherwise: one line naming the rule, exit 1, nothing changed.
    let args = |on: &'static str| {
        vec![
            "reserve",
            "kg-ets-112",
            "--kind",
            "declaration",
            "--article",
            "Art. 3(3)",
            "--text",
            "en=The Kyrgyz Republic declares …",
            "--text",
            "ru=Кыргызская Республика заявляет …",
            "--made-at",
            "deposit",
            "--made-on",
            on,
        ]
    };
    let run = s.act(&args("2024-04-21"), "mfa", &version).expect(1);
    let line = run.error_line();
    assert!(
        line.contains("made-at-deposit-on-the-deposit-date"),
        "{line}"
    );
    assert!(line.contains("2024-04-22"), "{line}");
    assert_eq!(s.procedure("kg-ets-112")["version"].to_string(), version);
    // A kind that is none: refused by the parser, naming the choices.
    let mut wrong = args("2024-04-22");
    wrong[3] = "opinion";
    let run = s.act(&wrong, "mfa", &version).expect(2);
    assert!(
        run.stderr.contains("territorial_application"),
        "{}",
        run.stderr
    );

    s.act(&args("2024-04-22"), "mfa", &version).expect(0);
    let json = s
        .run(&["procedures", "reservations", "kg-ets-112", "--json"])
        .expect(0)
        .json();
    assert_eq!(json["items"][0]["number"], 1);
    assert_eq!(json["items"][0]["status"], "valid");
    assert_eq!(
        json["items"][0]["text_in_force"]["ru"],
        "Кыргызская Республика заявляет …"
    );
    let table = s
        .run(&["procedures", "reservations", "kg-ets-112"])
        .expect(0)
        .stdout;
    assert!(table.contains("validity    no time limit"), "{table}");
    assert!(table.contains("declaration"), "{table}");
    let csv = s
        .run(&["procedures", "reservations", "kg-ets-112", "--csv"])
        .expect(0)
        .stdout;
    assert!(csv.starts_with("procedure,number,kind,article"), "{csv}");

    let version = s.procedure("kg-ets-112")["version"].to_string();
    let run = s
        .act(
            &[
                "withdraw-reservation",
                "kg-ets-112",
                "--number",
                "1",
                "--received-on",
                "2024-04-01",
            ],
            "mfa",
            &version,
        )
        .expect(1);
    assert!(
        run.error_line().contains("withdrawal-after-it-was-made"),
        "{}",
        run.error_line()
    );
    s.act(
        &[
            "withdraw-reservation",
            "kg-ets-112",
            "--number",
            "1",
            "--received-on",
            "2024-05-02",
        ],
        "mfa",
        &version,
    )
    .expect(0);
    let json = s
        .run(&["procedures", "reservations", "kg-ets-112", "--json"])
        .expect(0)
        .json();
    assert_eq!(json["items"][0]["status"], "withdrawn");
    let history = s.history("kg-ets-112");
    let commands: Vec<&str> = history
        .iter()
        .map(|r| r["command"].as_str().unwrap())
        .collect();
    assert!(
        commands.ends_with(&["reserve", "withdraw_reservation"]),
        "{commands:?}"
    );
    // The chart's D, as of the day after the withdrawal's receipt: the history says recorded
    // today, so as of today it is withdrawn and absent.
    let chart = s
        .run(&["chart", "--convention", "ets-112", "--json"])
        .expect(0)
        .json();
    assert_eq!(chart["rows"][0]["declarations"], false);
}

#[test]
fn accounts_create_list_token_and_disable_from_the_command_line() {
    let s = with_institutions();
    let create = |email: &str, role: &str| {
        s.run(&[
            "--json",
            "accounts",
            "create",
            "--name",
            "Aigul Sydykova",
            "--email",
            email,
            "--institution",
            "moj",
            "--role",
            role,
        ])
    };
    let created = create("Aigul@MinJust.example.kg", "ministry")
        .expect(0)
        .json();
    assert_eq!(created["email"], "aigul@minjust.example.kg");
    let id = created["id"].as_i64().unwrap().to_string();

    // Bad input: one JSON error (the command ran with --json), exit 1, nothing written.
    let error = |run: Run| -> Value {
        serde_json::from_str(run.stderr.trim()).expect("a JSON error on stderr")
    };
    let bad = error(create("not-an-address", "ministry").expect(1));
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not an email address"),
        "{bad}"
    );
    let taken = error(create("aigul@minjust.example.kg", "ministry").expect(3));
    assert!(
        taken["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already exists"),
        "{taken}"
    );
    let role = error(create("other@minjust.example.kg", "coordinator").expect(1));
    assert!(
        role["error"]["message"]
            .as_str()
            .unwrap()
            .contains("coordinating institution"),
        "{role}"
    );

    let list = s.run(&["accounts", "list"]).expect(0).stdout;
    assert!(list.lines().next().unwrap().contains("EMAIL"), "{list}");
    assert!(list.contains("aigul@minjust.example.kg"), "{list}");
    assert_eq!(list.lines().count(), 2, "{list}");
    s.run(&["accounts", "list", "--limit", "0"]).expect(1);

    let token = s
        .run(&["accounts", "token", &id, "--name", "laptop"])
        .expect(0);
    let secret = token.stdout.trim().to_string();
    assert!(secret.starts_with("acc_") && secret.len() == 68, "{secret}");
    let tokens = s.run(&["--json", "tokens", "list"]).expect(0).json();
    let mine = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "laptop")
        .expect("the person's token is listed");
    assert_eq!(mine["account_id"].to_string(), id);

    let disabled = s.run(&["accounts", "disable", &id]).expect(0).stdout;
    assert!(disabled.contains("1 token(s) revoked"), "{disabled}");
    let tokens = s.run(&["--json", "tokens", "list"]).expect(0).json();
    assert!(
        tokens
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "laptop" && t["revoked_at"].is_string()),
        "{tokens}"
    );
    s.run(&["accounts", "disable", "999"]).expect(1);
    let sessions = s.run(&["accounts", "sessions"]).expect(0).stdout;
    // Nobody signed in to the pages: an empty list says so.
    assert_eq!(sessions.trim(), "(none)", "{sessions}");
}
