//! Scope parameters and what a held scope allows. Which scopes exist, and
//! their plain words, is the operator's registry (`services::scopes`).

/// The scope that stands for every other one: a holder of `full` may do
/// anything a narrower scope allows.
pub const FULL: &str = "full";

/// The scope of the admin REST API (`/v1/admin/…`). `full` does not cover
/// it: acting as yourself is not administering Gatehouse, so a token holds
/// it only when it was asked for by name and approved by an admin (or
/// granted to a confidential client by one), and each use checks the
/// subject is an admin still.
pub const ADMIN: &str = "admin";

/// Whether scopes `held` allow what `required` guards.
pub fn covers<S: AsRef<str>>(held: &[S], required: &str) -> bool {
    held.iter().any(|s| s.as_ref() == required || (s.as_ref() == FULL && required != ADMIN))
}

/// What a request that names no scope asks for: everything the client is
/// allowed except `admin`, which is granted only when asked for by name so
/// that no one approves admin rights by accident.
pub fn unnamed_request(allowed: &[String]) -> Vec<String> {
    allowed.iter().filter(|s| *s != ADMIN).cloned().collect()
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
        assert!(!covers(&["full"], ADMIN), "acting as yourself is not administering");
        assert!(covers(&["full", "admin"], ADMIN));
    }

    #[test]
    fn admin_is_never_asked_for_without_its_name() {
        let allowed = vec!["full".to_owned(), ADMIN.to_owned(), "apps:run".to_owned()];
        assert_eq!(unnamed_request(&allowed), ["full", "apps:run"]);
        assert!(unnamed_request(&[ADMIN.to_owned()]).is_empty());
    }
}
