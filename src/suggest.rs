//! "Did you mean …?": the closest known names to a misspelt one, by the measure clap uses for
//! its own suggestions (Jaro similarity above 0.7), and one edit away (two letters swapped
//! included), which Jaro misses in short names (`gne` for `gen`).

/// How similar two names must be to be suggested (clap's threshold).
const THRESHOLD: f64 = 0.7;

/// How many suggestions at the most.
const MOST: usize = 3;

/// The names in `candidates` closest to `wanted`, best first (at most three).
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut scored: Vec<(f64, &str)> = candidates
        .into_iter()
        .map(|c| (strsim::jaro(wanted, c), c))
        .filter(|&(score, c)| {
            score > THRESHOLD
                || (wanted.chars().count() >= 3 && strsim::osa_distance(wanted, c) == 1)
        })
        .collect();
    // Best first; equal scores in name order, so the answer does not depend on the input order.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(MOST).map(|(_, c)| c).collect()
}

/// `did you mean `a`?` / `did you mean `a` or `b`?`, or `None` without a close name.
pub fn did_you_mean<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let found = closest(wanted, candidates);
    let quoted: Vec<String> = found.iter().map(|c| format!("`{c}`")).collect();
    match quoted.as_slice() {
        [] => None,
        [one] => Some(format!("did you mean {one}?")),
        [init @ .., last] => Some(format!("did you mean {} or {last}?", init.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_names_only() {
        let ids = ["math.add", "math.divide", "math.multiply", "weather_tool"];
        assert_eq!(closest("math.divid", ids)[0], "math.divide");
        assert!(closest("zzz", ids).is_empty());
        assert!(closest("math.divid", ids).len() <= MOST);
        // Two letters swapped in a short name, which Jaro rates far apart.
        assert_eq!(closest("gne", ["gen", "exec", "serve"]), ["gen"]);
        assert!(closest("ab", ["ba"]).is_empty());
    }

    #[test]
    fn says_it_in_words() {
        assert_eq!(
            did_you_mean("timeot", ["timeout", "input", "output"]).as_deref(),
            Some("did you mean `timeout`?")
        );
        assert_eq!(did_you_mean("qqq", ["timeout"]), None);
        let two = did_you_mean("ab", ["abc", "abd"]).unwrap();
        assert_eq!(two, "did you mean `abc` or `abd`?");
    }
}
