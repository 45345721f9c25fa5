//! "Did you mean" suggestions for misspelt names (fields, enum values, aliases).

/// Levenshtein edit distance between two short strings.
#[must_use]
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The closest candidate to `input`, if it is close enough to be a plausible typo.
#[must_use]
pub fn did_you_mean<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = input.to_ascii_lowercase();
    let limit = (input.chars().count() / 3).max(1) + 1;
    candidates
        .into_iter()
        .map(|c| {
            let cl = c.to_ascii_lowercase();
            // A truncated name (`maxWait` for `maxWaitSecs`) counts as a near miss.
            let prefix = lower.len() >= 3 && (cl.starts_with(&lower) || lower.starts_with(&cl));
            (if prefix { 1 } else { edit_distance(&lower, &cl) }, c)
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_single_edits() {
        assert_eq!(edit_distance("targets", "targts"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn suggestion_picks_the_closest_plausible_candidate() {
        let fields = ["targets", "alias", "bareAlias"];
        assert_eq!(did_you_mean("targts", fields), Some("targets"));
        assert_eq!(did_you_mense_case(), Some("bareAlias"));
        assert_eq!(did_you_mean("zzzzzzzz", fields), None);
        assert_eq!(did_you_mean("maxWait", ["count", "maxWaitSecs"]), Some("maxWaitSecs"));
    }

    fn did_you_mense_case() -> Option<&'static str> {
        did_you_mean("barealias", ["targets", "alias", "bareAlias"])
    }
}
