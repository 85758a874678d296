//! The pick-up SLI of one walk: each session judged once, from its own
//! timestamps, as good (acknowledged within the latency threshold) or bad
//! (its wait passed the threshold, acknowledged or not). "Judged" is one more
//! bit in the tracker's flag byte, so the SLI costs no memory per item.
//!
//! The wait of a session ends at its acknowledgement; one never acknowledged
//! ends its wait when its stop is requested (or it stops), else it is still
//! waiting at the walk's time. Judged bad the walk its wait is seen past the
//! threshold, good the walk its acknowledgement within it is seen. The event
//! happens at the acknowledgement (good) or at the moment the wait passed
//! the threshold (bad); for a session no walk of this process tracked, an
//! event before the exporter started is history, as for the queue-wait
//! histogram, so a restart never counts a session twice.

/// The tracker flag: the session's pick-up was judged (good, bad, or not counted).
pub(super) const JUDGED: u8 = 16;

/// What a walk needs to judge pick-ups: the threshold and the walk's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PickupRule {
    pub latency_ms: i64,
    pub now_ms: i64,
}

/// A session's pick-up as one walk sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Still waiting, within the threshold: judged by a later walk.
    Open,
    Good,
    Bad,
    /// Judged without a count: history (its wait ended before the exporter
    /// started, and no walk tracked it), or stopped unacknowledged in time.
    Uncounted,
}

/// A session's timestamps (ms) that decide its pick-up.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stamps {
    pub created: Option<i64>,
    pub acked: Option<i64>,
    pub stop_requested: Option<i64>,
    pub stopped: Option<i64>,
}

impl PickupRule {
    /// Judge one session. `known`: an earlier walk of this process tracked
    /// it; `started_ms`: when the exporter started.
    pub(super) fn judge(&self, s: Stamps, known: bool, started_ms: i64) -> Verdict {
        // No creation time: the wait cannot be measured; the queue-wait
        // histogram observes such an item as 0 s, so it is good once acknowledged.
        let Some(created) = s.created else {
            return match s.acked {
                Some(a) if known || a >= started_ms => Verdict::Good,
                Some(_) => Verdict::Uncounted,
                None => Verdict::Open,
            };
        };
        let ended = s.acked.or(s.stop_requested).or(s.stopped);
        let wait = ended.unwrap_or(self.now_ms) - created;
        // The event happens at the acknowledgement (good) or the moment the
        // wait passes the threshold (bad).
        let (verdict, at) = match (s.acked, wait > self.latency_ms) {
            (_, true) => (Verdict::Bad, created + self.latency_ms),
            (Some(a), false) => (Verdict::Good, a),
            (None, false) if ended.is_some() => return Verdict::Uncounted,
            (None, false) => return Verdict::Open,
        };
        if known || at >= started_ms {
            verdict
        } else {
            Verdict::Uncounted
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: PickupRule = PickupRule {
        latency_ms: 60_000,
        now_ms: 1_000_000,
    };

    fn stamps(created: i64, acked: Option<i64>, stop_requested: Option<i64>) -> Stamps {
        Stamps {
            created: Some(created),
            acked,
            stop_requested,
            stopped: stop_requested.map(|s| s + 1),
        }
    }

    #[test]
    fn a_session_acknowledged_within_the_threshold_is_good_and_one_later_is_bad() {
        assert_eq!(
            RULE.judge(stamps(0, Some(60_000), None), true, 0),
            Verdict::Good
        );
        assert_eq!(
            RULE.judge(stamps(0, Some(60_001), None), true, 0),
            Verdict::Bad
        );
    }

    #[test]
    fn a_session_still_waiting_is_bad_the_moment_its_wait_passes_the_threshold() {
        let waiting = |created| RULE.judge(stamps(created, None, None), false, 0);
        assert_eq!(waiting(RULE.now_ms - 60_000), Verdict::Open);
        assert_eq!(waiting(RULE.now_ms - 60_001), Verdict::Bad);
    }

    #[test]
    fn a_session_stopped_before_pick_up_counts_only_if_it_waited_too_long() {
        let quick = stamps(0, None, Some(30_000));
        assert_eq!(RULE.judge(quick, true, 0), Verdict::Uncounted);
        let late = stamps(0, None, Some(90_000));
        assert_eq!(RULE.judge(late, true, 0), Verdict::Bad);
    }

    #[test]
    fn an_event_before_the_exporter_started_is_history_unless_tracked() {
        // Passed the threshold at 60 s, acknowledged at 90 s; the exporter started at 70 s.
        let old = stamps(0, Some(90_000), None);
        assert_eq!(RULE.judge(old, false, 70_000), Verdict::Uncounted);
        assert_eq!(RULE.judge(old, true, 70_000), Verdict::Bad);
        assert_eq!(RULE.judge(old, false, 60_000), Verdict::Bad);
        // Still waiting, past the threshold before the start: history too.
        let waiting = stamps(0, None, None);
        assert_eq!(RULE.judge(waiting, false, 70_000), Verdict::Uncounted);
        // Acknowledged in time after the start: good.
        let quick = stamps(0, Some(50_000), None);
        assert_eq!(RULE.judge(quick, false, 40_000), Verdict::Good);
    }

    mod in_a_fold {
        //! The rule as walks apply it: once per session, whatever it skips.
        use super::super::super::{Fold, Lifecycle, Tracker};
        use super::*;
        use work_api::decode::work_page;
        use work_api::wire::format_timestamp_ms;

        const T0: i64 = 1_800_000_000_000;

        fn ts(ms: Option<i64>) -> String {
            ms.map_or("null".into(), |m| {
                format!("\"{}\"", format_timestamp_ms(T0 + m))
            })
        }

        /// A row whose times are seconds after T0.
        fn row(
            id: &str,
            kind: &str,
            state: &str,
            acked: Option<i64>,
            stopped: Option<i64>,
        ) -> String {
            let (acked, stopped) = (acked.map(|s| s * 1000), stopped.map(|s| s * 1000));
            let created = id[1..].parse::<i64>().unwrap() * 1000;
            format!(
                r#"{{"id":"{id}","type":"work","environment_id":"env_1","state":"{state}","created_at":{},"acknowledged_at":{},"started_at":null,"latest_heartbeat_at":null,"stop_requested_at":{},"stopped_at":{},"data":{{"id":"s_{id}","type":"{kind}"}},"metadata":{{}},"secret":null}}"#,
                ts(Some(created)),
                ts(acked),
                ts(stopped),
                ts(stopped)
            )
        }

        fn walk(t: &Tracker, at_s: i64, rows: &[String]) -> (Lifecycle, Tracker) {
            let body = format!(r#"{{"data":[{}],"next_page":null}}"#, rows.join(","));
            let page = work_page(body.as_bytes()).unwrap();
            let rule = PickupRule {
                latency_ms: 60_000,
                now_ms: T0 + at_s * 1000,
            };
            let mut fold = Fold::new(t, T0).with_pickups(rule);
            for r in &page.data {
                fold.add(r);
            }
            let (_, delta, next) = fold.finish(false, 1);
            (delta, next)
        }

        #[test]
        fn each_session_is_judged_once_whatever_it_skips_between_walks() {
            // Ids carry their creation second: "a0" was created at T0.
            let t = Tracker::new(T0);
            let (d, t) = walk(
                &t,
                10,
                &[
                    row("a0", "session", "queued", None, None),
                    row("b0", "session", "queued", None, None),
                ],
            );
            assert_eq!((d.pickups_good, d.pickups_bad), (0, 0), "both within 60 s");
            // a0: acknowledged at 30 s and stopped, unseen in between; b0 still waits
            // at 100 s (listed twice: the list shifted); a healthcheck waits 95 s.
            let b0 = row("b0", "session", "queued", None, None);
            let rows = [
                row("a0", "session", "stopped", Some(30), Some(40)),
                b0.clone(),
                b0,
                row("h5", "healthcheck", "queued", None, None),
            ];
            let (d, t) = walk(&t, 100, &rows);
            assert_eq!((d.pickups_good, d.pickups_bad), (1, 1));
            // b0 is picked up at 150 s: already bad, not again. c110 lived its
            // whole life between two walks, acknowledged 70 s after creation: bad.
            let rows = [
                row("b0", "session", "active", Some(150), None),
                row("c110", "session", "stopped", Some(180), Some(190)),
            ];
            let (d, t) = walk(&t, 200, &rows);
            assert_eq!((d.pickups_good, d.pickups_bad), (0, 1));
            let (d, _) = walk(
                &t,
                300,
                &[row("b0", "session", "stopped", Some(150), Some(250))],
            );
            assert_eq!((d.pickups_good, d.pickups_bad), (0, 0));
        }
    }
}
