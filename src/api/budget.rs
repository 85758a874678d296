//! The process-wide request budget: a token bucket every API request draws
//! from, so the exporter never spends more of the organisation's shared read
//! limit than configured, and pauses when the API says the limit is nearly used.

use std::sync::Mutex;
use tokio::time::{Duration, Instant};

#[derive(Debug)]
pub struct RequestBudget {
    rate: f64,
    burst: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
    paused_until: Option<Instant>,
}

impl RequestBudget {
    /// `rate` requests per second, with a burst of at most one second's worth.
    pub fn new(rate: f64) -> Self {
        let burst = rate.clamp(1.0, 20.0);
        RequestBudget {
            rate,
            burst,
            state: Mutex::new(Bucket {
                tokens: burst,
                last: Instant::now(),
                paused_until: None,
            }),
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Wait for a token. Returns false when none is available before `deadline`.
    pub async fn acquire(&self, deadline: Instant) -> bool {
        loop {
            let wait = {
                let mut b = match self.state.lock() {
                    Ok(b) => b,
                    Err(poisoned) => poisoned.into_inner(),
                };
                let now = Instant::now();
                let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
                b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
                b.last = now;
                match b.paused_until {
                    Some(until) if until > now => until - now,
                    _ => {
                        b.paused_until = None;
                        if b.tokens >= 1.0 {
                            b.tokens -= 1.0;
                            return true;
                        }
                        Duration::from_secs_f64((1.0 - b.tokens) / self.rate)
                    }
                }
            };
            if Instant::now() + wait > deadline {
                return false;
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Stop handing out tokens until `until` (the API said the limit is nearly spent,
    /// or answered 429 with a retry-after).
    pub fn pause_until(&self, until: Instant) {
        let mut b = match self.state.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        if b.paused_until.is_none_or(|p| p < until) {
            b.paused_until = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn budget_spaces_requests_at_the_configured_rate() {
        let budget = RequestBudget::new(2.0);
        let start = Instant::now();
        let far = start + Duration::from_secs(100);
        for _ in 0..6 {
            assert!(budget.acquire(far).await);
        }
        // 2 tokens of burst, then one every 0.5 s.
        let took = Instant::now() - start;
        assert!(
            took >= Duration::from_millis(1990) && took <= Duration::from_millis(2100),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn acquire_gives_up_at_the_deadline() {
        let budget = RequestBudget::new(1.0);
        let now = Instant::now();
        assert!(budget.acquire(now + Duration::from_secs(10)).await);
        assert!(!budget.acquire(now + Duration::from_millis(100)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn pause_holds_every_request_until_it_ends() {
        let budget = RequestBudget::new(100.0);
        let start = Instant::now();
        budget.pause_until(start + Duration::from_secs(3));
        assert!(budget.acquire(start + Duration::from_secs(10)).await);
        assert!(Instant::now() - start >= Duration::from_secs(3));
    }
}
