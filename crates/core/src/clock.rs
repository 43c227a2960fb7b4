//! Time is injected so expiry, `slow_down` and retention are testable exactly.

use chrono::{DateTime, Duration, Utc};
use std::sync::Mutex;

/// Source of the current time.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one place that reads the wall clock (clippy.toml bans it elsewhere).
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug)]
pub struct ManualClock {
    state: Mutex<ManualState>,
}

#[derive(Debug)]
struct ManualState {
    now: DateTime<Utc>,
    /// A move armed by [`ManualClock::tick_on_read`]: how many more reads
    /// still see the old time, and by how much the clock then moves.
    armed: Option<(usize, Duration)>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self { state: Mutex::new(ManualState { now: start, armed: None }) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ManualState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Moves the clock forward by `by` (after any armed move).
    pub fn advance(&self, by: Duration) {
        let mut state = self.state();
        if let Some((_, armed)) = state.armed.take() {
            state.now += armed;
        }
        state.now += by;
    }

    /// Sets the clock to `to`, dropping any armed move.
    pub fn set(&self, to: DateTime<Utc>) {
        let mut state = self.state();
        state.armed = None;
        state.now = to;
    }

    /// Arms a move: the next `reads` reads still see the current time, and
    /// every read after them sees it `by` later. A race test chooses which
    /// read of a race is the first to see, say, an expiry instant, so each
    /// order it needs happens for sure instead of by scheduling luck.
    pub fn tick_on_read(&self, reads: usize, by: Duration) {
        self.state().armed = Some((reads, by));
    }

    /// Disarms the armed move; true if it had already happened.
    pub fn disarm(&self) -> bool {
        self.state().armed.take().is_none()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        let mut state = self.state();
        match state.armed {
            Some((0, by)) => {
                state.now += by;
                state.armed = None;
            }
            Some((reads, by)) => state.armed = Some((reads - 1, by)),
            None => {}
        }
        state.now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_armed_move_happens_on_the_chosen_read() {
        let start = DateTime::<Utc>::UNIX_EPOCH;
        let clock = ManualClock::new(start);
        clock.tick_on_read(2, Duration::seconds(1));
        assert_eq!([clock.now(), clock.now()], [start, start]);
        assert_eq!(clock.now(), start + Duration::seconds(1));
        assert!(clock.disarm(), "it happened");
        clock.tick_on_read(5, Duration::seconds(1));
        assert!(!clock.disarm(), "it had not happened");
        assert_eq!(clock.now(), start + Duration::seconds(1), "and never will");
    }
}
