// The three Grafana dashboards. Their JSON is kept as data
// (dashboards/*.json beside this file, edited in Grafana and exported), not
// rebuilt panel by panel: no grafonnet to fetch, and a change made in Grafana
// lands here unchanged. `_config` reaches them by substitution: the runbook
// base URL in every link and the dashboards' uids (their own and the links
// between them). The selectors are not substituted: the dashboards pick the
// job with their own variables.
local defaults = (import '../config.libsonnet')._config;
// The runbook base the JSON files were exported with (a fixed string: the
// default in config.libsonnet carries the version, which moves on).
local exportedRunbookBase = 'https://github.com/anthropic-work-exporter/anthropic-work-exporter/blob/main/docs/runbooks.md';

local replaceAll(x, pairs) =
  if std.isString(x) then std.foldl(function(s, p) std.strReplace(s, p[0], p[1]), pairs, x)
  else if std.isArray(x) then [replaceAll(e, pairs) for e in x]
  else if std.isObject(x) then { [k]: replaceAll(x[k], pairs) for k in std.objectFields(x) }
  else x;

{
  grafanaDashboards+:: {
    local c = $._config,
    local pairs = [[exportedRunbookBase, c.runbookURLBase]] + [
      ['/d/' + defaults.dashboardUIDs[d] + '/', '/d/' + c.dashboardUIDs[d] + '/']
      for d in std.objectFields(defaults.dashboardUIDs)
    ],
    local dashboard(name) = replaceAll(import_[name], pairs) + { uid: c.dashboardUIDs[name] },
    local import_ = {
      overview: import 'overview.json',
      environment: import 'environment.json',
      exporter: import 'exporter.json',
    },

    'overview.json': dashboard('overview'),
    'environment.json': dashboard('environment'),
    'exporter.json': dashboard('exporter'),
  },
}
