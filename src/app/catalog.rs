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

#[cfg(test)]
mod released {
    //! Procedures record the hash of the text they run on, so a released version's text is
    //! frozen: once a (workflow, version) has shipped, the next change raises the version.
    //! Every shipped file is listed here with its hash; a change to one that shipped fails here
    //! rather than at a ministry's next start ("changed since procedures started on it").

    use crate::workflow::{KnownInstitutions, parse_definition};

    /// (workflow, version, sha256 of the text): what releases have shipped, oldest first.
    /// Add a line when a new version is written; change a line only for a version no release
    /// has carried yet.
    const RELEASED: &[(&str, u32, &str)] = &[
        (
            "coe-accession",
            1,
            "2e761621aa84e93ad0a43840764633208ffaa2d645ba65e9353fe29325ce1e6d",
        ),
        (
            "coe-ratification",
            1,
            "76b0753465cdafd9ac2161963745a92f855cc1f002c6f00eff9272aa19c46419",
        ),
        (
            "four-stage",
            1,
            "b850e56c228ab6788d539864e6a5e6c3d19113671933b2b069a297cc8091f018",
        ),
        // Version 2: the same stages, with their texts in English, Russian and Kyrgyz.
        (
            "coe-accession",
            2,
            "95a348911ba3b0c577a0416f1c7099b4e5df8287d7e9d08779fb72314c37c5a3",
        ),
        (
            "coe-ratification",
            2,
            "3f771d91f43f823d5eb1a9e3fa0c103c272d58c02eef8d4279ac3b2ae82339f7",
        ),
        (
            "four-stage",
            2,
            "5b3ea35d44d7d85be51cde47295fffbd4be607dc76eae8fa868d7e94825c1050",
        ),
    ];

    fn sources(folder: &str) -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|p| {
                (
                    p.display().to_string(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
            .collect()
    }

    fn check(folder: &str) -> usize {
        let known = KnownInstitutions::Unchecked;
        let mut checked = 0;
        for (name, source) in sources(folder) {
            let def = parse_definition(&name, &source, &known)
                .unwrap_or_else(|d| panic!("{name}: {d:?}"));
            let listed = RELEASED
                .iter()
                .find(|(id, version, _)| *id == def.id.as_str() && *version == def.version);
            match listed {
                Some((_, _, hash)) => assert_eq!(
                    *hash, def.content_hash,
                    "{name}: workflow `{}` version {} has shipped with other content; \
                     raise its version (and add the new one to RELEASED)",
                    def.id, def.version
                ),
                None => panic!(
                    "{name}: workflow `{}` version {} (sha256 {}) is not in RELEASED: add it",
                    def.id, def.version, def.content_hash
                ),
            }
            checked += 1;
        }
        checked
    }

    #[test]
    fn the_shipped_workflows_are_the_released_texts_of_their_versions() {
        assert_eq!(check("workflows"), 3);
    }

    #[test]
    fn the_first_release_texts_kept_for_the_upgrade_test_are_what_it_shipped() {
        assert_eq!(check("tests/fixtures/released-workflows"), 3);
    }

    #[test]
    fn every_shipped_workflow_is_at_its_newest_released_version() {
        for (name, source) in sources("workflows") {
            let def = parse_definition(&name, &source, &KnownInstitutions::Unchecked).unwrap();
            let newest = RELEASED
                .iter()
                .filter(|(id, _, _)| *id == def.id.as_str())
                .map(|(_, v, _)| *v)
                .max();
            assert_eq!(newest, Some(def.version), "{name}");
        }
    }
}
