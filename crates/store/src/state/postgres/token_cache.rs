//! The token cache on PostgreSQL alone: each instance keeps its own
//! (`MemoryTokenCache`), and a revocation reaches the others through
//! `LISTEN`/`NOTIFY` on [`CHANNEL`]. The instance that revokes forgets the
//! token at once; another forgets it when the notification arrives (within
//! the round trip of a commit), and a lookup that raced the revocation
//! cannot cache the token afterwards (the invalidation hold).
//!
//! A notification missed is a revoked token served from a cache, so the
//! listener's connection is watched: every instance sends a heartbeat
//! notification every [`HEARTBEAT_EVERY`], and a listener that hears
//! nothing for [`SILENCE_LIMIT`], or whose connection drops, is taken as
//! "everything may be revoked": the cache serves nothing and stores nothing
//! until listening again, and then starts empty. A lookup that missed
//! before the listener started again cannot store what it read (its
//! generation is stale), so nothing missed while deaf can be cached
//! afterwards. The store listens before it is first used.

use super::super::memory_cache::MemoryTokenCache;
use super::{AbortOnDrop, PgRateLimiter, pg_err, timed};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::ports::{CachedLookup, TokenCache};
use gatehouse_core::rate_limit::{RateCheck, RateLimited};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use uuid::Uuid;

/// The notification channel: the payload is a token id, or empty for a heartbeat.
pub const CHANNEL: &str = "gatehouse_token_invalidated";

/// How often each instance sends a heartbeat.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// How long a listener may hear nothing before it is taken as lost: three
/// heartbeats.
const SILENCE_LIMIT: Duration = Duration::from_secs(15);

/// How long to wait before listening again after a failure.
const RELISTEN_AFTER: Duration = Duration::from_millis(250);

/// Lookups between a miss and the store of its answer, kept at most: past
/// this they are forgotten, and their answers are not cached (only work lost).
const MAX_PENDING_LOOKUPS: usize = 100_000;

/// Revocations heard and not yet applied, kept at most.
const MAX_PENDING_REVOCATIONS: usize = 10_000;

/// What the listener task tells the cache, read at the cache's next call
/// (which brings the injected clock's time for the invalidation holds).
struct Inbox {
    /// Whether the listener is listening now.
    listening: bool,
    /// Counts each loss and each return of listening (and each time the
    /// misses below were forgotten): a lookup's answer is cached only under
    /// the generation its miss saw. In the first generation (listening since
    /// the start, nothing forgotten) an answer without a recorded miss may
    /// be stored too.
    generation: u64,
    /// The cache must be emptied before its next use (listening again after a loss).
    clear: bool,
    /// Token ids other instances invalidated, not yet applied.
    revoked: Vec<Uuid>,
    /// Token hashes missed, with the generation of the miss.
    pending: HashMap<String, u64>,
}

impl Inbox {
    /// Forgets the misses recorded: their lookups may not store their answers.
    fn forget_misses(&mut self) {
        self.pending.clear();
        self.generation += 1;
    }
}

/// The generation of a cache listening since it started.
const FIRST_GENERATION: u64 = 1;

struct Shared {
    inbox: Mutex<Inbox>,
    local: MemoryTokenCache,
}

impl Shared {
    /// The inbox, after applying what the listener left in it.
    fn inbox(&self, now: DateTime<Utc>) -> Result<MutexGuard<'_, Inbox>, StoreError> {
        let mut inbox = self.inbox.lock().map_err(|_| StoreError::new("token cache inbox lock poisoned"))?;
        if std::mem::take(&mut inbox.clear) {
            self.local.clear();
        }
        for id in inbox.revoked.drain(..) {
            self.local.forget(id, now);
        }
        Ok(inbox)
    }

    fn listening(&self, listening: bool) {
        gatehouse_core::metrics::revocation_listener(listening);
        let mut inbox = self.inbox.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if inbox.listening != listening {
            inbox.listening = listening;
            inbox.generation += 1;
            inbox.clear |= listening;
        }
    }

    /// Whether the answer of a lookup of `token_hash` may be cached: only
    /// while listening, and only if its miss was in this generation.
    fn may_store(&self, token_hash: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut inbox = self.inbox(now)?;
        let missed_in = inbox.pending.remove(token_hash);
        let current = inbox.generation;
        Ok(inbox.listening && missed_in.map_or(current == FIRST_GENERATION, |generation| generation == current))
    }

    /// Another instance invalidated `id`. Past [`MAX_PENDING_REVOCATIONS`]
    /// unapplied (an idle instance during a mass revocation), the cache is
    /// emptied instead and lookups in flight may not store their answers.
    fn revoked(&self, id: Uuid) {
        let mut inbox = self.inbox.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if inbox.revoked.len() < MAX_PENDING_REVOCATIONS {
            inbox.revoked.push(id);
        } else {
            inbox.revoked.clear();
            inbox.clear = true;
            inbox.forget_misses();
        }
    }
}

/// Token lookups cached in this process, invalidated across instances
/// through PostgreSQL notifications.
pub struct PgTokenCache {
    shared: Arc<Shared>,
    pool: PgPool,
    _listener: AbortOnDrop,
    _heartbeat: AbortOnDrop,
}

impl PgTokenCache {
    /// Listens on a connection of its own (beside `pool`, from the same
    /// settings), then keeps listening in a task, and sends heartbeats
    /// through `pool`.
    pub async fn start(pool: &PgPool, limiter: Arc<PgRateLimiter>) -> Result<Self, sqlx::Error> {
        let listener_pool = crate::sql::failover::lazy_pool(1, pool.connect_options().as_ref().clone());
        let listener = listen_on(&listener_pool).await?;
        let inbox = Inbox {
            listening: true,
            generation: FIRST_GENERATION,
            clear: false,
            revoked: Vec::new(),
            pending: HashMap::new(),
        };
        let shared = Arc::new(Shared { inbox: Mutex::new(inbox), local: MemoryTokenCache::new(limiter) });
        gatehouse_core::metrics::revocation_listener(true);
        Ok(Self {
            _listener: AbortOnDrop(tokio::spawn(keep_listening(listener, listener_pool, shared.clone()))),
            _heartbeat: AbortOnDrop(tokio::spawn(heartbeat(pool.clone()))),
            shared,
            pool: pool.clone(),
        })
    }
}

async fn notify(pool: &PgPool, payload: &str) -> Result<(), StoreError> {
    timed(sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(pool)).await.map_err(pg_err)?;
    Ok(())
}

/// A listener on [`CHANNEL`].
async fn listen_on(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Hears `listener` until it is lost, then listens again, until the task is
/// dropped.
async fn keep_listening(mut listener: PgListener, pool: PgPool, shared: Arc<Shared>) {
    loop {
        // Dropped when lost: the pool's one connection is then free for the next.
        hear(listener, &shared).await;
        shared.listening(false);
        gatehouse_core::metrics::dependency_error("state_store");
        tracing::warn!("lost the PostgreSQL listener for token revocations: the token cache is off until it is back");
        listener = loop {
            tokio::time::sleep(RELISTEN_AFTER).await;
            match listen_on(&pool).await {
                Ok(listener) => break listener,
                Err(err) => tracing::debug!(error = %err, "cannot listen for token revocations yet"),
            }
        };
        shared.listening(true);
        tracing::info!("listening for token revocations again: the token cache starts empty");
    }
}

/// Passes notifications on until the connection drops or falls silent.
async fn hear(mut listener: PgListener, shared: &Shared) {
    loop {
        // A timeout cancels the read mid-way, so the listener is dropped after it.
        match tokio::time::timeout(SILENCE_LIMIT, listener.try_recv()).await {
            Ok(Ok(Some(notification))) => {
                if let Ok(id) = Uuid::parse_str(notification.payload()) {
                    shared.revoked(id);
                }
            }
            Ok(Ok(None) | Err(_)) | Err(_) => return,
        }
    }
}

/// Sends a heartbeat every [`HEARTBEAT_EVERY`] until the task is dropped.
async fn heartbeat(pool: PgPool) {
    loop {
        tokio::time::sleep(HEARTBEAT_EVERY).await;
        // A failure shows as silence at every listener, which is the point.
        notify(&pool, "").await.ok();
    }
}

#[async_trait]
impl TokenCache for PgTokenCache {
    async fn get_within(
        &self,
        token_hash: &str,
        limits: &[RateCheck],
        now: DateTime<Utc>,
    ) -> Result<(Option<CachedLookup>, Option<RateLimited>), StoreError> {
        if !self.shared.inbox(now)?.listening {
            return Ok((None, None));
        }
        let answer = self.shared.local.get_within(token_hash, limits, now).await?;
        if answer.0.is_none() {
            let mut inbox = self.shared.inbox(now)?;
            if inbox.pending.len() >= MAX_PENDING_LOOKUPS {
                inbox.forget_misses();
            }
            let generation = inbox.generation;
            inbox.pending.insert(token_hash.to_owned(), generation);
        }
        Ok(answer)
    }

    async fn put(
        &self,
        token_hash: &str,
        lookup: &CachedLookup,
        ttl: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if self.shared.may_store(token_hash, now)? {
            self.shared.local.put(token_hash, lookup, ttl, now).await?;
        }
        Ok(())
    }

    async fn invalidate(&self, token_id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
        // Applies what the listener left first, as every call does.
        drop(self.shared.inbox(now)?);
        self.shared.local.forget(token_id, now);
        notify(&self.pool, &token_id.to_string()).await
    }
}
