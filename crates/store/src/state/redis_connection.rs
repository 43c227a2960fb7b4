//! The one Redis connection every Redis adapter shares: the `redis` crate's
//! reconnecting, multiplexed `ConnectionManager`, with each round trip
//! timed into `gatehouse_dependency_duration_seconds{dependency="state_store"}`.
//! Every command, pipeline and script goes through these two methods, so
//! nothing is left untimed; the one exception is the batched poll script,
//! which `redis_poll_batch` times per poll instead of per batch.

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// A shared connection to Redis (cheap to clone).
#[derive(Clone)]
pub struct RedisConnection(pub(crate) ConnectionManager);

fn timed<'a, T: Send + 'a>(call: RedisFuture<'a, T>) -> RedisFuture<'a, T> {
    Box::pin(crate::observed("state_store", tracing::info_span!("state_store.call"), call))
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        timed(self.0.req_packed_command(cmd))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        timed(self.0.req_packed_commands(cmd, offset, count))
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }
}
