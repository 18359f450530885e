//! Pacing: staying under a server's limits instead of running into them.
//!
//! Exchange Online throttles per mailbox and per application, and its
//! suggested back-off is often minutes: a large organisation's scan that
//! runs flat out spends much of its time waiting, and a throttled app slows
//! every other app of the tenant. An optional pace (messages and/or bytes
//! per second, per connection and in total across every mailbox of a run)
//! spreads the requests out instead. The waits of both kinds, our pace's
//! and the server's throttling, are counted per mailbox for the reports.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A rate limit; `None` parts do not limit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rate {
    pub messages_per_second: Option<f64>,
    pub bytes_per_second: Option<f64>,
}

impl Rate {
    /// Reads a pace as written in the configuration and on the command
    /// line: messages (`50/s`), bytes (`4MB/s`, `512kB/s`, `1000000B/s`), or
    /// both (`50/s,4MB/s`).
    pub fn parse(text: &str) -> Result<Rate, String> {
        let mut rate = Rate::default();
        for part in text.split(',').map(str::trim) {
            let bad = || {
                format!(
                    "pace `{part}`: write messages as 50/s, bytes as 4MB/s, or both: 50/s,4MB/s"
                )
            };
            let amount = part.strip_suffix("/s").ok_or_else(bad)?.trim();
            let digits_end = amount
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(amount.len());
            let (number, unit) = amount.split_at(digits_end);
            let number: f64 = number.parse().map_err(|_| bad())?;
            if !(number > 0.0 && number.is_finite()) {
                return Err(format!("pace `{part}`: must be more than 0"));
            }
            let bytes = match unit.trim().to_ascii_lowercase().as_str() {
                "" | "msg" | "messages" => {
                    rate.messages_per_second = Some(number);
                    continue;
                }
                "b" => 1.0,
                "kb" => 1e3,
                "mb" => 1e6,
                "gb" => 1e9,
                _ => return Err(bad()),
            };
            rate.bytes_per_second = Some(number * bytes);
        }
        Ok(rate)
    }

    pub fn is_unlimited(&self) -> bool {
        self.messages_per_second.is_none() && self.bytes_per_second.is_none()
    }

    /// How long `messages` messages of `bytes` bytes take at this rate.
    fn cost(&self, messages: u64, bytes: u64) -> Duration {
        let by = |amount: u64, per_second: Option<f64>| match per_second {
            Some(r) if r > 0.0 => amount as f64 / r,
            _ => 0.0,
        };
        let secs = by(messages, self.messages_per_second).max(by(bytes, self.bytes_per_second));
        // A year is the most one request could be asked to wait for.
        Duration::from_secs_f64(secs.min(31_536_000.0))
    }
}

/// A virtual schedule (the generic cell rate algorithm without a burst):
/// each request is given the earliest start at which everything before it
/// has had its time at the rate. Pure: the clock is passed in.
#[derive(Debug)]
pub struct Schedule {
    rate: Rate,
    next_free: Option<Instant>,
}

impl Schedule {
    pub fn new(rate: Rate) -> Schedule {
        Schedule {
            rate,
            next_free: None,
        }
    }

    /// Books `messages` messages of `bytes` bytes at `now`: how long to
    /// wait before sending them.
    pub fn reserve(&mut self, now: Instant, messages: u64, bytes: u64) -> Duration {
        let start = self.next_free.map_or(now, |free| free.max(now));
        self.next_free = Some(start + self.rate.cost(messages, bytes));
        start - now
    }
}

/// A schedule several tasks share.
#[derive(Debug)]
pub struct Pacer {
    schedule: Mutex<Schedule>,
}

impl Pacer {
    pub fn new(rate: Rate) -> Option<Pacer> {
        (!rate.is_unlimited()).then(|| Pacer {
            schedule: Mutex::new(Schedule::new(rate)),
        })
    }

    /// Waits until `messages` messages of `bytes` bytes may be asked for.
    pub async fn wait(&self, messages: u64, bytes: u64, waits: &Waits) {
        let wait = match self.schedule.lock() {
            Ok(mut s) => s.reserve(Instant::now(), messages, bytes),
            Err(_) => Duration::ZERO,
        };
        if !wait.is_zero() {
            waits.add_paced(wait);
            tokio::time::sleep(wait).await;
        }
    }
}

/// A pause shared beyond this process: when the server throttles one
/// connection, every connection of the same tenant (on every host) waits.
/// The workers' queue keeps it (`store::postgres::queue::TenantPause`).
pub trait SharedPause: Send + Sync + std::fmt::Debug {
    /// The server asked one of our connections to wait this long.
    fn throttled(&self, wait: Duration);
    /// How long every connection of the tenant is still to wait.
    fn remaining(&self) -> Duration;
}

/// Waits out the tenant's shared pause, if there is one; counted as time
/// spent throttled.
pub async fn shared_pause(pause: Option<&dyn SharedPause>, waits: &Waits) {
    let Some(pause) = pause else {
        return;
    };
    // Re-read after each sleep: another connection may have lengthened it.
    loop {
        let left = pause.remaining();
        if left.is_zero() {
            return;
        }
        let wait = left.min(Duration::from_secs(5));
        waits.add_throttled(wait);
        tokio::time::sleep(wait).await;
    }
}

/// The time one mailbox's scan spent waiting, by kind.
#[derive(Debug, Default)]
pub struct Waits {
    throttled_ms: AtomicU64,
    paced_ms: AtomicU64,
}

impl Waits {
    pub fn add_throttled(&self, wait: Duration) {
        self.throttled_ms
            .fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn add_paced(&self, wait: Duration) {
        self.paced_ms
            .fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
    }

    /// Waited for the server's throttling, and for our own pace.
    pub fn totals(&self) -> (Duration, Duration) {
        (
            Duration::from_millis(self.throttled_ms.load(Ordering::Relaxed)),
            Duration::from_millis(self.paced_ms.load(Ordering::Relaxed)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn paces_read_as_written() {
        let msgs = |m| Rate {
            messages_per_second: Some(m),
            bytes_per_second: None,
        };
        assert_eq!(Rate::parse("50/s"), Ok(msgs(50.0)));
        assert_eq!(Rate::parse("0.5/s"), Ok(msgs(0.5)));
        assert_eq!(
            Rate::parse("50/s, 4MB/s"),
            Ok(Rate {
                messages_per_second: Some(50.0),
                bytes_per_second: Some(4e6),
            })
        );
        assert_eq!(
            Rate::parse("512kB/s").map(|r| r.bytes_per_second),
            Ok(Some(512e3))
        );
        for bad in ["50", "fast", "0/s", "-3/s", "4 parsecs/s", "NaN/s", ""] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn requests_are_spread_to_the_rate() {
        let t0 = Instant::now();
        let mut s = Schedule::new(Rate {
            messages_per_second: Some(10.0),
            bytes_per_second: None,
        });
        // 100 messages take 10 s at 10/s: the next request waits for them.
        assert_eq!(s.reserve(t0, 100, 0), Duration::ZERO);
        assert_eq!(s.reserve(t0, 100, 0), secs(10.0));
        assert_eq!(s.reserve(t0 + secs(4.0), 10, 0), secs(16.0));
        // Idle time is not saved up into a burst.
        let later = t0 + secs(100.0);
        assert_eq!(s.reserve(later, 10, 0), Duration::ZERO);
        assert_eq!(s.reserve(later, 10, 0), secs(1.0));
    }

    #[test]
    fn the_stricter_of_messages_and_bytes_counts() {
        let t0 = Instant::now();
        let mut s = Schedule::new(Rate {
            messages_per_second: Some(100.0),
            bytes_per_second: Some(1_000_000.0),
        });
        s.reserve(t0, 10, 5_000_000);
        // 10 messages would take 0.1 s; 5 MB take 5 s.
        assert_eq!(s.reserve(t0, 1, 0), secs(5.0));
    }

    #[test]
    fn unlimited_and_absurd_rates_never_hang() {
        assert!(Pacer::new(Rate::default()).is_none());
        let t0 = Instant::now();
        let mut s = Schedule::new(Rate {
            messages_per_second: Some(1e-300),
            bytes_per_second: Some(0.0),
        });
        s.reserve(t0, u64::MAX, u64::MAX);
        assert!(s.reserve(t0, 1, 1) <= Duration::from_secs(31_536_000));
    }

    proptest::proptest! {
        /// Over any sequence of requests, what has started by a time is
        /// never more than the rate allows (plus the request that opened).
        #[test]
        fn never_faster_than_the_rate(
            rate in 1.0f64..1000.0,
            requests in proptest::collection::vec((0u64..50, 0u64..2000), 1..60),
        ) {
            let t0 = Instant::now();
            let mut s = Schedule::new(Rate { messages_per_second: Some(rate), bytes_per_second: None });
            let mut now = t0;
            let mut started = Vec::new();
            for (messages, gap_ms) in requests {
                now += Duration::from_millis(gap_ms);
                let wait = s.reserve(now, messages, 0);
                started.push((now + wait, messages));
            }
            let (last_start, _) = *started.last().unwrap_or(&(t0, 0));
            let first_start = started[0].0;
            let before_last: u64 = started[..started.len() - 1].iter().map(|(_, m)| m).sum();
            let elapsed = (last_start - first_start).as_secs_f64();
            proptest::prop_assert!(before_last as f64 <= rate * elapsed + 1e-6 * rate + 1.0);
        }
    }
}
