// The mixin's settings: selectors, default thresholds, `for:` durations and
// the base URLs of runbooks and Grafana. Override any of them in your own
// jsonnet: (import 'mixin.libsonnet') + { _config+:: { grafanaURL: '...' } }.
// alerts/README.md lists each setting and what it changes.
{
  _config+:: {
    // The scrape job of the exporter: every rule reads only its series.
    // On Kubernetes (ServiceMonitor) the job is the Service's name. In
    // multi-target mode the probe job is relabeled to it (docs/deployment.md).
    exporterJob: 'anthropic-work-exporter',
    exporterSelector: 'job="%s"' % self.exporterJob,

    // Where the alerts link to. The runbook anchors are the lowercase alert
    // names (docs/runbooks.md); the dashboards are this mixin's own.
    // `version` is Cargo.toml's (tests/e2e/deploy.py checks it), so the
    // runbooks linked are those of the release that renders them, not of a
    // branch that moves on. The organisation is a placeholder: point the base
    // at your copy of the repository, here or at deploy time with the
    // Kubernetes `links` component (deploy/README.md).
    version: '0.1.0',
    runbookURLBase: 'https://github.com/anthropic-work-exporter/anthropic-work-exporter/blob/v%s/docs/runbooks.md' % self.version,
    grafanaURL: 'http://localhost:3000',
    dashboardUIDs: {
      overview: 'awe-overview',
      environment: 'awe-environment',
      exporter: 'awe-exporter',
    },

    // Default thresholds. An environment whose exporter config file sets its
    // own (`thresholds:`) serves them as
    // anthropic_work_alert_threshold{environment_id, threshold="<key>"}, and
    // every rule compares against that value first, these only where none is
    // served. Keys are the `threshold` label values; values in seconds/items.
    thresholds: {
      queue_lag_warning_seconds: 300,
      queue_lag_critical_seconds: 1800,
      backlog_depth_items: 20,
      // PendingStuck fires while pending stays above this.
      pending_items: 0,
      stuck_stopping_seconds: 600,
      // CapacityExhausted: the backlog will not clear within this.
      time_to_drain_seconds: 1800,
      // HeartbeatsStale: the oldest heartbeat of a running session older than
      // this (three missed: an on-time one is at most 30 s old). Keep it equal
      // to the exporter's own default (90 s), which anthropic_work_heartbeats_stale
      // and the live-worker rule count with; set it per environment in the
      // exporter's config file (`stale_heartbeat`) and both follow.
      stale_heartbeat_seconds: 90,
    },

    // AnthropicWorkNoWorkers (not per environment: they describe a dead
    // fleet, not a service level). Fast way: work or a healthcheck probe has
    // waited this long with no worker polling, none holding a live lease and
    // nothing picked up in `noWorkersPickupWindow`.
    noWorkersWaitSeconds: 60,
    noWorkersPickupWindow: '2m',
    // Slow way, for workers that poll but never take the work: the oldest
    // item older than this and nothing picked up in the long window.
    noWorkersSlowWaitSeconds: 180,
    noWorkersSlowPickupWindow: '5m',

    // AnthropicWorkApiRateLimited: share of requests answered 429.
    rateLimitedRatio: 0.05,

    // How long each condition must hold before the alert fires.
    'for': {
      queueLag: '5m',
      backlogGrowing: '15m',
      noWorkers: '1m',
      capacityExhausted: '10m',
      pendingStuck: '10m',
      leasesExpired: '5m',
      // Short: the threshold is already 90 s of silence; with it the
      // stale-heartbeats drill notifies within 3 minutes of the last heartbeat.
      heartbeatsStale: '15s',
      stuckStopping: '5m',
      refreshFailing: '5m',
      organizationBlocked: '2m',
      exporterAbsent: '5m',
      listTruncated: '15m',
      apiRateLimited: '15m',
      refreshIntervalStretched: '15m',
    },
    // How long CapacityExhausted keeps firing once its condition lapses: a
    // saturated fleet's inputs dip for a scrape or two without the fleet
    // recovering (alerts/README.md, "CapacityExhausted holds").
    capacityExhaustedKeepFiringFor: '10m',
  
    // The pick-up SLO (docs/runbooks.md, "Pick-up SLO"). The exporter serves
    // each environment's objective as anthropic_work_pickup_slo{setting}
    // (--slo.* flags, pickup_* in its config file); these are used only
    // where none is served.
    slo: {
      objective: 0.99,
      // Error-budget windows the rules record; an environment's
      // window_seconds picks one. The exporter accepts only these
      // (src/config/slo.rs, WINDOWS_DAYS; a test compares the two lists).
      budgetWindows: ['7d', '14d', '28d', '30d'],
      // Error-ratio windows (the SRE workbook's).
      windows: ['5m', '30m', '1h', '2h', '6h', '1d', '3d'],
      // Multi-window, multi-burn-rate alerts: each fires when the burn rate
      // is above `factor` over both its long and its short window.
      burns: [
        { severity: 'critical', long: '1h', short: '5m', factor: 14.4 },
        { severity: 'critical', long: '6h', short: '30m', factor: 6 },
        { severity: 'warning', long: '1d', short: '2h', factor: 3 },
        { severity: 'warning', long: '3d', short: '6h', factor: 1 },
      ],
      // Minimum traffic: no burn alert unless the long window holds at
      // least this many judged pick-ups (one slow start of an environment
      // with three sessions a day is not an outage).
      minEvents: 10,
      'for': { critical: '2m', warning: '15m' },
    },
  },
}
