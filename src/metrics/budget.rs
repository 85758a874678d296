//! The request budget's pressure, visible before it bites: time requests
//! wait for the budget, the share of it the schedule spends and would need,
//! and each cadence's interval as configured and as achieved.

use crate::config::{Cadence, Cadences};
use crate::refresh::plan::Plan;
use prometheus::{Gauge, GaugeVec, Histogram, HistogramOpts, Opts, Registry};

pub(super) struct BudgetInstruments {
    pub(super) wait: Histogram,
    effective: GaugeVec,
    demand: Gauge,
    used: Gauge,
}

impl BudgetInstruments {
    pub(super) fn new(registry: &Registry, cadences: Cadences) -> Result<Self, prometheus::Error> {
        let wait = Histogram::with_opts(
            HistogramOpts::new(
                "anthropic_work_exporter_api_budget_wait_seconds",
                "Time each API request queued for the process-wide request budget before it was sent (never counted against --refresh.timeout in background refreshes).",
            )
            .buckets(vec![0.0, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]),
        )?;
        let configured = GaugeVec::new(
            Opts::new(
                "anthropic_work_exporter_refresh_interval_seconds",
                "Configured refresh interval per cadence (--refresh.stats-interval, --refresh.list-interval).",
            ),
            &["cadence"],
        )?;
        let effective = GaugeVec::new(
            Opts::new(
                "anthropic_work_exporter_refresh_interval_effective_seconds",
                "Refresh interval actually planned per cadence: the configured one, or longer when the request budget cannot cover it (lists stretch first).",
            ),
            &["cadence"],
        )?;
        for c in Cadence::ALL {
            let secs = cadences.get(c).as_secs_f64();
            configured.with_label_values(&[c.as_str()]).set(secs);
            effective.with_label_values(&[c.as_str()]).set(secs);
        }
        let demand = Gauge::new(
            "anthropic_work_exporter_api_budget_demand_ratio",
            "Requests per second the configured cadences need, divided by the request budget; above 0.9 the intervals stretch.",
        )?;
        let used = Gauge::new(
            "anthropic_work_exporter_api_budget_used_ratio",
            "Share of the request budget the current (possibly stretched) schedule spends; planned at most 0.9, the rest kept for retries, probes and discovery.",
        )?;
        registry.register(Box::new(wait.clone()))?;
        registry.register(Box::new(configured))?;
        registry.register(Box::new(effective.clone()))?;
        registry.register(Box::new(demand.clone()))?;
        registry.register(Box::new(used.clone()))?;
        Ok(BudgetInstruments {
            wait,
            effective,
            demand,
            used,
        })
    }

    pub(super) fn plan(&self, plan: &Plan) {
        for c in Cadence::ALL {
            self.effective
                .with_label_values(&[c.as_str()])
                .set(plan.configured.get(c).as_secs_f64() * plan.stretch(c));
        }
        self.demand.set(plan.demand_ratio);
        self.used.set(plan.planned_ratio);
    }
}
