//! Polls from many requests share one Redis round trip (group commit).
//!
//! Each poll is one read of the flow's value, poll clock and `slow_down`
//! count, and one move of its clock, atomically, all in the flow's one hash
//! (see `redis.rs`). Sent as one script call per poll, each paid for a
//! call of its own in Redis and a trip through the connection task.
//!
//! Here every poll joins a queue; one task takes whatever has queued (up to
//! [`MAX_POLLS_PER_CALL`]) and sends it as a single script call that runs the
//! same steps for each poll in queue order, then answers each poll.
//! While that call is out, the next polls queue, so batches grow with load
//! and nothing ever waits for a batch to fill: a lone poll goes at once.
//! The script runs atomically, so each poll in it is exactly as atomic, and
//! ordered against every other poll, as when it had a call of its own.
//! Measured in `docs/benchmarks.md`: about 10 polls per call under load,
//! and 1–2 µs less Redis CPU per poll.

use super::redis_connection::RedisConnection;
use gatehouse_core::StoreError;
use redis::Script;
use redis::aio::ConnectionManager;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// At most this many polls in one script call: bounds how long Redis runs
/// one call (a few µs per poll) while everything else on it waits.
const MAX_POLLS_PER_CALL: usize = 64;

/// How many polls may wait for the task before a new one waits to join the
/// queue (each is a request in progress, so this is only a backstop).
const QUEUE_CAPACITY: usize = 4096;

/// For each poll `i` (its flow's hash at `KEYS[i]`, its clock's field and
/// its time at `ARGV[2i-1]`, `ARGV[2i]`), three answers in one flat list (no
/// table per poll): the flow's value, its poll clock's previous value (the
/// clock moves to the time only if the field exists) and its `slow_down`
/// count. A missing field answers `false`, which Redis sends as nil and
/// which, unlike nil, does not end a Lua list. A flow still in the earlier
/// layout (a plain value: `WRONGTYPE`) answers the integer 1 instead of a
/// value, and is not touched: one such flow must not fail the whole call.
const RECORD_POLLS: &str = r"
local answers = {}
for i = 1, #KEYS do
  local k = (i - 1) * 3
  local clock = ARGV[2 * i - 1]
  local read = redis.pcall('HMGET', KEYS[i], 'v', clock, 's')
  if read.err then
    answers[k + 1], answers[k + 2], answers[k + 3] = 1, false, false
  else
    if read[2] then redis.call('HSET', KEYS[i], clock, ARGV[2 * i]) end
    answers[k + 1], answers[k + 2], answers[k + 3] = read[1], read[2], read[3]
  end
end
return answers";

/// What one poll read: the flow's value, the poll clock's previous value and
/// the `slow_down` count (each absent when its field is).
pub(super) type PollRecord = (Option<Vec<u8>>, Option<String>, Option<u32>);

/// What one poll found: its record, or a flow in the earlier layout, which
/// the store converts before polling again.
pub(super) enum Polled {
    Recorded(PollRecord),
    LegacyFlow,
}

/// One poll waiting for its batch.
pub(super) struct Poll {
    /// The flow's key.
    pub key: String,
    /// The hash field of the poll clock of the polling client.
    pub clock_field: String,
    /// The poll's time, epoch milliseconds.
    pub now_ms: i64,
}

struct Queued {
    poll: Poll,
    answer: oneshot::Sender<Result<Polled, StoreError>>,
}

/// The queue polls join (cheap to clone); its task ends when every clone is
/// dropped.
#[derive(Clone)]
pub(super) struct PollBatcher {
    queue: mpsc::Sender<Queued>,
}

impl PollBatcher {
    /// Starts the task that sends the batches over `connection`.
    pub fn start(connection: &RedisConnection) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(send_batches(receiver, connection.0.clone()));
        Self { queue }
    }

    /// Records one poll, in whichever batch the queue puts it. Timed (and
    /// traced) here, per poll and inside the request, as every other state
    /// store call is, so the figures count what a request waited, queue
    /// included; the batch call itself is not timed again. The fault
    /// deadline counts from joining the queue, so a poll queued behind a
    /// call to a stalled Redis fails as fast as that call. A failed poll is
    /// counted here, once, whichever way it failed (the batch task counts
    /// nothing: a poll that timed out also gets the batch's error, unread).
    pub async fn record(&self, poll: Poll) -> Result<Polled, StoreError> {
        let wait = async {
            let (answer, answered) = oneshot::channel();
            self.queue.send(Queued { poll, answer }).await.map_err(|_| stopped())?;
            answered.await.map_err(|_| stopped())?
        };
        let deadline = tokio::time::timeout(crate::FAULT_DEADLINE, wait);
        let answer = crate::observed("state_store", tracing::info_span!("state_store.call"), deadline)
            .await
            .unwrap_or_else(|_| Err(StoreError::new("Redis did not answer the poll within the fault deadline")));
        if answer.is_err() {
            gatehouse_core::metrics::dependency_error("state_store");
        }
        answer
    }
}

fn stopped() -> StoreError {
    StoreError::new("the Redis poll queue stopped")
}

async fn send_batches(mut receiver: mpsc::Receiver<Queued>, mut connection: ConnectionManager) {
    let script = Script::new(RECORD_POLLS);
    let mut batch = Vec::with_capacity(MAX_POLLS_PER_CALL);
    while receiver.recv_many(&mut batch, MAX_POLLS_PER_CALL).await > 0 {
        let mut call = script.prepare_invoke();
        for queued in &batch {
            call.key(&queued.poll.key).arg(&queued.poll.clock_field).arg(queued.poll.now_ms);
        }
        let answers: Result<Vec<redis::Value>, _> = call.invoke_async(&mut connection).await;
        match answers {
            Ok(answers) if answers.len() == 3 * batch.len() => {
                let mut answers = answers.into_iter();
                for queued in batch.drain(..) {
                    // A poll whose request has gone has nobody to tell.
                    let _ = queued.answer.send(next_record(&mut answers).map_err(StoreError::from_err));
                }
            }
            Ok(_) => {
                for queued in batch.drain(..) {
                    let _ = queued.answer.send(Err(StoreError::new("the poll script answered the wrong count")));
                }
            }
            Err(error) => {
                let error = Arc::new(error);
                for queued in batch.drain(..) {
                    let _ = queued.answer.send(Err(StoreError::from_err(error.clone())));
                }
            }
        }
    }
}

/// The next poll's three answers from the flat list.
fn next_record(answers: &mut impl Iterator<Item = redis::Value>) -> redis::RedisResult<Polled> {
    let mut next = || answers.next().unwrap_or(redis::Value::Nil);
    let value = next();
    let (clock, slow_downs) = (next(), next());
    if let redis::Value::Int(_) = value {
        return Ok(Polled::LegacyFlow);
    }
    Ok(Polled::Recorded((
        redis::from_owned_redis_value(value)?,
        redis::from_owned_redis_value(clock)?,
        redis::from_owned_redis_value(slow_downs)?,
    )))
}
