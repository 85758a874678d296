// Recording rules: cheaper dashboards and the inputs of the capacity and
// no-workers alerts. They keep every label of their source series
// (configured extra labels included).
local u = import '../lib/util.libsonnet';

{
  prometheusRules+:: {
    local c = $._config,
    local m(name, extra='') = u.m(c, name, extra),

    // Each lifecycle histogram is read in both forms, joined by `or`: the
    // classic `_bucket` series (a Prometheus without native histograms, or
    // --metrics.histograms=classic) and the native histogram (a Prometheus
    // started with --enable-feature=native-histograms, which keeps only the
    // native form). Only one of the two exists per series, so nothing is
    // counted twice; while both exist (a Prometheus switched over, within the
    // rate window) the classic one wins.
    // q is a string: jsonnet prints 0.95 as 0.94999999999999996.
    local quantile(q, h) = {
      record: 'environment_id:%s:p%s_rate10m' % [h, std.strReplace(q, '0.', '') + (if std.length(q) == 3 then '0' else '')],
      expr: |||
        histogram_quantile(%(q)s, rate(%(bucket)s[10m]))
          or histogram_quantile(%(q)s, rate(%(native)s[10m]))
      ||| % { q: q, bucket: m(h + '_bucket'), native: m(h) },
    },

    groups+: [{
      name: 'anthropic-work-recording',
      rules: [
        // Queue wait (creation -> acknowledgement) and the other lifecycle quantiles.
        quantile('0.5', 'anthropic_work_queue_wait_seconds'),
        quantile('0.95', 'anthropic_work_queue_wait_seconds'),
        quantile('0.95', 'anthropic_work_startup_seconds'),
        quantile('0.95', 'anthropic_work_run_seconds'),
        quantile('0.95', 'anthropic_work_stop_seconds'),

        // Flow through the queue, items per second. Arrivals: items created
        // (seen for the first time).
        {
          record: 'environment_id:anthropic_work_items_created:rate10m',
          expr: 'rate(%s[10m])' % m('anthropic_work_items_created_total'),
        },
        // Drain rate: items taken off the queue (acknowledged). Every
        // acknowledged item is observed once in the queue-wait histogram, so
        // its count is the acknowledgement counter.
        {
          record: 'environment_id:anthropic_work_items_acknowledged:rate10m',
          expr: |||
            rate(%s[10m])
              or histogram_count(rate(%s[10m]))
          ||| % [m('anthropic_work_queue_wait_seconds_count'), m('anthropic_work_queue_wait_seconds')],
        },
        {
          record: 'environment_id:anthropic_work_items_stopped:rate10m',
          expr: 'rate(%s[10m])' % m('anthropic_work_items_stopped_total'),
        },
        // Net drain: > 0 the queue shrinks, <= 0 it holds or grows.
        {
          record: 'environment_id:anthropic_work_queue_net_drain:rate10m',
          expr: |||
            environment_id:anthropic_work_items_acknowledged:rate10m
              - on(job, instance, environment_id)
            environment_id:anthropic_work_items_created:rate10m
          |||,
        },
        // Time to drain the current depth at the current net drain rate,
        // seconds. +Inf when work waits and the queue is not draining; 0 when
        // empty and draining.
        {
          record: 'environment_id:anthropic_work_queue_time_to_drain_seconds:rate10m',
          expr: |||
            %s
              / on(job, instance, environment_id)
            clamp_min(environment_id:anthropic_work_queue_net_drain:rate10m, 0)
          ||| % m('anthropic_work_queue_depth'),
        },
        // Live workers' items: starting/active sessions whose heartbeat is
        // fresh (younger than the stale_heartbeat threshold, 90 s by default).
        // > 0 means at least one worker is alive (and, when nobody polls,
        // busy). The name is kept from when it subtracted expired leases (90 s
        // then, the API's 300 s now): heartbeat freshness says a worker died
        // 210 s sooner. An exporter older than anthropic_work_heartbeats_stale
        // still counts against its expired leases.
        {
          record: 'environment_id:anthropic_work_leases_live:count',
          expr: |||
            sum without(state) (%s)
              - on(job, instance, environment_id)
            (%s or %s)
          ||| % [m('anthropic_work_items', 'state=~"starting|active"'), m('anthropic_work_heartbeats_stale'), m('anthropic_work_leases_expired')],
        },
        // Share of API requests answered 429, per exporter.
        {
          record: 'instance:anthropic_work_exporter_api_requests_rate_limited:ratio_rate10m',
          expr: |||
            sum without(endpoint, code) (rate(%s[10m]))
              /
            sum without(endpoint, code) (rate(%s[10m]))
          ||| % [m('anthropic_work_exporter_api_requests_total', 'code="429"'), m('anthropic_work_exporter_api_requests_total')],
        },
      ],
    }],
  },
}
