// Queue: work waits too long, or piles up.
local u = import '../lib/util.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local m(name, extra='') = u.m(c, name, extra),
    local oldest = m('anthropic_work_queue_oldest_age_seconds'),
    local depth = m('anthropic_work_queue_depth'),

    local queueLag(severity, key) = {
      alert: 'AnthropicWorkQueueLag',
      expr: u.above(c, oldest, key) + '\n',
      'for': c['for'].queueLag,
      labels: { severity: severity },
      annotations: u.environmentAnnotations(
        c,
        'AnthropicWorkQueueLag',
        'Work waits too long in environment {{ $labels.environment_id }}',
        [
          u.envSel,
          'The oldest queued work in environment {{ $labels.environment_id }} has waited',
          '{{ $value | humanizeDuration }} to be picked up',
          '(depth {{ with query (print "anthropic_work_queue_depth" $sel) }}{{ . | first | value | humanize }}{{ else }}unknown{{ end }},',
          'idle workers polling: {{ with query (print "anthropic_work_queue_workers_polling" $sel) }}{{ . | first | value | humanize }}{{ else }}not reported{{ end }}).',
          'Sessions in this environment start late.',
        ],
      ),
    },

    groups+: [{
      name: 'anthropic-work-queue',
      rules: [
        // Thresholds per environment: queue_lag_warning_seconds and
        // queue_lag_critical_seconds (the critical one pages).
        queueLag('warning', 'queue_lag_warning_seconds'),
        queueLag('critical', 'queue_lag_critical_seconds'),

        // "Steadily": the 10-minute trend is upward at every evaluation for
        // the whole `for:`. (A 15-minute trend lags too much: it still points
        // up minutes after the queue has started to drain.)
        {
          alert: 'AnthropicWorkBacklogGrowing',
          expr: |||
            %s
              and on(job, instance, environment_id)
            deriv(%s[10m]) > 0
          ||| % [u.above(c, depth, 'backlog_depth_items'), depth],
          'for': c['for'].backlogGrowing,
          labels: { severity: 'warning' },
          annotations: u.environmentAnnotations(
            c,
            'AnthropicWorkBacklogGrowing',
            'Backlog keeps growing in environment {{ $labels.environment_id }}',
            [
              u.envSel,
              'The queue depth of environment {{ $labels.environment_id }} has risen for %s, to' % u.words(c['for'].backlogGrowing),
              '{{ $value | humanize }}',
              '(about {{ with query (print "deriv(anthropic_work_queue_depth" $sel "[10m]) * 60") }}{{ . | first | value | printf "%.1f" }}{{ else }}?{{ end }} more per minute;',
              'arrivals {{ with query (print "environment_id:anthropic_work_items_created:rate10m" $sel " * 60") }}{{ . | first | value | printf "%.1f" }}{{ else }}?{{ end }}/min,',
              'pick-ups {{ with query (print "environment_id:anthropic_work_items_acknowledged:rate10m" $sel " * 60") }}{{ . | first | value | printf "%.1f" }}{{ else }}?{{ end }}/min).',
              'Work arrives faster than the workers take it.',
            ],
          ),
        },
      ],
    }],
  },
}
