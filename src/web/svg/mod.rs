//! Pictures drawn on the server for the web pages: a workflow's diagram with the current stage,
//! and a procedure's timeline. Pure functions from data to SVG markup: nothing is fetched when the
//! page is viewed, no script runs, and every word comes from the caller so it can be localised.
//!
//! `diagram` draws the workflow, `timeline` the procedure's life on a date axis, and `markup`
//! holds what both write: the `<svg>` element, text wrapping, numbers, shared colours; text is
//! escaped by `crate::html::escape`, like every page and email.

mod diagram;
mod markup;
mod timeline;

pub use diagram::{DiagramLabels, workflow_svg};
pub use timeline::{Timeline, TimelineMark, TimelineRow, timeline_svg};

#[cfg(test)]
mod tests {
    //! What the tests of both pictures share, and the byte-for-byte record of both.

    use chrono::NaiveDate;
    use roxmltree::{Document, Node};

    use super::*;
    use crate::workflow::{KnownInstitutions, WorkflowDefinition, parse_definition};

    pub(super) fn coe_accession() -> WorkflowDefinition {
        parse_definition(
            "coe-accession.toml",
            include_str!("../../../workflows/coe-accession.toml"),
            &KnownInstitutions::Unchecked,
        )
        .expect("the shipped workflow parses")
    }

    pub(super) fn labels() -> DiagramLabels {
        DiagramLabels {
            title: "Workflow".into(),
            current: "current".into(),
        }
    }

    pub(super) fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Parses the picture and checks what every picture must be: an accessible, self-contained
    /// image that scales.
    pub(super) fn parse_picture(svg: &str) -> Document<'_> {
        let doc = Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed: {e}\n{svg}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(root.attribute("role"), Some("img"));
        assert_eq!(root.attribute("width"), Some("100%"));
        let view_box: Vec<f64> = root
            .attribute("viewBox")
            .expect("a viewBox")
            .split(' ')
            .map(|n| n.parse().unwrap())
            .collect();
        assert!(view_box.len() == 4 && view_box[2] > 0.0 && view_box[3] > 0.0);
        let children: Vec<_> = root.children().filter(Node::is_element).collect();
        assert_eq!(children[0].tag_name().name(), "title");
        assert_eq!(children[1].tag_name().name(), "desc");
        for node in doc.descendants().filter(Node::is_element) {
            let name = node.tag_name().name();
            assert!(
                !["script", "image", "foreignObject", "use", "a"].contains(&name),
                "<{name}> in the picture"
            );
            for attr in node.attributes() {
                assert!(
                    !attr.name().contains("href") && !attr.name().starts_with("on"),
                    "attribute {} in the picture",
                    attr.name()
                );
                assert!(
                    !attr.value().contains("http"),
                    "a reference: {}",
                    attr.value()
                );
                assert!(!attr.value().contains("NaN") && !attr.value().contains("inf"));
            }
        }
        assert!(!svg.contains("<script"));
        doc
    }

    pub(super) fn has_class(node: &Node, class: &str) -> bool {
        node.attribute("class")
            .is_some_and(|c| c.split_whitespace().any(|c| c == class))
    }

    pub(super) fn with_class<'a, 'i>(doc: &'a Document<'i>, class: &'a str) -> Vec<Node<'a, 'i>> {
        doc.descendants().filter(|n| has_class(n, class)).collect()
    }

    /// The lines of text in a group, joined by spaces.
    pub(super) fn text_of(node: &Node) -> String {
        node.descendants()
            .filter(|n| n.tag_name().name() == "tspan")
            .filter_map(|n| n.text())
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub(super) fn row(label: &str) -> TimelineRow {
        TimelineRow {
            label: label.to_owned(),
            planned: None,
            actual: None,
            uncertain: None,
            retrospective: false,
            overdue: false,
            marks: Vec::new(),
        }
    }

    /// A year of a procedure: three stages, the last still open and overdue.
    pub(super) fn year_2024() -> Timeline {
        Timeline {
            title: "Timeline".into(),
            today: date(2024, 7, 1),
            today_label: "today".into(),
            overdue_label: "overdue".into(),
            uncertain_label: "day not known".into(),
            retrospective_label: "recorded later".into(),
            rows: vec![
                TimelineRow {
                    planned: Some((date(2024, 1, 1), date(2024, 2, 1))),
                    actual: Some((date(2024, 1, 1), Some(date(2024, 1, 20)))),
                    ..row("Awareness and assessment")
                },
                TimelineRow {
                    planned: Some((date(2024, 1, 20), date(2024, 7, 20))),
                    actual: Some((date(2024, 1, 20), Some(date(2024, 3, 1)))),
                    marks: vec![TimelineMark {
                        date: date(2024, 3, 1),
                        label: "request".into(),
                    }],
                    ..row("Domestic legal review")
                },
                TimelineRow {
                    planned: Some((date(2024, 3, 1), date(2024, 5, 1))),
                    actual: Some((date(2024, 3, 1), None)),
                    overdue: true,
                    marks: vec![TimelineMark {
                        date: date(2024, 12, 31),
                        label: "entry into force (computed)".into(),
                    }],
                    ..row("Consultation between institutions")
                },
            ],
        }
    }

    /// Compares each picture with the exact bytes recorded in `tests/snapshots/svg/<name>.svg`,
    /// written by the code as it was when the module was split in three, so moving code between
    /// files is shown to change nothing. A deliberate change to the pictures rewrites them:
    /// `ACCESSION_UPDATE_SNAPSHOTS=1 cargo test --lib svg`; then look at the files and commit
    /// them with the change.
    pub(super) fn assert_recorded(pictures: Vec<(&str, String)>) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/svg");
        let update = std::env::var_os("ACCESSION_UPDATE_SNAPSHOTS").is_some();
        for (name, svg) in pictures {
            let file = dir.join(format!("{name}.svg"));
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&file, &svg).unwrap();
                continue;
            }
            let recorded = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert!(
                svg == recorded,
                "{name}: the picture differs from {}\n{svg}",
                file.display()
            );
        }
    }
}
