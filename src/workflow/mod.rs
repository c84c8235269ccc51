//! Workflow definitions: the model, parsing TOML files with precise positions, validation and
//! diagrams. Pure: reading the files is the caller's job.

mod diagram;
mod model;
mod parse;
mod validate;

pub use diagram::{DiagramFormat, render as render_diagram};
pub use model::{
    ApprovalRule, Control, DueRule, Escalation, FieldKind, FieldSpec, KeyDate, Reminder, Stage,
    TextTranslations, Transition, Translations, TreatyDateRule, WorkflowDefinition,
};
pub use parse::{Diagnostic, parse_definition};
pub use validate::KnownInstitutions;

#[cfg(test)]
mod tests;
