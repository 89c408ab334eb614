{{/* Names, labels and the operator's command line. */}}

{{- define "eio.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "eio.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "eio.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "eio.selectorLabels" -}}
app.kubernetes.io/name: {{ include "eio.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "eio.labels" -}}
helm.sh/chart: {{ include "eio.chart" . }}
{{ include "eio.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: external-identity-operator
{{- end -}}

{{- define "eio.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "eio.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "eio.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if hasPrefix "sha256:" $tag -}}
{{- printf "%s@%s" .Values.image.repository $tag -}}
{{- else if hasPrefix "@" $tag -}}
{{- printf "%s%s" .Values.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* "true" when more than one replica runs: kopf peering picks the one that acts. */}}
{{- define "eio.peeringEnabled" -}}
{{- if gt (int .Values.replicaCount) 1 -}}true{{- end -}}
{{- end -}}

{{/* "true" when some watchNamespaces entry is a glob or an exclusion (`team-*`, `!sandbox`):
the operator then lists and watches cluster-wide and matches namespaces itself, so its rules
are in the ClusterRole and its replicas peer cluster-wide (a pattern names no namespace to
hold a Role or a KopfPeering). */}}
{{- define "eio.namespacePatterns" -}}
{{- range .Values.watchNamespaces -}}
{{- if regexMatch "[*?!\\[]" . -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{/* "true" when the namespaced rules and peering go in each served namespace: watchNamespaces
names namespaces, and no pattern. */}}
{{- define "eio.perNamespace" -}}
{{- if and .Values.watchNamespaces (not (include "eio.namespacePatterns" .)) -}}true{{- end -}}
{{- end -}}

{{- define "eio.peeringName" -}}
{{- default (include "eio.fullname" .) .Values.peering.name -}}
{{- end -}}

{{/* Arguments of `external-identity run`, one per line, each a YAML list item. */}}
{{- define "eio.args" -}}
- --liveness=http://0.0.0.0:{{ .Values.probes.port }}{{ .Values.probes.path }}
- --metrics-port={{ .Values.metrics.port }}
- --operator-name={{ .Release.Namespace }}/{{ include "eio.fullname" . }}
{{- if .Values.watchNamespaces }}
{{- range .Values.watchNamespaces }}
- --namespace={{ . }}
{{- end }}
{{- else }}
- --all-namespaces
{{- end }}
{{- if include "eio.peeringEnabled" . }}
- --peering={{ include "eio.peeringName" . }}
{{- end }}
{{- if .Values.perWorkloadIdentity.enabled }}
- --watch-service-accounts
{{- end }}
{{- if .Values.restartOnRotation.enabled }}
- --restart-on-rotation
- --restart-min-interval={{ .Values.restartOnRotation.minIntervalSeconds }}
{{- end }}
{{- with .Values.bindingSelector }}
- --binding-selector={{ . }}
{{- end }}
- --log-level={{ .Values.operator.logLevel | upper }}
- --log-format={{ .Values.operator.logFormat }}
- --refresh-percent={{ .Values.operator.refreshPercent }}
- --min-remaining-seconds={{ .Values.operator.minRemainingSeconds }}
- --max-concurrent-exchanges={{ .Values.operator.maxConcurrentExchanges }}
{{- range .Values.operator.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Labels of the `helm test` pod: not the operator's selector labels, which its ReplicaSet,
Service and PodMonitor select on. */}}
{{- define "eio.testLabels" -}}
helm.sh/chart: {{ include "eio.chart" . }}
app.kubernetes.io/name: {{ include "eio.name" . }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: external-identity-operator
app.kubernetes.io/component: test
{{- end -}}

{{/* The NetworkPolicy's podSelector: the operator pods and the `helm test` pod. */}}
{{- define "eio.networkPolicyPods" -}}
matchLabels:
  app.kubernetes.io/instance: {{ .Release.Name }}
matchExpressions:
  - key: app.kubernetes.io/name
    operator: In
    values:
      - {{ include "eio.name" . }}
      - {{ include "eio.name" . }}-test
{{- end -}}

{{/* One NetworkPolicy egress rule from {ports, cidrs}: no `to` (any destination) without CIDRs. */}}
{{- define "eio.networkPolicyEgress" -}}
ports:
  {{- range .ports }}
  - port: {{ . }}
    protocol: TCP
  {{- end }}
{{- with .cidrs }}
to:
  {{- range . }}
  - ipBlock:
      cidr: {{ . }}
  {{- end }}
{{- end }}
{{- end -}}
