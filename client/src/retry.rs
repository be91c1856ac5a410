//! How long to wait between attempts, and when to give up: exponential
//! backoff shared by the [`crate::Appender`] and the [`crate::Subscription`].

use std::time::{Duration, Instant};

/// Retry schedule: waits double from `initial` up to `max`; after
/// `give_up_after` without progress the caller gets the last error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// First wait.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
    /// Give up after this long without progress; `None` retries forever.
    pub give_up_after: Option<Duration>,
}

impl Retry {
    /// 100 ms doubling to 5 s, never giving up.
    pub const FOREVER: Retry = Retry {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(5),
        give_up_after: None,
    };

    /// Never retry: the first transient error is returned.
    pub const NEVER: Retry = Retry {
        initial: Duration::ZERO,
        max: Duration::ZERO,
        give_up_after: Some(Duration::ZERO),
    };
}

/// Where a run of failed attempts stands.
#[derive(Debug)]
pub(crate) struct Backoff {
    retry: Retry,
    /// When the current run of failures began; `None` after progress.
    since: Option<Instant>,
    next_wait: Duration,
}

impl Backoff {
    pub(crate) fn new(retry: Retry) -> Backoff {
        Backoff {
            retry,
            since: None,
            next_wait: retry.initial,
        }
    }

    /// Something worked: the next failure starts a new run.
    pub(crate) fn progress(&mut self) {
        self.since = None;
        self.next_wait = self.retry.initial;
    }

    /// A failure: how long to wait before the next attempt, or `None` when
    /// it is time to give up.
    pub(crate) fn failed(&mut self) -> Option<Duration> {
        let since = *self.since.get_or_insert_with(Instant::now);
        if self
            .retry
            .give_up_after
            .is_some_and(|limit| since.elapsed() >= limit)
        {
            return None;
        }
        let wait = self.next_wait;
        self.next_wait = (self.next_wait * 2).min(self.retry.max);
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_reset_on_progress() {
        let mut b = Backoff::new(Retry {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(300),
            give_up_after: None,
        });
        let waits: Vec<_> = (0..4).map(|_| b.failed().unwrap().as_millis()).collect();
        assert_eq!(waits, [100, 200, 300, 300]);
        b.progress();
        assert_eq!(b.failed(), Some(Duration::from_millis(100)));
    }

    #[test]
    fn never_gives_up_at_once() {
        assert_eq!(Backoff::new(Retry::NEVER).failed(), None);
    }
}
