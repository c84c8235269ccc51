//! The workflow definitions in the workflows folder, checked at start, and those procedures
//! started on earlier versions, read back from the store by hash.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::ids::WorkflowId;
use crate::workflow::{Diagnostic, KnownInstitutions, WorkflowDefinition, parse_definition};

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// The newest version of each workflow: what new procedures start on.
    current: BTreeMap<WorkflowId, Arc<WorkflowDefinition>>,
    by_hash: HashMap<String, Arc<WorkflowDefinition>>,
}

/// The `.toml` files directly in `dir`, sorted.
pub fn workflow_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read the workflows folder {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Parse every file; all diagnostics of all files, or the definitions.
pub fn check_files(
    files: &[PathBuf],
    known: &KnownInstitutions,
) -> Result<Vec<WorkflowDefinition>, Vec<Diagnostic>> {
    Ok(check_files_at(files, known)?
        .into_iter()
        .map(|(def, _)| def)
        .collect())
}

/// As [`check_files`], each definition with the file it came from.
pub fn check_files_at<'a>(
    files: &'a [PathBuf],
    known: &KnownInstitutions,
) -> Result<Vec<(WorkflowDefinition, &'a PathBuf)>, Vec<Diagnostic>> {
    let mut parsed: Vec<(WorkflowDefinition, &PathBuf)> = Vec::new();
    let mut diagnostics = Vec::new();
    for path in files {
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(source) => match parse_definition(&name, &source, known) {
                Ok(def) => parsed.push((def, path)),
                Err(mut d) => diagnostics.append(&mut d),
            },
            Err(e) => diagnostics.push(Diagnostic {
                file: name,
                line: 1,
                column: 1,
                message: format!("cannot read the file: {e}"),
                hint: None,
            }),
        }
    }
    // The same (id, version) twice with different content is ambiguous.
    let mut seen: BTreeMap<(String, u32), (&str, &str)> = BTreeMap::new();
    let mut duplicates = Vec::new();
    for (def, path) in &parsed {
        let key = (def.id.to_string(), def.version);
        if let Some((other, hash)) = seen.get(&key) {
            if *hash != def.content_hash {
                duplicates.push(Diagnostic {
                    file: path.display().to_string(),
                    line: 1,
                    column: 1,
                    message: format!(
                        "workflow `{}` version {} is also defined, differently, in {other}",
                        def.id, def.version
                    ),
                    hint: Some("raise the version of the one that changed".into()),
                });
            }
        } else {
            seen.insert(key, (path.to_str().unwrap_or_default(), &def.content_hash));
        }
    }
    diagnostics.extend(duplicates);
    if diagnostics.is_empty() {
        Ok(parsed)
    } else {
        Err(diagnostics)
    }
}

impl Catalog {
    pub fn new(definitions: Vec<WorkflowDefinition>) -> Self {
        let mut catalog = Catalog::default();
        for def in definitions {
            catalog.insert(Arc::new(def));
        }
        catalog
    }

    fn insert(&mut self, def: Arc<WorkflowDefinition>) {
        self.by_hash.insert(def.content_hash.clone(), def.clone());
        match self.current.get(&def.id) {
            Some(existing) if existing.version >= def.version => {}
            _ => {
                self.current.insert(def.id.clone(), def);
            }
        }
    }

    pub fn current(&self, id: &WorkflowId) -> Option<Arc<WorkflowDefinition>> {
        self.current.get(id).cloned()
    }

    pub fn by_hash(&self, hash: &str) -> Option<Arc<WorkflowDefinition>> {
        self.by_hash.get(hash).cloned()
    }

    /// The newest version of each workflow.
    pub fn all(&self) -> impl Iterator<Item = &Arc<WorkflowDefinition>> {
        self.current.values()
    }

    /// Every version of every workflow the folder defines.
    pub fn every_version(&self) -> impl Iterator<Item = &Arc<WorkflowDefinition>> {
        self.by_hash.values()
    }

    /// Version `version` of workflow `id`, if a file of the folder defines it.
    pub fn version(&self, id: &WorkflowId, version: u32) -> Option<Arc<WorkflowDefinition>> {
        self.by_hash
            .values()
            .find(|d| &d.id == id && d.version == version)
            .cloned()
    }
}

/// The line and column of the `version = …` key of a workflow file (1, 1 when there is none).
fn version_position(source: &str) -> (usize, usize) {
    source
        .lines()
        .enumerate()
        .find(|(_, line)| {
            line.trim_start()
                .strip_prefix("version")
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map_or((1, 1), |(n, line)| {
            (n + 1, line.len() - line.trim_start().len() + 1)
        })
}

/// A file whose workflow id and version were stored (procedures started on them) with other
/// content: procedures already running would read one text and new ones another under the same
/// name, so it is refused until its version is raised. `stored` are the hashes kept for the
/// file's (id, version).
pub fn changed_without_new_version(
    def: &WorkflowDefinition,
    path: &std::path::Path,
    stored: &[String],
) -> Option<Diagnostic> {
    let other = stored.iter().find(|h| **h != def.content_hash)?;
    if stored.contains(&def.content_hash) {
        // This very text is stored too: it is one of the versions procedures run on.
        return None;
    }
    let (line, column) = version_position(&def.source);
    Some(Diagnostic {
        file: path.display().to_string(),
        line,
        column,
        message: format!(
            "workflow `{}` version {} changed since procedures started on it (stored content \
             {}…, this file {}…): a changed workflow needs a new version",
            def.id,
            def.version,
            &other[..12.min(other.len())],
            &def.content_hash[..12.min(def.content_hash.len())],
        ),
        hint: Some(format!(
            "raise `version` to {} (running procedures keep version {}; move them with \
             `accession procedures migrate`), or restore the file as it was",
            def.version + 1,
            def.version
        )),
    })
}
