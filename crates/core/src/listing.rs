//! Filters and keyset cursors for the console's listings. Pages are cut by
//! the last row's sort key, never by OFFSET, so a page costs the same however
//! deep it is and rows arriving meanwhile do not shift it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Which tokens of a subject, client or account a bulk operation selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSelector {
    /// Every token of one subject.
    Subject(crate::model::SubjectId),
    /// Every token recorded under one email at one issuer: for an admin,
    /// everyone going by that address there, grants minted before
    /// subjects were keyed by `sub` included.
    Email { email: String, issuer: String },
    /// Every token issued to one client.
    Client(String),
}

/// A token's state as the console filters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenStatus {
    /// Neither revoked nor past its expiry.
    #[default]
    Active,
    /// Revoked before it expired.
    Revoked,
    /// Past its expiry (whether or not it was hard-expired since).
    Expired,
}

impl TokenStatus {
    /// Every status, in the order a filter offers them.
    pub const ALL: [TokenStatus; 3] = [TokenStatus::Active, TokenStatus::Revoked, TokenStatus::Expired];

    /// The form used in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Revoked => "revoked",
            TokenStatus::Expired => "expired",
        }
    }

    /// Parses the URL form.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// Where a page of tokens sorted by last activity (last use, else creation),
/// newest first, continues: after this sort key and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivityCursor {
    pub last_activity: DateTime<Utc>,
    pub id: Uuid,
}

impl ActivityCursor {
    /// The opaque form used in URLs: `<microseconds>.<uuid>`.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.last_activity.timestamp_micros(), self.id.simple())
    }

    /// Parses the URL form; `None` for anything malformed.
    pub fn decode(value: &str) -> Option<Self> {
        let (micros, id) = value.split_once('.')?;
        Some(Self {
            last_activity: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: Uuid::parse_str(id).ok()?,
        })
    }
}

/// A filtered, keyset-paginated query over every token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenQuery {
    /// Only this subject email (exact, lower case).
    pub subject_email: Option<String>,
    /// Only this client.
    pub client_id: Option<String>,
    /// Only grants whose approval came from another network than its device.
    pub crossed_networks: bool,
    pub status: TokenStatus,
    /// Continue after this row.
    pub after: Option<ActivityCursor>,
    /// At most this many rows.
    pub limit: u32,
    /// What "active" and "expired" are judged against.
    pub now: DateTime<Utc>,
}

/// One page of a listing, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T, C> {
    pub items: Vec<T>,
    /// Set when more rows follow.
    pub next: Option<C>,
}

impl<T, C> Page<T, C> {
    /// A page from `rows` fetched with one row more than `limit`: the extra
    /// row only says that another page follows, which then starts after the
    /// last row kept (`cursor` of it).
    pub fn cut(mut rows: Vec<T>, limit: u32, cursor: impl FnOnce(&T) -> C) -> Self {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = if more { rows.last().map(cursor) } else { None };
        Page { items: rows, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = ActivityCursor {
            last_activity: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap_or_default(),
            id: Uuid::from_u128(42),
        };
        assert_eq!(ActivityCursor::decode(&cursor.encode()), Some(cursor));
        for bad in ["", "12", "x.y", "1.not-a-uuid", "99999999999999999999.00000000000000000000000000000000"] {
            assert_eq!(ActivityCursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_page_says_whether_another_follows() {
        let cut = |rows: Vec<u32>| Page::cut(rows, 2, |last| *last);
        assert_eq!(cut(vec![1, 2, 3]), Page { items: vec![1, 2], next: Some(2) });
        assert_eq!(cut(vec![1, 2]), Page { items: vec![1, 2], next: None });
        assert_eq!(cut(vec![]), Page { items: vec![], next: None });
    }
}
