//! A GET with retries inside the caller's deadline: queue for the budget,
//! take an in-flight slot, send one attempt, and wait before the next as the
//! server advises or by jittered backoff.

use super::attempt::{status_label, Failure};
use super::{ApiClient, Credential, Response, Workspace};
use crate::budget;
use crate::error::ApiError;
use crate::retry::{backoff, retryable, MAX_ATTEMPTS};
use tokio::time::{Duration, Instant};

/// How one attempt ended, as the retry loop sees it.
enum Sent {
    Answered(Response),
    Failed(Failure),
    /// The deadline passed first.
    OutOfTime,
}

impl ApiClient {
    /// A GET with retries, by the SDK's rules (`_base_client.py`
    /// `_should_retry`): 408, 409, 429, 5xx (529 included), timeouts and
    /// connection errors are retried with jittered exponential backoff inside
    /// `deadline`; the server's `retry-after-ms`, `retry-after` and
    /// `x-should-retry` win over the defaults. A spend limit or an
    /// organisation on hold (`error.details.error_code`) is never retried:
    /// the exporter's own rule, as retrying cannot clear them (the SDK's
    /// `_should_retry` reads only the header and the status). Other failures
    /// return at once.
    pub(super) async fn get(
        &self,
        endpoint: &'static str,
        url: url::Url,
        cred: Credential<'_>,
        workspace: Workspace,
        deadline: Instant,
    ) -> Result<Response, ApiError> {
        let started = Instant::now();
        let timeout = || ApiError::Timeout {
            endpoint,
            after: Instant::now() - started,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Some(deadline) = self.queue_for_budget(deadline).await else {
                return Err(timeout());
            };
            let failure = match self
                .send_once(endpoint, &url, cred, workspace, deadline)
                .await
            {
                Sent::Answered(resp) => return Ok(resp),
                Sent::Failed(failure) => failure,
                Sent::OutOfTime => return Err(timeout()),
            };
            match self.retry_delay(&failure, attempt, deadline) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return Err(failure.error),
            }
        }
    }

    /// Wait for the process-wide budget; the deadline to keep from then on,
    /// or `None` when the budget could not serve before `deadline`.
    async fn queue_for_budget(&self, deadline: Instant) -> Option<Instant> {
        let waited = self.budget.acquire(deadline).await?;
        self.observer.budget_wait(waited.as_secs_f64());
        // In a scheduled refresh, queueing for the budget does not count
        // against the deadline (budget::excluding_waits).
        Some(budget::shifted(deadline))
    }

    /// One attempt within `deadline`, holding one of the in-flight slots,
    /// reported to the observer under its `code`.
    async fn send_once(
        &self,
        endpoint: &'static str,
        url: &url::Url,
        cred: Credential<'_>,
        workspace: Workspace,
        deadline: Instant,
    ) -> Sent {
        let Ok(Ok(permit)) = tokio::time::timeout_at(deadline, self.in_flight.acquire()).await
        else {
            return Sent::OutOfTime;
        };
        let t0 = Instant::now();
        let attempt = self.attempt(endpoint, url.clone(), cred, workspace);
        let outcome = tokio::time::timeout_at(deadline, attempt).await;
        drop(permit);
        let seconds = t0.elapsed().as_secs_f64();
        match outcome {
            Ok(Ok((resp, status))) => {
                self.observer
                    .request_done(endpoint, status_label(status), seconds);
                Sent::Answered(resp)
            }
            Ok(Err((failure, code))) => {
                self.observer.request_done(endpoint, &code, seconds);
                Sent::Failed(failure)
            }
            Err(_) => {
                self.observer.request_done(endpoint, "timeout", seconds);
                Sent::OutOfTime
            }
        }
    }

    /// How long to wait before trying again, or `None` to give up: the
    /// failure is not retryable, the attempts are spent, or the wait would
    /// pass `deadline`.
    fn retry_delay(&self, failure: &Failure, attempt: u32, deadline: Instant) -> Option<Duration> {
        if !retryable(&failure.error, failure.should_retry) || attempt >= MAX_ATTEMPTS {
            return None;
        }
        let delay = failure.retry_after.unwrap_or_else(|| backoff(attempt));
        let retrying = Instant::now() + delay < deadline;
        // Everyone waits, not just this request: the limit is per
        // organisation. The server's own advice holds everyone even when
        // this request gives up; a guessed backoff only while it waits.
        if matches!(failure.error, ApiError::RateLimited { .. })
            && (failure.retry_after.is_some() || retrying)
        {
            self.budget.pause_until(Instant::now() + delay);
        }
        retrying.then_some(delay)
    }
}
