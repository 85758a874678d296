// Workers: nobody takes the work, or not enough of them.
local u = import '../lib/util.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local m(name, extra='') = u.m(c, name, extra),
    local depth = m('anthropic_work_queue_depth'),
    local oldest = m('anthropic_work_queue_oldest_age_seconds'),
    local polling = m('anthropic_work_queue_workers_polling'),
    local live = 'environment_id:anthropic_work_leases_live:count',
    // Items picked up (acknowledged) within `window`, in both histogram forms.
    local pickups(window) = '(increase(%s[%s])\n      or histogram_count(increase(%s[%s])))' % [
      m('anthropic_work_queue_wait_seconds_count'), window, m('anthropic_work_queue_wait_seconds'), window,
    ],

    groups+: [{
      name: 'anthropic-work-workers',
      rules: [
        // A dead fleet, told apart from a busy one. Official workers do not
        // poll while they run an item, so workers_polling == 0 alone also
        // describes a healthy, fully busy fleet; but a busy worker holds a
        // fresh heartbeat, and an idle one polls. So: work (or the
        // platform's healthcheck probe, which an idle official worker
        // acknowledges within seconds and which arrives whatever the load)
        // has waited a minute, no worker polls, none heartbeats, and nothing
        // was picked up in 2 minutes. A worker stops counting as live when its
        // heartbeat turns stale (stale_heartbeat, 90 s), not when its lease
        // lapses (the API's 300 s): so a fleet that dies mid-run fires about
        // 90 s plus `for:` after it died; a saturated fleet whose items keep
        // finishing does not (fresh heartbeats, pick-ups): that is
        // AnthropicWorkCapacityExhausted.
        // Slow way, kept from the first version of the rule: workers that
        // poll but never take the waiting work (nothing picked up in 5
        // minutes, no live lease) fire too. Value: the depth, on every way.
        {
          alert: 'AnthropicWorkNoWorkers',
          expr: |||
            (
                (
                    (%(depth)s > 0)
                      and on(job, instance, environment_id)
                    (%(oldest)s > %(wait)s)
                  or
                    %(depth)s
                      and on(job, instance, environment_id)
                    (%(healthcheck)s > %(wait)s)
                )
                  unless on(job, instance, environment_id)
                (%(polling)s > 0)
                  unless on(job, instance, environment_id)
                (%(pickups)s > 0)
              or
                (%(depth)s > 0)
                  and on(job, instance, environment_id)
                (%(oldest)s > %(slowWait)s)
                  unless on(job, instance, environment_id)
                (%(slowPickups)s > 0)
            )
              unless on(job, instance, environment_id)
            (%(live)s > 0)
          ||| % {
            depth: depth,
            oldest: oldest,
            healthcheck: m('anthropic_work_healthcheck_waiting_oldest_age_seconds'),
            polling: polling,
            live: live,
            wait: u.num(c.noWorkersWaitSeconds),
            slowWait: u.num(c.noWorkersSlowWaitSeconds),
            pickups: pickups(c.noWorkersPickupWindow),
            slowPickups: pickups(c.noWorkersSlowPickupWindow),
          },
          'for': c['for'].noWorkers,
          labels: { severity: 'critical' },
          annotations: u.environmentAnnotations(
            c,
            'AnthropicWorkNoWorkers',
            'Nobody takes the waiting work in environment {{ $labels.environment_id }}',
            [
              u.envSel,
              'Work waits in environment {{ $labels.environment_id }} (depth {{ $value | humanize }}), the oldest item for',
              '{{ with query (print "anthropic_work_queue_oldest_age_seconds" $sel) }}{{ . | first | value | humanizeDuration }}{{ else }}?{{ end }}{{ with query (print "anthropic_work_healthcheck_waiting_oldest_age_seconds" $sel " > 0") }}, a healthcheck probe nobody took for {{ . | first | value | humanizeDuration }}{{ end }};',
              'no session was picked up for at least %s and no worker is heartbeating' % u.words(c.noWorkersPickupWindow),
              '(workers polling: {{ with query (print "anthropic_work_queue_workers_polling" $sel) }}{{ . | first | value | humanize }}{{ else }}not reported{{ end }}).',
              'No worker is serving this environment: new sessions do not start.',
            ],
          ),
        },

        // Work waits while every worker is busy (live leases exist and no worker
        // sat idle through the last 5 minutes), and at the current rates the
        // backlog will not clear within time_to_drain_seconds (per
        // environment; or never, when arrivals match or beat pick-ups).
        // Steadier inputs than a single scrape: the API counts a worker that
        // polled in the last 30 s even when its poll claimed an item, and the
        // work list (live leases) and the stats (workers polling) are read at
        // different moments, so `polling > live leases` blinks true for a
        // scrape now and then in a saturated fleet; and the time to drain
        // swings when pick-ups briefly outpace arrivals. Only an idle worker
        // at every check for 5 minutes counts, the time to drain is the
        // highest of 5 minutes, and once firing the alert holds for
        // `keep_firing_for` through a short dip.
        {
          alert: 'AnthropicWorkCapacityExhausted',
          expr: |||
            %(slow)s
              and on(job, instance, environment_id)
            (%(depth)s > 0)
              and on(job, instance, environment_id)
            (%(live)s > 0)
              unless on(job, instance, environment_id)
            (min_over_time((%(polling)s - on(job, instance, environment_id) %(live)s)[5m:]) > 0)
          ||| % {
            slow: u.above(c, 'max_over_time(environment_id:anthropic_work_queue_time_to_drain_seconds:rate10m[5m])', 'time_to_drain_seconds', like=depth),
            depth: depth,
            live: live,
            polling: polling,
          },
          'for': c['for'].capacityExhausted,
          keep_firing_for: c.capacityExhaustedKeepFiringFor,
          labels: { severity: 'warning' },
          annotations: u.environmentAnnotations(
            c,
            'AnthropicWorkCapacityExhausted',
            'Workers saturated in environment {{ $labels.environment_id }}: backlog will not clear soon',
            [
              u.envSel,
              'Every worker of environment {{ $labels.environment_id }} is busy',
              '({{ with query (print "environment_id:anthropic_work_leases_live:count" $sel) }}{{ . | first | value | humanize }}{{ else }}?{{ end }} live leases, none idle)',
              'while work waits (depth {{ with query (print "anthropic_work_queue_depth" $sel) }}{{ . | first | value | humanize }}{{ else }}?{{ end }}).',
              'Estimated time to drain: {{ if gt $value 1e12 }}never at the current rates{{ else }}{{ $value | humanizeDuration }}{{ end }}',
              '(pick-ups {{ with query (print "environment_id:anthropic_work_items_acknowledged:rate10m" $sel " * 60") }}{{ . | first | value | printf "%.1f" }}{{ else }}?{{ end }}/min,',
              'arrivals {{ with query (print "environment_id:anthropic_work_items_created:rate10m" $sel " * 60") }}{{ . | first | value | printf "%.1f" }}{{ else }}?{{ end }}/min over 10 minutes).',
              'The fleet is healthy but too small for the load.',
            ],
          ),
        },

        // Polled but never acknowledged: a worker claims work and dies (or
        // fails) before acknowledging it, again and again. Threshold per
        // environment: pending_items (default 0).
        {
          alert: 'AnthropicWorkPendingStuck',
          expr: u.above(c, m('anthropic_work_queue_pending'), 'pending_items') + '\n',
          'for': c['for'].pendingStuck,
          labels: { severity: 'warning' },
          annotations: u.environmentAnnotations(
            c,
            'AnthropicWorkPendingStuck',
            'Work stays polled but unacknowledged in environment {{ $labels.environment_id }}',
            [
              'Environment {{ $labels.environment_id }} has had work polled but not acknowledged at every check',
              'for %s (pending now: {{ $value | humanize }}). A worker claims work and fails before' % u.words(c['for'].pendingStuck),
              'acknowledging it.',
            ],
          ),
        },
      ],
    }],
  },
}
