//! History as CSV, for auditors' spreadsheets. `at` is when a row was recorded; `effective_on`
//! when its act took effect, if stated (blank: as recorded), with `effective_approximate` and
//! `retrospective` (see `engine::effective`); `hash_form` says which encoding `hash` covers; `actor_account`
//! the acting person's account (blank for Accession's own acts, shared tokens and older rows).
//!
//! A cell that a spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or
//! a carriage return — a comment can) is written with a leading `'`, so opening an export never
//! executes what a user typed.

use super::ChainRow;

/// The text of a cell, defused.
pub fn cell(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_string(),
    }
}

/// `rows` as CSV with a header line; with the procedure id first when `with_procedure`.
pub fn history_csv(rows: &[ChainRow], with_procedure: bool) -> Result<Vec<u8>, csv::Error> {
    history_csv_part(rows, with_procedure, true)
}

/// Part of a CSV export written a batch at a time: the header line only with the first.
pub fn history_csv_part(
    rows: &[ChainRow],
    with_procedure: bool,
    header_line: bool,
) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut header = vec![
        "sequence",
        "at",
        "effective_on",
        "effective_approximate",
        "retrospective",
        "actor_institution",
        "actor_role",
        "actor_name",
        "command",
        "from_stage",
        "to_stage",
        "comment",
        "payload",
        "prev_hash",
        "hash",
        "hash_form",
        "actor_account",
    ];
    if with_procedure {
        header.insert(0, "procedure_id");
    }
    if header_line {
        out.write_record(&header)?;
    }
    for r in rows {
        let mut record = vec![
            r.sequence.to_string(),
            r.at.to_rfc3339(),
            r.effective_on.map(|d| d.to_string()).unwrap_or_default(),
            r.effective_approximate.to_string(),
            r.retrospective.to_string(),
            cell(&r.actor_institution),
            cell(&r.actor_role),
            cell(&r.actor_name),
            cell(&r.command),
            cell(r.from_stage.as_deref().unwrap_or_default()),
            cell(r.to_stage.as_deref().unwrap_or_default()),
            cell(r.comment.as_deref().unwrap_or_default()),
            cell(&r.payload),
            r.prev_hash.clone(),
            r.hash.clone(),
            r.hash_form.to_string(),
            r.actor_account.map(|a| a.to_string()).unwrap_or_default(),
        ];
        if with_procedure {
            record.insert(0, cell(&r.procedure_id));
        }
        out.write_record(&record)?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comment_that_looks_like_a_formula_is_defused() {
        assert_eq!(
            cell("=HYPERLINK(\"https://evil\")"),
            "'=HYPERLINK(\"https://evil\")"
        );
        for lead in ["+", "-", "@", "\t", "\r"] {
            assert!(cell(&format!("{lead}1")).starts_with('\''), "{lead:?}");
        }
        assert_eq!(cell("Noted."), "Noted.");
        assert_eq!(cell(""), "");
    }
}
