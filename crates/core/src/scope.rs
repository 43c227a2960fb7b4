//! Scope parameters and what a held scope allows. Which scopes exist, and
//! their plain words, is the operator's registry (`services::scopes`).

/// The scope that stands for every other one: a holder of `full` may do
/// anything a narrower scope allows.
pub const FULL: &str = "full";

/// Whether scopes `held` allow what `required` guards.
pub fn covers<S: AsRef<str>>(held: &[S], required: &str) -> bool {
    held.iter().any(|s| s.as_ref() == required || s.as_ref() == FULL)
}

/// Splits an OAuth `scope` parameter (space-separated) into distinct scopes,
/// keeping the first occurrence's order.
pub fn parse(param: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for scope in param.split(' ').filter(|s| !s.is_empty()) {
        if !out.iter().any(|s| s == scope) {
            out.push(scope.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_dedups() {
        assert_eq!(parse("full  apps:run full"), vec!["full", "apps:run"]);
        assert!(parse("").is_empty());
    }

    #[test]
    fn full_covers_every_scope_and_nothing_else_does() {
        assert!(covers(&["full"], "apps:run"));
        assert!(covers(&["apps:run"], "apps:run"));
        assert!(!covers(&["apps:run"], "full"));
        assert!(!covers(&["apps:read:permitted-external"], "apps:run"));
        assert!(!covers::<&str>(&[], "apps:run"));
    }
}
