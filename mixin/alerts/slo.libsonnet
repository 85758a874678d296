// The pick-up SLO's multi-window, multi-burn-rate alerts (the SRE workbook,
// "Alerting on SLOs"): each fires while the error budget burns faster than
// `factor` times the sustainable rate over both its long and its short
// window, and the long window holds at least `minEvents` judged pick-ups.
// Windows, factors and severities: config.libsonnet, `slo.burns`.
local u = import '../lib/util.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local s = c.slo,
    local m(name, extra='') = u.m(c, name, extra),
    local sel = c.exporterSelector,

    local above(w, factor) =
      'environment_id:anthropic_work_pickups_error:ratio_rate%s{%s}\n  > on(job, instance, environment_id) group_left()\n%s * environment_id:anthropic_work_pickup_error_budget:ratio{%s}' % [w, sel, u.num(factor), sel],

    // One pair, labelled with its windows so the page says which one burns.
    local pair(b) = |||
      label_replace(
        (
          %(long)s
        )
          and on(job, instance, environment_id)
        (
          %(short)s
        )
          and on(job, instance, environment_id)
        sum without(outcome) (increase(%(pickups)s[%(lw)s])) >= %(min)d,
        "burn_window", "%(lw)s/%(sw)s", "", ""
      )
    ||| % {
      long: above(b.long, b.factor),
      short: above(b.short, b.factor),
      pickups: m('anthropic_work_pickups_total'),
      lw: b.long,
      sw: b.short,
      min: s.minEvents,
    },

    local burnAlert(name, severity, summary, meaning) = {
      local burns = [b for b in s.burns if b.severity == severity],
      alert: name,
      expr: std.join('  or\n', [pair(b) for b in burns]),
      'for': s['for'][severity],
      labels: { severity: severity },
      annotations: u.environmentAnnotations(
        c,
        name,
        summary,
        [
          u.envSel,
          'Environment {{ $labels.environment_id }} is spending its pick-up error budget:',
          '{{ $value | humanizePercentage }} of sessions waited past the SLO threshold',
          'over {{ $labels.burn_window }}',
          '(budget left over the SLO window: {{ with query (print "environment_id:anthropic_work_pickup_error_budget_remaining:ratio" $sel) }}{{ . | first | value | humanizePercentage }}{{ else }}not recorded yet{{ end }}).',
          meaning,
        ],
      ),
    },

    groups+: [{
      name: 'anthropic-work-slo',
      rules: [
        burnAlert(
          'AnthropicWorkPickupBudgetFastBurn',
          'critical',
          'Sessions in environment {{ $labels.environment_id }} start late: the pick-up error budget burns fast',
          'At this rate the whole budget of the SLO window is gone within days: page.',
        ),
        burnAlert(
          'AnthropicWorkPickupBudgetSlowBurn',
          'warning',
          'Environment {{ $labels.environment_id }} spends its pick-up error budget faster than it lasts',
          'At this rate the budget runs out before the SLO window ends: a ticket, not a page.',
        ),
      ],
    }],
  },
}
