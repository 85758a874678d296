// anthropic-work-exporter monitoring mixin: prometheusRules (recording),
// prometheusAlerts and grafanaDashboards, all driven by config.libsonnet.
// Use it as any monitoring mixin:
//   local mixin = (import 'mixin.libsonnet') + { _config+:: { grafanaURL: 'https://grafana.example.com' } };
// This repository renders it with mixin/render.py into alerts/, dashboards/
// and deploy/kubernetes/components/monitoring/ (checked in).
(import 'config.libsonnet')
+ (import 'rules/recording.libsonnet')
+ (import 'rules/slo.libsonnet')
+ (import 'alerts/alerts.libsonnet')
+ (import 'dashboards/dashboards.libsonnet')
