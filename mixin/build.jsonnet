// What mixin/render.py writes out: the rule groups (recording first, then
// the alerts, in one file as Prometheus loads them) and the dashboards.
// `jsonnet --ext-code config='{...}'` overrides _config (render.py --config).
local mixin = (import 'mixin.libsonnet') + { _config+:: std.extVar('config') };
{
  rules: { groups: mixin.prometheusRules.groups + mixin.prometheusAlerts.groups },
  dashboards: mixin.grafanaDashboards,
}
