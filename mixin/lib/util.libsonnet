// Helpers every rule file shares: selectors, per-environment thresholds with
// their fallback, and the annotations every alert carries.
{
  // `name{<exporter selector>[, extra]}`: a series of the exporter's job only.
  m(c, name, extra=''):: name + '{' + c.exporterSelector + (if extra == '' then '' else ', ' + extra) + '}',

  // The environment's own threshold `key` where its exporter serves one,
  // else the mixin's default, as one sample per (job, instance,
  // environment_id) shaped like `like` (an expression with one sample per
  // environment: the fallback copies its labels, so an environment without a
  // served threshold still gets one). `or on(...)` keeps the served value
  // where both exist.
  threshold(c, key, like)::
    assert std.objectHas(c.thresholds, key) : 'no default for threshold ' + key;
    '(\n  %s\n    or on(job, instance, environment_id)\n  %s * 0 + %s\n)' % [
      self.m(c, 'anthropic_work_alert_threshold', 'threshold="%s"' % key),
      like,
      $.num(c.thresholds[key]),
    ],

  // `expr > threshold` per environment: keeps expr's samples above it, with
  // all their labels: `group_left()`, because a one-to-one match `on(...)`
  // would cut the result down to the matching labels and lose the extra
  // labels (team, region) Alertmanager routes on. `like` shapes the
  // fallback: expr itself unless expr can be infinite (Inf * 0 is NaN, and
  // nothing compares above NaN).
  above(c, expr, key, like=null)::
    '%s\n  > on(job, instance, environment_id) group_left()\n%s' % [expr, self.threshold(c, key, if like == null then expr else like)],

  // A number as PromQL reads it (jsonnet's own toString prints 0.05 as 0.050000000000000003).
  num(x):: if std.floor(x) == x then std.toString(x) else '%g' % x,

  // '15m' -> '15 minutes', for descriptions that name a `for:` or window.
  words(d)::
    local n = std.parseInt(std.substr(d, 0, std.length(d) - 1));
    local unit = { s: 'second', m: 'minute', h: 'hour' }[d[std.length(d) - 1]];
    '%d %s%s' % [n, unit, if n == 1 then '' else 's'],

  runbook(c, alert):: c.runbookURLBase + '#' + std.asciiLower(alert),
  environmentDashboard(c, base=c.grafanaURL):: base + '/d/' + c.dashboardUIDs.environment + '?var-environment={{ $labels.environment_id }}',
  exporterDashboard(c, base=c.grafanaURL):: base + '/d/' + c.dashboardUIDs.exporter,
  // The Grafana URL between two template comments, which render as nothing:
  // inside a drill-down link's fallback they let a kustomize replacement
  // find and swap the base (deploy/kubernetes/components/links).
  markedGrafanaURL(c):: '{{/* grafana_url */}}' + c.grafanaURL + '{{/* grafana_url */}}',

  // The exporter's drill-down page for the environment, read from
  // anthropic_work_environment_info{drilldown_url} when the alert fires; the
  // Grafana dashboard when the exporter is not reporting it.
  environmentDrilldown(c)::
    '{{ with printf "anthropic_work_environment_info{job=%q,instance=%q,environment_id=%q}" $labels.job $labels.instance $labels.environment_id | query }}'
    + '{{ . | first | label "drilldown_url" }}{{ else }}' + self.environmentDashboard(c, self.markedGrafanaURL(c)) + '{{ end }}',
  // The exporter's landing page, from any environment it reported in the last day.
  exporterDrilldown(c, instanceMatch)::
    '{{ with printf "last_over_time(anthropic_work_environment_info{job=%q,instance' + instanceMatch + '}[1d])" $labels.job '
    + (if instanceMatch == '=~%q' then '(or $labels.instance ".+")' else '$labels.instance')
    + ' | query }}{{ . | first | label "drilldown_url" | reReplaceAll "/environments/[^/]*$" "/" }}{{ else }}'
    + self.exporterDashboard(c, self.markedGrafanaURL(c)) + '{{ end }}',

  // Description lines are joined with one space (as YAML's `>-` folds them).
  text(lines):: std.join(' ', lines),

  // The five annotations of an alert about one environment.
  environmentAnnotations(c, alert, summary, description):: {
    summary: summary,
    description: $.text(description),
    runbook_url: $.runbook(c, alert),
    dashboard_url: $.environmentDashboard(c),
    drilldown_url: $.environmentDrilldown(c),
  },
  // ...about the exporter (dashboard: awe-exporter).
  exporterAnnotations(c, alert, summary, description, drilldown=null):: {
    summary: summary,
    description: $.text(description),
    runbook_url: $.runbook(c, alert),
    dashboard_url: $.exporterDashboard(c),
    drilldown_url: if drilldown == null then $.environmentDrilldown(c) else drilldown,
  },

  // `$sel`: the environment's selector inside description templates.
  envSel:: '{{ $sel := printf "{job=%q,instance=%q,environment_id=%q}" $labels.job $labels.instance $labels.environment_id -}}',
}
