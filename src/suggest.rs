//! "Did you mean …": the known name closest to one that was not found. Pure.

/// The known name closest to `word` by edit distance (a swap of two neighbours counting as one
/// edit), when it is close enough to be a likely typo: at most two edits, or a quarter of the
/// name's length for long names, and only one where the name has digits (`kg-cets-197` is not
/// what `kg-cets-999` meant; numbers are not misspelt, they are other numbers). Ties go to the
/// first in `known`. A name equal to `word` is not a suggestion (it was found, or it is what
/// failed).
pub fn closest<'a, S: AsRef<str> + ?Sized + 'a>(
    word: &str,
    known: impl IntoIterator<Item = &'a S>,
) -> Option<&'a str> {
    let folded = fold(word);
    known
        .into_iter()
        .map(AsRef::as_ref)
        .filter(|k| *k != word)
        .map(|k| (strsim::osa_distance(&folded, &fold(k)), k))
        .filter(|(d, k)| *d <= allowed(k))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// How many edits away from `name` a word may be to mean it.
fn allowed(name: &str) -> usize {
    if name.bytes().any(|b| b.is_ascii_digit()) {
        1
    } else {
        2.max(name.chars().count() / 4)
    }
}

/// What people mix up without meaning a different name: case, and `_` for `-`.
fn fold(word: &str) -> String {
    word.to_lowercase().replace('_', "-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_typo_finds_the_name_meant() {
        let stages = ["legal-review", "seminar", "deposit", "entry-into-force"];
        assert_eq!(closest("legal_review", &stages), Some("legal-review"));
        assert_eq!(closest("Legal-Reveiw", &stages), Some("legal-review"));
        assert_eq!(closest("deposti", &stages), Some("deposit"));
        let ids = ["kg-ets-112", "kg-ets-185", "kg-cets-210"];
        assert_eq!(closest("kg-ets112", &ids), Some("kg-ets-112"));
        assert_eq!(closest("kg-tes-112", &ids), Some("kg-ets-112"));
    }

    #[test]
    fn a_different_name_finds_nothing() {
        let stages = ["legal-review", "seminar", "deposit"];
        assert_eq!(closest("monitoring", &stages), None);
        assert_eq!(closest("x", &stages), None);
        assert_eq!(closest("deposit", &["deposit"]), None);
        // Two digits off is another number, not a typo.
        assert_eq!(
            closest("kg-cets-999", &["kg-cets-197", "kg-cets-210"]),
            None
        );
        assert_eq!(closest::<str>("deposit", []), None);
    }

    proptest! {
        /// One edit of a known name always finds a name (that one or one as close).
        #[test]
        fn one_edit_is_always_close_enough(name in "[a-z]{3,12}", at in 0usize..12, c in "[a-z]") {
            let at = at % name.len();
            let mut typo: Vec<char> = name.chars().collect();
            typo[at] = c.chars().next().unwrap();
            let typo: String = typo.into_iter().collect();
            prop_assume!(typo != name);
            let known = [name.as_str(), "zzzzzzzzzzzzzzzzzzzz"];
            prop_assert_eq!(closest(&typo, &known), Some(name.as_str()));
        }
    }
}
