// The exporter itself: blind, gone, undercounting, or throttled.
local u = import '../lib/util.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local m(name, extra='') = u.m(c, name, extra),
    local up = m('anthropic_work_up'),

    groups+: [{
      name: 'anthropic-work-exporter',
      rules: [
        // While this fires the environment's data is stale or withdrawn; the
        // example Alertmanager config inhibits that environment's queue,
        // worker and lease alerts so one blind exporter pages once.
        {
          alert: 'AnthropicWorkRefreshFailing',
          expr: '%s == 0' % up,
          'for': c['for'].refreshFailing,
          labels: { severity: 'critical' },
          annotations: u.exporterAnnotations(
            c,
            'AnthropicWorkRefreshFailing',
            'Exporter cannot read the work queue of environment {{ $labels.environment_id }}',
            [
              u.envSel,
              'Every refresh of environment {{ $labels.environment_id }} by {{ $labels.instance }} has failed for %s' % u.words(c['for'].refreshFailing),
              '(last success: {{ with query (print "time() - anthropic_work_exporter_last_success_timestamp_seconds" $sel) }}{{ . | first | value | humanizeDuration }} ago{{ else }}never{{ end }};',
              'failed refreshes in the last 15 minutes by reason:{{ with query (print "sort_desc(increase(anthropic_work_exporter_refresh_failures_total" $sel "[15m]) > 0)") }}{{ range . }} {{ .Labels.reason }}={{ .Value | printf "%.0f" }}{{ end }}{{ else }} none recorded{{ end }}).',
              'Its queue is not monitored: other alerts for it are inhibited and cannot fire.',
            ],
          ),
        },

        // The API refuses the organisation itself (spend limit, hold): not an
        // exporter fault, and the people who can fix it are the
        // organisation's admins. The example Alertmanager config lets this
        // replace AnthropicWorkRefreshFailing for the environment.
        {
          alert: 'AnthropicWorkOrganizationBlocked',
          expr: |||
            increase(%s[10m]) > 0
              and on(job, instance, environment_id)
            %s == 0
          ||| % [m('anthropic_work_exporter_refresh_failures_total', 'reason=~"spend_limit|organization_on_hold"'), up],
          'for': c['for'].organizationBlocked,
          labels: { severity: 'critical' },
          annotations: u.exporterAnnotations(
            c,
            'AnthropicWorkOrganizationBlocked',
            'The API refuses the organisation ({{ $labels.reason }}) for environment {{ $labels.environment_id }}: an organisation admin must act',
            [
              'Refreshes of environment {{ $labels.environment_id }} by {{ $labels.instance }} fail with',
              "reason {{ $labels.reason }} ({{ $value | printf \"%.0f\" }} in 10 minutes): the API's error_code says",
              "{{ if eq $labels.reason \"spend_limit\" }}the organisation's spend limit is reached (enforced, contract or linked-organisation limit).",
              'An organisation admin must raise the limit or the billing owner must act{{ else }}Anthropic has put the',
              'organisation on hold. Its admins must contact Anthropic (the error may name an appeal URL){{ end }}.',
              'The exporter is not at fault and does not retry; sessions are likely refused too.',
            ],
          ),
        },

        // No build_info from the job: the target is down, scrapes something
        // else, or is gone from service discovery (absent). /probe answers
        // carry build_info too, so in multi-target mode (the probe job
        // relabeled to this job, docs/deployment.md) each environment's
        // target counts as the exporter, and its absence silences only that
        // environment's alerts (the example inhibition matches job, instance).
        {
          alert: 'AnthropicWorkExporterAbsent',
          expr: |||
            (%(up)s unless on(job, instance) %(info)s)
              or
            absent(%(up)s)
          ||| % { up: 'up{%s}' % c.exporterSelector, info: m('anthropic_work_exporter_build_info') },
          'for': c['for'].exporterAbsent,
          labels: { severity: 'critical' },
          annotations: u.exporterAnnotations(
            c,
            'AnthropicWorkExporterAbsent',
            'anthropic-work-exporter is absent{{ with $labels.instance }} on {{ . }}{{ end }}',
            [
              '{{ if $labels.instance }}Target {{ $labels.instance }} of job {{ $labels.job }}',
              '{{ if eq $value 0.0 }}cannot be scraped (up == 0){{ else }}is scraped but serves no anthropic_work_exporter_build_info: it is not the exporter{{ end }}{{ else }}Prometheus has no target',
              'in job {{ $labels.job }}{{ end }}, for %s. Nothing watches these work queues: no other' % u.words(c['for'].exporterAbsent),
              'anthropic-work alert can fire.',
            ],
            drilldown=u.exporterDrilldown(c, '=~%q'),
          ),
        },

        {
          alert: 'AnthropicWorkListTruncated',
          expr: '%s > 0' % m('anthropic_work_exporter_list_truncated'),
          'for': c['for'].listTruncated,
          labels: { severity: 'warning' },
          annotations: u.exporterAnnotations(
            c,
            'AnthropicWorkListTruncated',
            'Work list of environment {{ $labels.environment_id }} is only partly read',
            [
              'The exporter stops walking the work list of environment {{ $labels.environment_id }} at',
              '--list.max-pages before its last page (truncated = {{ $value }} for %s).' % u.words(c['for'].listTruncated),
              'Item counts, lease and stopping figures for it undercount.',
            ],
          ),
        },

        {
          alert: 'AnthropicWorkApiRateLimited',
          expr: 'instance:anthropic_work_exporter_api_requests_rate_limited:ratio_rate10m > %s' % u.num(c.rateLimitedRatio),
          'for': c['for'].apiRateLimited,
          labels: { severity: 'warning' },
          annotations: u.exporterAnnotations(
            c,
            'AnthropicWorkApiRateLimited',
            'The API rate-limits anthropic-work-exporter on {{ $labels.instance }}',
            [
              '{{ $value | humanizePercentage }} of the API requests made by {{ $labels.instance }} over the last',
              '10 minutes were answered 429 (rate limited), for %s. The organisation\'s read budget is' % u.words(c['for'].apiRateLimited),
              'exhausted; this exporter and everything else reading the API are throttled.',
            ],
            drilldown=u.exporterDrilldown(c, '=%q'),
          ),
        },

        // The request budget binds: a cadence runs at more than twice its
        // configured interval. A warning, not a page: nothing fails (waiting
        // for the budget never fails a refresh), but the numbers are older
        // than the configuration promises. Stats keep their interval as long
        // as the budget allows, so this usually fires for cadence="list" first.
        {
          alert: 'AnthropicWorkRefreshIntervalStretched',
          expr: |||
            %s
              > on(job, instance, cadence) 2 * %s
          ||| % [m('anthropic_work_exporter_refresh_interval_effective_seconds'), m('anthropic_work_exporter_refresh_interval_seconds')],
          'for': c['for'].refreshIntervalStretched,
          labels: { severity: 'warning' },
          annotations: u.exporterAnnotations(
            c,
            'AnthropicWorkRefreshIntervalStretched',
            'The request budget stretches the {{ $labels.cadence }} refresh of {{ $labels.instance }} to {{ $value | humanizeDuration }}',
            [
              '{{ $sel := printf "{job=%q,instance=%q}" $labels.job $labels.instance -}}',
              '{{ $labels.instance }} refreshes {{ $labels.cadence }} every {{ $value | humanizeDuration }}, more than twice the configured',
              '{{ with query (printf "anthropic_work_exporter_refresh_interval_seconds{job=%q,instance=%q,cadence=%q}" $labels.job $labels.instance $labels.cadence) }}{{ . | first | value | humanizeDuration }}{{ end }},',
              'for %s: its watched environments need' % u.words(c['for'].refreshIntervalStretched),
              '{{ with query (print "anthropic_work_exporter_api_budget_demand_ratio" $sel) }}{{ . | first | value | humanizePercentage }}{{ end }}',
              'of its request budget. Nothing fails, but the {{ $labels.cadence }} numbers are that much older.',
            ],
            drilldown=u.exporterDrilldown(c, '=%q'),
          ),
        },
      ],
    }],
  },
}
