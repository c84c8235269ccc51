//! The state machine as a Mermaid or Graphviz DOT diagram.

use std::fmt::Write;

use super::model::WorkflowDefinition;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiagramFormat {
    Mermaid,
    Dot,
}

pub fn render(def: &WorkflowDefinition, format: DiagramFormat) -> String {
    match format {
        DiagramFormat::Mermaid => mermaid(def),
        DiagramFormat::Dot => dot(def),
    }
}

fn who(by: &[crate::ids::InstitutionId]) -> String {
    by.iter().map(|i| i.as_str()).collect::<Vec<_>>().join(", ")
}

/// Mermaid state ids may not contain `-`.
fn mermaid_id(id: &str) -> String {
    id.replace('-', "_")
}

fn mermaid(def: &WorkflowDefinition) -> String {
    let mut out = String::from("stateDiagram-v2\n");
    let _ = writeln!(out, "    %% {} v{} — {}", def.id, def.version, def.title);
    for stage in &def.stages {
        let _ = writeln!(
            out,
            "    {}: {}",
            mermaid_id(stage.id.as_str()),
            stage.title.replace(':', " -")
        );
    }
    let _ = writeln!(out, "    [*] --> {}", mermaid_id(def.initial.as_str()));
    for t in &def.transitions {
        let _ = writeln!(
            out,
            "    {} --> {}: {}",
            mermaid_id(t.from.as_str()),
            mermaid_id(t.to.as_str()),
            who(&t.by)
        );
    }
    for stage in def.stages.iter().filter(|s| s.terminal) {
        let _ = writeln!(out, "    {} --> [*]", mermaid_id(stage.id.as_str()));
    }
    out
}

fn dot_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn dot(def: &WorkflowDefinition) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", dot_escape(def.id.as_str()));
    let _ = writeln!(
        out,
        "    label=\"{} (v{})\";\n    rankdir=TB;\n    node [shape=box, style=rounded];",
        dot_escape(&def.title),
        def.version
    );
    for stage in &def.stages {
        let shape = if stage.terminal {
            ", peripheries=2"
        } else if stage.id == def.initial {
            ", style=\"rounded,bold\""
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "    \"{}\" [label=\"{}\\n({})\"{}];",
            dot_escape(stage.id.as_str()),
            dot_escape(&stage.title),
            dot_escape(&who(&stage.responsible)),
            shape
        );
    }
    for t in &def.transitions {
        let _ = writeln!(
            out,
            "    \"{}\" -> \"{}\" [label=\"{}\"];",
            dot_escape(t.from.as_str()),
            dot_escape(t.to.as_str()),
            dot_escape(&who(&t.by))
        );
    }
    out.push_str("}\n");
    out
}
