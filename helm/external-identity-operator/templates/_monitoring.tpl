{{/* The PrometheusRule's alerts and the Grafana dashboard's shared pieces. */}}

{{/* PromQL label matchers that pick this operator's series (no braces). */}}
{{- define "eio.metricsSelector" -}}
{{- default (printf "job=\"%s-metrics\"" (include "eio.fullname" .)) .Values.metrics.prometheusRule.selector -}}
{{- end -}}

{{/*
One alerting rule. Arguments (a dict): root, alert (its name), config (for, severity),
expr, summary, description; summary and description are Prometheus templates.
*/}}
{{- define "eio.alertRule" -}}
{{- $rule := .root.Values.metrics.prometheusRule -}}
- alert: {{ .alert }}
  expr: |-
    {{- .expr | nindent 4 }}
  for: {{ .config.for }}
  labels:
    {{- merge (deepCopy $rule.alertLabels) (dict "severity" .config.severity) | toYaml | nindent 4 }}
  annotations:
    summary: {{ .summary | quote }}
    description: {{ printf "%s Runbook: the \"%s\" entry under \"Alerts\" in the external-identity-operator README." .description .alert | quote }}
    {{- with $rule.runbookUrl }}
    runbook_url: {{ printf "%s#%s" . (lower $.alert) | quote }}
    {{- end }}
{{- end -}}

{{/*
Exchanges with outcome TokenIssued (outcome "=") or not (outcome "!=") in the last 15 minutes,
by series: a counter's increase, or the value of one that appeared in that time (the first
exchange after a restart creates its series with 1, which increase() does not see).
*/}}
{{- define "eio.exchangesIn15m" -}}
{{- $series := printf "external_identity_exchanges_total{%s,outcome%s\"TokenIssued\"}" .sel .outcome -}}
{{- printf "(\n  increase(%s[15m]) > 0\n  or (%s > 0 unless %s offset 15m)\n)" $series $series $series -}}
{{- end -}}
