//! "did you mean ...?" hints: the closest known name to a misspelt one, if it is close enough
//! to be a likely typo.

/// The candidate nearest to `wrong`, if similar enough (Jaro-Winkler similarity above 0.8, or
/// an edit distance of one for short names, where similarity scores are unreliable).
pub fn closest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter(|candidate| *candidate != wrong)
        .map(|candidate| (strsim::jaro_winkler(wrong, candidate), candidate))
        .filter(|(score, candidate)| {
            *score > 0.8 || (wrong.len() <= 4 && strsim::levenshtein(wrong, candidate) <= 1)
        })
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, candidate)| candidate)
}

/// A hint naming the nearest candidate, formatted for a diagnostic.
pub fn hint<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(wrong, candidates).map(|name| format!("did you mean `{name}`?"))
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn finds_typos_not_strangers() {
        let fields = ["localization", "lr", "noise_level", "weight_decay"];
        assert_eq!(closest("localisation", fields), Some("localization"));
        assert_eq!(closest("lf", fields), Some("lr"));
        assert_eq!(closest("temperature", fields), None);
    }
}
