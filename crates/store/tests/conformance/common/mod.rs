//! What the state-store conformance tests share: each backend's state
//! stores, built as the server builds them.

pub mod service;

use gatehouse_store::testing::TestDatabase;
use gatehouse_store::tls::ExtraRoots;
use gatehouse_store::{Database, StateStores, connect_state};
use uuid::Uuid;

/// The cases of one test, and the PostgreSQL database its PostgreSQL case
/// uses, dropped when the cases are (after the test's loop over them).
pub struct Cases<T> {
    cases: Vec<T>,
    _database: Option<(TestDatabase, Database)>,
}

impl<T> Cases<T> {
    /// The same cases, each turned into what the test needs.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Cases<U> {
        Cases { cases: self.cases.into_iter().map(f).collect(), _database: self._database }
    }
}

/// Iterates the cases, keeping their database until the loop ends.
pub struct CasesIter<T> {
    cases: std::vec::IntoIter<T>,
    _database: Option<(TestDatabase, Database)>,
}

impl<T> Iterator for CasesIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.cases.next()
    }
}

impl<T> IntoIterator for Cases<T> {
    type Item = T;
    type IntoIter = CasesIter<T>;
    fn into_iter(self) -> CasesIter<T> {
        CasesIter { cases: self.cases.into_iter(), _database: self._database }
    }
}

/// The in-process stores; the Redis ones (`GATEHOUSE_TEST_REDIS_URL`, under
/// a fresh key prefix) and the PostgreSQL ones (`GATEHOUSE_TEST_DATABASE_URL`,
/// in a fresh database) when those are set; otherwise each missing case is
/// reported as skipped by name, and under `CI=true` it fails. Built by
/// `connect_state`, so each flow store and token cache spends its limits
/// from the very limiter listed beside it.
pub async fn state_stores(test: &str) -> Cases<(&'static str, StateStores)> {
    let roots = ExtraRoots::none();
    let embedded = Database::connect("sqlite::memory:", &roots).await.expect("sqlite");
    let mut cases = vec![("memory", connect_state(None, "", &roots, &embedded).await.expect("in-process state"))];
    if let Some(url) = service::backend_url("GATEHOUSE_TEST_REDIS_URL", "redis", test) {
        let prefix = format!("gatehouse-conformance:{}:", Uuid::new_v4().simple());
        cases.push(("redis", connect_state(Some(&url), &prefix, &roots, &embedded).await.expect("redis")));
    }
    let mut database = None;
    if let Some(url) = service::backend_url("GATEHOUSE_TEST_DATABASE_URL", "postgres", test) {
        let own = TestDatabase::create(&url).await;
        let connected = Database::connect(own.url(), &roots).await.expect("postgres");
        cases.push(("postgres", connect_state(None, "", &roots, &connected).await.expect("postgres state")));
        database = Some((own, connected));
    }
    Cases { cases, _database: database }
}
