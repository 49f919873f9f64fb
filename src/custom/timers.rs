//! A custom stage's named timers, driven by one tokio sleep.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::Context;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// Names a timer of a custom stage (Akka uses any value as a key; weir uses a number).
pub type TimerKey = u64;

struct Timer {
    deadline: Instant,
    interval: Option<Duration>,
    fixed_rate: bool,
}

#[derive(Default)]
pub(crate) struct Timers {
    timers: HashMap<TimerKey, Timer>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Timers {
    pub(crate) fn schedule(
        &mut self,
        key: TimerKey,
        delay: Duration,
        interval: Option<Duration>,
        fixed_rate: bool,
    ) {
        self.timers.insert(
            key,
            Timer {
                deadline: Instant::now() + delay,
                interval,
                fixed_rate,
            },
        );
    }

    pub(crate) fn cancel(&mut self, key: TimerKey) {
        self.timers.remove(&key);
    }

    pub(crate) fn is_active(&self, key: TimerKey) -> bool {
        self.timers.contains_key(&key)
    }

    /// The key of a timer that is due, rescheduling or removing it; otherwise arms the sleep for
    /// the earliest deadline.
    pub(crate) fn poll_due(&mut self, cx: &mut Context<'_>) -> Option<TimerKey> {
        let (&key, earliest) = self.timers.iter().min_by_key(|(_, t)| t.deadline)?;
        let deadline = earliest.deadline;
        let now = Instant::now();
        if deadline > now {
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            if sleep.deadline() != deadline {
                sleep.as_mut().reset(deadline);
            }
            if sleep.as_mut().poll(cx).is_pending() {
                return None;
            }
        }
        let timer = self.timers.get_mut(&key).expect("key was just found");
        match timer.interval {
            None => {
                self.timers.remove(&key);
            }
            Some(interval) => {
                timer.deadline = if timer.fixed_rate {
                    deadline + interval
                } else {
                    now + interval
                };
            }
        }
        Some(key)
    }
}
