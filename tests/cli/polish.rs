//! The command line as people meet it: help for every argument (a unit test of `cli`), errors as
//! JSON under `--json`, "did you mean" for ids and stages, date formats named, an unknown stage
//! in a filter refused, times in the configured zone with their offset.

use serde_json::Value;

use super::Sandbox;

/// Each command exits 1 with exactly this error line.
#[track_caller]
fn refused(s: &Sandbox, cases: &[(&[&str], &str)]) {
    for (args, line) in cases {
        let run = s.run(args).expect(1);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        assert_eq!(run.error_line(), *line);
    }
}

#[test]
fn a_mistyped_id_or_stage_is_answered_with_the_closest() {
    let s = Sandbox::with_demo();
    refused(
        &s,
        &[
            (
                &["procedures", "show", "kg-ets112"],
                "error: procedure `kg-ets112` does not exist; did you mean `kg-ets-112`?",
            ),
            (
                &["procedures", "history", "kg_ets_185"],
                "error: procedure `kg_ets_185` does not exist; did you mean `kg-ets-185`?",
            ),
            // Nothing close: no guess.
            (
                &["procedures", "show", "fr-cets-999"],
                "error: procedure `fr-cets-999` does not exist",
            ),
            (
                &[
                    "calendar",
                    "entry-into-force",
                    "--convention",
                    "ets-18",
                    "--deposit",
                    "2025-08-28",
                ],
                "error: convention `ets-18` does not exist; did you mean `ets-185`?",
            ),
            // A stage no workflow has is an error in a filter, not an empty list.
            (
                &["procedures", "list", "--stage", "legal_review"],
                "error: no workflow has a stage `legal_review`; did you mean `legal-review`?",
            ),
            (
                &["procedures", "list", "--stage", "legal-reveiw"],
                "error: no workflow has a stage `legal-reveiw`; did you mean `legal-review`?",
            ),
        ],
    );
    // Not an id at all (upper case): clap says so before any lookup.
    let run = s.run(&["procedures", "history", "KG-ETS-185"]).expect(2);
    assert!(run.stderr.contains("KG-ETS-185"), "{}", run.stderr);
    // A real stage with no procedure at it is an empty list, not an error.
    let run = s
        .run(&["procedures", "list", "--stage", "denounced", "--json"])
        .expect(0);
    assert_eq!(run.json(), serde_json::json!([]));
}

#[test]
fn a_date_written_day_first_is_refused_with_the_form_it_takes() {
    let s = Sandbox::with_demo();
    let run = s
        .run(&[
            "calendar",
            "entry-into-force",
            "--convention",
            "ets-185",
            "--deposit",
            "28.08.2025",
        ])
        .expect(2);
    assert!(
        run.stderr
            .contains("`28.08.2025` is not a date in the form YYYY-MM-DD; write 2025-08-28"),
        "{}",
        run.stderr
    );
    let run = s
        .run(&["chart", "--convention", "ets-112", "--as-of", "May 2024"])
        .expect(2);
    assert!(run.stderr.contains("write YYYY-MM-DD"), "{}", run.stderr);
}

#[test]
fn errors_are_one_json_object_under_json() {
    let s = Sandbox::with_demo();
    let run = s
        .run(&["procedures", "show", "kg-ets112", "--json"])
        .expect(1);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let error: Value = serde_json::from_str(run.stderr.trim()).expect("stderr is JSON");
    assert_eq!(error["error"]["type"], "not-found");
    assert_eq!(error["error"]["exit_code"], 1);
    assert_eq!(error["error"]["did_you_mean"], "kg-ets-112");
    assert_eq!(
        error["error"]["message"],
        "procedure `kg-ets112` does not exist"
    );
    // A usage error too, wherever --json is on the line.
    let run = s
        .run(&[
            "--json",
            "calendar",
            "entry-into-force",
            "--convention",
            "ets-185",
            "--deposit",
            "28.08.2025",
        ])
        .expect(2);
    let error: Value = serde_json::from_str(run.stderr.trim()).expect("stderr is JSON");
    assert_eq!(error["error"]["type"], "usage");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("write 2025-08-28"),
        "{error}"
    );
    // A stale version: the conflict's type and exit code.
    let run = s
        .run(&[
            "procedures",
            "comment",
            "kg-ets-112",
            "hello",
            "--as",
            "mfa",
            "--expected-version",
            "1",
            "--json",
        ])
        .expect(3);
    let error: Value = serde_json::from_str(run.stderr.trim()).expect("stderr is JSON");
    assert_eq!(error["error"]["exit_code"], 3);
    assert_eq!(error["error"]["did_you_mean"], Value::Null);
}

#[test]
fn times_are_shown_in_the_configured_zone_with_the_offset() {
    let s = Sandbox::with_demo();
    let history = s
        .run(&["procedures", "history", "kg-ets-112"])
        .expect(0)
        .stdout;
    let header = history.lines().next().unwrap();
    assert!(header.contains("RECORDED"), "{header}");
    assert!(!header.contains("UTC"), "{header}");
    let first = history.lines().nth(1).unwrap();
    // Asia/Bishkek is UTC+06:00 all year.
    assert!(first.contains(" +06:00"), "{first}");
    let json = s.history("kg-ets-112");
    let at = json[0]["at"].as_str().unwrap();
    assert!(
        at.ends_with('Z') || at.ends_with("+00:00"),
        "JSON keeps UTC: {at}"
    );
    // Another zone, another offset.
    let run = s.run_with(
        &["procedures", "history", "kg-ets-112"],
        &[("ACCESSION__CALENDAR__TIME_ZONE", "Europe/Paris")],
    );
    let line = run.expect(0).stdout.lines().nth(1).unwrap().to_string();
    assert!(
        line.contains(" +01:00") || line.contains(" +02:00"),
        "{line}"
    );
}
