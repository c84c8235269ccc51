//! States: the parties to procedures and to the conventions, with their names in the languages
//! of the interface and whether they are members of the Council of Europe (a non-member accedes
//! on invitation; a member signs and ratifies).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::{ImportError, Institution, Language};
use crate::ids::{InstitutionId, StateCode};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// ISO 3166-1 alpha-2, as the procedures use it (`KG`).
    pub code: StateCode,
    /// The English short name in use.
    pub name: String,
    pub name_ru: String,
    pub name_ky: String,
    #[serde(default)]
    pub name_fr: Option<String>,
    /// A member of the Council of Europe.
    pub coe_member: bool,
}

impl State {
    /// The name to show a reader of `language`.
    pub fn name_in(&self, language: Language) -> &str {
        match language {
            Language::Ru => &self.name_ru,
            Language::Ky => &self.name_ky,
            Language::Fr => self.name_fr.as_deref().unwrap_or(&self.name),
            Language::En => &self.name,
        }
    }
}

/// An English State name as it stands in a sentence: "the Kyrgyz Republic", "the Netherlands",
/// "the United Kingdom", "the Holy See", but "France", "Kyrgyzstan". English puts the article
/// before names that are a description (a republic, a kingdom, a federation, a union of islands or
/// emirates) or a plural; a name that starts with "the" already is left alone.
pub fn with_article(name: &str) -> String {
    let name = name.trim();
    let lower = name.to_lowercase();
    if lower.starts_with("the ") || name.is_empty() {
        return name.to_string();
    }
    const DESCRIPTIVE: [&str; 14] = [
        "republic",
        "kingdom",
        "federation",
        "union",
        "united",
        "states",
        "islands",
        "emirates",
        "netherlands",
        "philippines",
        "bahamas",
        "gambia",
        "holy see",
        "principality",
    ];
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).collect();
    let needs = DESCRIPTIVE.iter().any(|d| {
        if d.contains(' ') {
            lower.starts_with(d)
        } else {
            words.contains(d)
        }
    }) || lower.contains(" of ");
    if needs {
        format!("the {name}")
    } else {
        name.to_string()
    }
}

/// The institutions among `named` that are not `state`'s, with the State each belongs to (none
/// when the institutions file gives it none, or when it is not in the registry at all): a
/// procedure of `state` may name only its own institutions.
pub fn foreign_institutions<'a>(
    named: impl IntoIterator<Item = &'a InstitutionId>,
    registry: &[Institution],
    state: &StateCode,
) -> Vec<(InstitutionId, Option<StateCode>)> {
    named
        .into_iter()
        .filter_map(|id| {
            let belongs = registry
                .iter()
                .find(|i| &i.id == id)
                .and_then(|i| i.state.clone());
            (belongs.as_ref() != Some(state)).then(|| (id.clone(), belongs))
        })
        .collect()
}

/// `[[states]]` tables in a TOML file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateFile {
    states: Vec<Spanned<State>>,
}

impl StateFile {
    pub fn parse(file: &str, source: &str) -> Result<Vec<State>, ImportError> {
        super::refuse_control_characters(file, source)?;
        let parsed: StateFile =
            toml::from_str(source).map_err(|e| ImportError::from_toml(file, source, e))?;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for spanned in parsed.states {
            let span = spanned.span();
            let state = spanned.into_inner();
            let fail = |m: String| ImportError::at(file, source, span.start, m);
            if !seen.insert(state.code.clone()) {
                return Err(fail(format!("duplicate State `{}`", state.code)));
            }
            for (key, name) in [
                ("name", &state.name),
                ("name_ru", &state.name_ru),
                ("name_ky", &state.name_ky),
            ] {
                if name.trim().is_empty() {
                    return Err(fail(format!("State `{}`: `{key}` is empty", state.code)));
                }
            }
            out.push(state);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_file_parses_with_kyrgyzstan_a_non_member() {
        let list =
            StateFile::parse("states.toml", include_str!("../../config/demo/states.toml")).unwrap();
        let kg = list.iter().find(|s| s.code.as_str() == "KG").unwrap();
        assert!(!kg.coe_member);
        assert_eq!(kg.name_in(Language::Ky), "Кыргыз Республикасы");
        assert_eq!(kg.name_in(Language::Ru), "Кыргызская Республика");
        assert_eq!(with_article(&kg.name), "the Kyrgyz Republic");
        let fr = list.iter().find(|s| s.code.as_str() == "FR").unwrap();
        assert!(fr.coe_member);
        assert!(list.iter().any(|s| s.code.as_str() == "TN"));
    }

    #[test]
    fn a_procedure_names_only_its_own_state_s_institutions() {
        let inst = |id: &str, state: Option<&str>| Institution {
            id: InstitutionId::parse(id).unwrap(),
            name: id.into(),
            name_ru: None,
            name_ky: None,
            emails: Vec::new(),
            language: Language::En,
            time_zone: chrono_tz::Asia::Bishkek,
            coordinator: false,
            state: state.map(|s| StateCode::parse(s).unwrap()),
        };
        let registry = [
            inst("mfa", Some("KG")),
            inst("moj", Some("KG")),
            inst("customs", None),
        ];
        let ids: Vec<InstitutionId> = ["mfa", "moj", "customs", "nowhere"]
            .iter()
            .map(|i| InstitutionId::parse(*i).unwrap())
            .collect();
        let kg = StateCode::parse("KG").unwrap();
        let foreign = foreign_institutions(&ids, &registry, &kg);
        let names: Vec<(&str, Option<&str>)> = foreign
            .iter()
            .map(|(i, s)| (i.as_str(), s.as_ref().map(|s| s.as_str())))
            .collect();
        assert_eq!(names, [("customs", None), ("nowhere", None)]);
        let tn = StateCode::parse("TN").unwrap();
        let foreign = foreign_institutions(&ids[..2], &registry, &tn);
        assert_eq!(foreign.len(), 2);
        assert_eq!(foreign[0].1, Some(kg));
    }

    #[test]
    fn a_duplicate_or_a_bad_code_is_located() {
        let one = "[[states]]\ncode = \"KG\"\nname = \"K\"\nname_ru = \"К\"\nname_ky = \"К\"\ncoe_member = false\n";
        let err = StateFile::parse("s.toml", &format!("{one}{one}")).unwrap_err();
        assert_eq!(err.line, 7, "{err}");
        assert!(err.message.contains("duplicate State `KG`"), "{err}");
        let err = StateFile::parse("s.toml", &one.replace("\"KG\"", "\"kgz\"")).unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert!(err.message.contains("ISO 3166-1"), "{err}");
        let err = StateFile::parse("s.toml", &one.replace("name_ky = \"К\"", "name_ky = \" \""))
            .unwrap_err();
        assert!(err.message.contains("`name_ky` is empty"), "{err}");
    }

    #[test]
    fn english_names_take_the_article_a_sentence_needs() {
        for (name, expected) in [
            ("Kyrgyz Republic", "the Kyrgyz Republic"),
            ("Republic of Moldova", "the Republic of Moldova"),
            ("Netherlands", "the Netherlands"),
            ("United Kingdom", "the United Kingdom"),
            ("Russian Federation", "the Russian Federation"),
            ("Holy See", "the Holy See"),
            ("the Gambia", "the Gambia"),
            ("France", "France"),
            ("Tunisia", "Tunisia"),
            ("Bosnia and Herzegovina", "Bosnia and Herzegovina"),
            ("Kyrgyzstan", "Kyrgyzstan"),
        ] {
            assert_eq!(with_article(name), expected, "{name}");
        }
    }
}
