// Leases: running work whose worker went silent (stale heartbeats first,
// lost leases later), stops that never finish.
local u = import '../lib/util.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local m(name, extra='') = u.m(c, name, extra),

    groups+: [{
      name: 'anthropic-work-leases',
      rules: [
        // Workers that stopped heartbeating: an on-time heartbeat is at most
        // 30 s old (SDK `_lease.py`: every min(ttl/2, 30) s), so one older than
        // stale_heartbeat_seconds (per environment, default 90 s) has missed
        // three, minutes before the API's 300 s lease lapses. The value is the
        // oldest heartbeat's age; the exporter counts the sessions and its
        // drill-down page names them.
        {
          alert: 'AnthropicWorkHeartbeatsStale',
          expr: u.above(c, m('anthropic_work_heartbeat_oldest_age_seconds'), 'stale_heartbeat_seconds') + '\n',
          'for': c['for'].heartbeatsStale,
          labels: { severity: 'warning' },
          annotations: u.environmentAnnotations(
            c,
            'AnthropicWorkHeartbeatsStale',
            'Workers stopped heartbeating in environment {{ $labels.environment_id }}',
            [
              u.envSel,
              'Running sessions in environment {{ $labels.environment_id }} whose workers stopped heartbeating:',
              '{{ with query (print "anthropic_work_heartbeats_stale" $sel) }}{{ . | first | value | humanize }}{{ else }}?{{ end }};',
              'the oldest heartbeat is {{ $value | humanizeDuration }} old (an on-time one is under 30 s).',
              'Their workers are gone or hung; the API hands the items to another worker only once the lease TTL passes.',
              'The drill-down page lists their work and session ids.',
            ],
          ),
        },
        // The lease TTL is the exporter's --lease.ttl (default 300 s, the
        // API's), not a rule threshold.
        {
          alert: 'AnthropicWorkLeasesExpired',
          expr: '%s > 0' % m('anthropic_work_leases_expired'),
          'for': c['for'].leasesExpired,
          labels: { severity: 'warning' },
          annotations: u.environmentAnnotations(
            c,
            'AnthropicWorkLeasesExpired',
            'Work items with expired leases in environment {{ $labels.environment_id }}',
            [
              u.envSel,
              'Starting/active items in environment {{ $labels.environment_id }} without a heartbeat for longer',
              'than the lease TTL: {{ $value | humanize }}; the oldest heartbeat is',
              '{{ with query (print "anthropic_work_heartbeat_oldest_age_seconds" $sel) }}{{ . | first | value | humanizeDuration }}{{ else }}?{{ end }} old.',
              'Their workers are gone or hung: those sessions are stuck.',
            ],
          ),
        },
        // Threshold per environment: stuck_stopping_seconds.
        {
          alert: 'AnthropicWorkStuckStopping',
          expr: u.above(c, m('anthropic_work_stopping_oldest_age_seconds'), 'stuck_stopping_seconds') + '\n',
          'for': c['for'].stuckStopping,
          labels: { severity: 'warning' },
          annotations: u.environmentAnnotations(
            c,
            'AnthropicWorkStuckStopping',
            'Stops do not complete in environment {{ $labels.environment_id }}',
            [
              u.envSel,
              'The oldest stop request in environment {{ $labels.environment_id }} was made',
              '{{ $value | humanizeDuration }} ago and the item is still stopping',
              '({{ with query (print "anthropic_work_items" $sel) }}{{ range . }}{{ if eq .Labels.state "stopping" }}{{ .Value | humanize }}{{ end }}{{ end }}{{ else }}?{{ end }} items stopping).',
            ],
          ),
        },
      ],
    }],
  },
}
