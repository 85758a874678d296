// Recording rules of the pick-up SLO (docs/runbooks.md, "Pick-up SLO"): the
// error ratio of anthropic_work_pickups_total over each window the
// burn-rate alerts and the dashboards read, the error budget each
// environment's objective leaves, and the budget remaining over its window.
// Every rule keeps the labels of its source series (configured extra labels
// included), so one rules file serves environments with different objectives.
local u = import '../lib/util.libsonnet';

{
  prometheusRules+:: {
    local c = $._config,
    local s = c.slo,
    local m(name, extra='') = u.m(c, name, extra),
    local pickups(extra='') = m('anthropic_work_pickups_total', extra),

    // `bad / all` judged pick-ups over `w`; NaN (no sample compares above it)
    // while the window holds none.
    local ratio(w) = {
      record: 'environment_id:anthropic_work_pickups_error:ratio_rate%s' % w,
      expr: |||
        sum without(outcome) (rate(%s[%s]))
          / sum without(outcome) (rate(%s[%s]))
      ||| % [pickups('outcome="bad"'), w, pickups(), w],
    },

    // Budget left over a budget window (28d and the like): 1 - the window's
    // error ratio / the error budget. The ratio comes from the recorded 5m
    // rates, weighted by traffic (a ratio of averages, not Sloth's average
    // of ratios), so it reads one sample per evaluation instead of every
    // scrape of the raw counters; evaluated in its own, slower group.
    local budgetLeft(w) = {
      record: 'environment_id:anthropic_work_pickup_error_budget_remaining:ratio',
      // One rule per window, told apart by this label (and each keeps only
      // the environments whose window it is).
      labels: { slo_window: w },
      expr: |||
        (
          1 - (
            avg_over_time(environment_id:anthropic_work_pickups_bad:rate5m{%(sel)s}[%(w)s])
              / avg_over_time(environment_id:anthropic_work_pickups:rate5m{%(sel)s}[%(w)s])
          ) / on(job, instance, environment_id) group_left()
            environment_id:anthropic_work_pickup_error_budget:ratio{%(sel)s}
        )
          and on(job, instance, environment_id)
        (%(window)s == %(secs)d)
      ||| % {
        sel: c.exporterSelector,
        w: w,
        window: m('anthropic_work_pickup_slo', 'setting="window_seconds"'),
        secs: std.parseInt(std.substr(w, 0, std.length(w) - 1)) * 86400,
      },
    },

    groups+: [
      {
        name: 'anthropic-work-slo-recording',
        rules: [
          // The error budget: 1 - the objective the exporter serves for the
          // environment, else 1 - the mixin's default.
          {
            record: 'environment_id:anthropic_work_pickup_error_budget:ratio',
            expr: |||
              1 - (
                max without(setting) (%s)
                  or on(job, instance, environment_id)
                max without(outcome) (%s) * 0 + %s
              )
            ||| % [m('anthropic_work_pickup_slo', 'setting="objective_ratio"'), pickups(), u.num(s.objective)],
          },
          // Events per second behind the ratios (the dashboards' event
          // panels and the budget windows).
          {
            record: 'environment_id:anthropic_work_pickups_bad:rate5m',
            expr: 'sum without(outcome) (rate(%s[5m]))' % pickups('outcome="bad"'),
          },
          {
            record: 'environment_id:anthropic_work_pickups:rate5m',
            expr: 'sum without(outcome) (rate(%s[5m]))' % pickups(),
          },
        ] + [ratio(w) for w in s.windows],
      },
      {
        // Reads weeks of samples: every 5 minutes is plenty for a budget.
        name: 'anthropic-work-slo-budget-recording',
        interval: '5m',
        rules: [budgetLeft(w) for w in s.budgetWindows],
      },
    ],
  },
}
