//! The process-wide request budget: a strict pace every API request draws
//! from, so the exporter never spends more of the organisation's shared read
//! limit than configured, and pauses when the API says the limit is nearly used.
//!
//! Time a request spends queueing here is the exporter's own doing, not the
//! API's: inside `excluding_waits` (a scheduled refresh) it never counts
//! against the refresh deadline (`shifted`), so a budget that binds stretches
//! the interval instead of failing refreshes with `timeout`.

use std::cell::Cell;
use std::future::Future;
use std::sync::Mutex;
use tokio::time::{Duration, Instant};

tokio::task_local! {
    /// Time the current scheduled refresh has spent waiting for the budget.
    static WAITED: Cell<Duration>;
}

/// Run `refresh` so that its requests wait for the budget as long as it takes
/// and their deadlines move later by that time (see `shifted`). Outside such a
/// scope (a `/probe`, discovery) waiting ends at the caller's deadline: a probe
/// answers a scrape that will not wait.
pub async fn excluding_waits<F: Future>(refresh: F) -> F::Output {
    WAITED.scope(Cell::new(Duration::ZERO), refresh).await
}

/// `deadline` moved later by the time the current scheduled refresh has
/// queued for the budget so far; `deadline` itself outside a scope.
pub fn shifted(deadline: Instant) -> Instant {
    deadline + WAITED.try_with(Cell::get).unwrap_or(Duration::ZERO)
}

#[derive(Debug)]
pub struct RequestBudget {
    rate: f64,
    state: Mutex<Pace>,
}

#[derive(Debug)]
struct Pace {
    /// The earliest time the next request may be reserved for.
    next_free: Instant,
    /// When the last request was let go: a waiter that wakes late (timer
    /// jitter, a busy runtime) must not bunch up with the next one.
    last_sent: Option<Instant>,
    /// No request is let go before this (a 429, or the API's headers said the limit is nearly spent).
    paused_until: Option<Instant>,
    /// Requests granted since start, for the share of the budget in use.
    granted: u64,
}

impl RequestBudget {
    /// `rate` requests per second, one every `1 / rate` seconds and no burst:
    /// any window of `w` seconds holds at most `ceil(rate × w)` requests, so
    /// the budget holds over every window, not only on average. (A burst buys
    /// nothing here: refreshes are spread over the interval anyway.)
    pub fn new(rate: f64) -> Self {
        RequestBudget {
            rate,
            state: Mutex::new(Pace {
                next_free: Instant::now(),
                last_sent: None,
                paused_until: None,
                granted: 0,
            }),
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Requests granted since start.
    pub fn granted(&self) -> u64 {
        self.pace().granted
    }

    fn pace(&self) -> std::sync::MutexGuard<'_, Pace> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait for the next free slot, first come first served. Returns how long
    /// it waited, or `None` when the slot falls after `deadline` and waiting
    /// counts against it (outside `excluding_waits`). Inside, it always waits,
    /// and the time is added to the refresh's queueing total.
    pub async fn acquire(&self, deadline: Instant) -> Option<Duration> {
        let excluded = WAITED.try_with(|_| ()).is_ok();
        let spacing = Duration::from_secs_f64(1.0 / self.rate);
        let now = Instant::now();
        let mut slot = {
            let mut p = self.pace();
            let slot = p.next_free.max(now);
            if !excluded && slot > deadline {
                return None;
            }
            p.next_free = slot + spacing;
            slot
        };
        // The reservation orders requests; the release keeps them at least
        // `spacing` apart as they are actually let go.
        loop {
            tokio::time::sleep_until(slot).await;
            let mut p = self.pace();
            let woke = Instant::now();
            let not_before = p.last_sent.map(|l| l + spacing).max(p.paused_until);
            match not_before.filter(|e| *e > woke) {
                Some(later) if !excluded && later > deadline => return None,
                Some(later) => slot = later,
                None => {
                    p.last_sent = Some(woke);
                    p.next_free = p.next_free.max(woke + spacing);
                    p.granted += 1;
                    break;
                }
            }
        }
        let waited = Instant::now() - now;
        let _ = WAITED.try_with(|w| w.set(w.get() + waited));
        Some(waited)
    }

    /// Stop handing out slots until `until` (the API said the limit is nearly spent,
    /// or answered 429 with a retry-after).
    pub fn pause_until(&self, until: Instant) {
        let mut p = self.pace();
        if p.next_free < until {
            p.next_free = until;
        }
        if p.paused_until.is_none_or(|u| u < until) {
            p.paused_until = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn budget_spaces_requests_at_the_configured_rate_without_burst() {
        let budget = RequestBudget::new(2.0);
        let start = Instant::now();
        let far = start + Duration::from_secs(100);
        for _ in 0..6 {
            assert!(budget.acquire(far).await.is_some());
        }
        // One at once, then one every 0.5 s.
        assert_eq!(Instant::now() - start, Duration::from_millis(2500));
        assert_eq!(budget.granted(), 6);
    }

    #[tokio::test(start_paused = true)]
    async fn acquire_gives_up_at_the_deadline_outside_a_scheduled_refresh() {
        let budget = RequestBudget::new(1.0);
        let now = Instant::now();
        assert!(budget
            .acquire(now + Duration::from_secs(10))
            .await
            .is_some());
        assert!(budget
            .acquire(now + Duration::from_millis(100))
            .await
            .is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn inside_a_scheduled_refresh_waiting_never_fails_and_moves_the_deadline() {
        let budget = RequestBudget::new(1.0);
        let start = Instant::now();
        let deadline = start + Duration::from_millis(100);
        let (waited, moved) = excluding_waits(async {
            for _ in 0..4 {
                assert!(budget.acquire(deadline).await.is_some());
            }
            (Instant::now() - start, shifted(deadline) - deadline)
        })
        .await;
        assert_eq!(waited, Duration::from_secs(3));
        assert_eq!(moved, Duration::from_secs(3));
        assert_eq!(
            shifted(deadline),
            deadline,
            "outside the scope nothing moves"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_also_holds_requests_already_waiting() {
        let budget = std::sync::Arc::new(RequestBudget::new(1.0));
        let start = Instant::now();
        let far = start + Duration::from_secs(100);
        assert!(budget.acquire(far).await.is_some());
        let waiting = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.acquire(far).await })
        };
        tokio::task::yield_now().await;
        budget.pause_until(start + Duration::from_secs(5));
        assert!(waiting.await.unwrap().is_some());
        assert_eq!(Instant::now() - start, Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn pause_holds_every_request_until_it_ends() {
        let budget = RequestBudget::new(100.0);
        let start = Instant::now();
        budget.pause_until(start + Duration::from_secs(3));
        assert!(budget
            .acquire(start + Duration::from_secs(10))
            .await
            .is_some());
        assert!(Instant::now() - start >= Duration::from_secs(3));
    }
}
