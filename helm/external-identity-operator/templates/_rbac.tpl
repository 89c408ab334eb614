{{/*
RBAC rule sets: every permission the operator holds is written here, once.

One rule per (API group, resource) pair, verbs listed exactly. Each rule says which API
calls need it, so a test can compare the rendered rules with the calls the controller
is recorded making. No rule uses "*".

  eio.rules.clusterScoped    cluster-scoped objects: ExternalIdentities, kopf's CRD scan,
                             and namespaces when only some namespaces are served
  eio.rules.namespaced       what the operator does in each served namespace:
                             ServiceAccountBindings, their Secrets, Events, and (per-workload
                             identity) ServiceAccounts and their TokenRequests
  eio.rules.events           Events (also needed in the operator's own namespace, where
                             kopf posts Events about cluster-scoped ExternalIdentities)
  eio.rules.clusterPeering   kopf peering cluster-wide (replicaCount > 1, all namespaces)
  eio.rules.namespacedPeering kopf peering per namespace (replicaCount > 1, watchNamespaces)
*/}}

{{- define "eio.rules.clusterScoped" -}}
# ExternalIdentity: kopf list+watch (bindings read identities from kopf's in-memory
# index, never by GET); kopf patch (progress annotations).
- apiGroups: ["externalidentity.dev"]
  resources: ["externalidentities"]
  verbs: ["list", "watch", "patch"]
# ExternalIdentity status: conditions and observedGeneration (merge patch).
- apiGroups: ["externalidentity.dev"]
  resources: ["externalidentities/status"]
  verbs: ["patch"]
# kopf's resource observer: list+watch CustomResourceDefinitions to notice served kinds.
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
{{- if .Values.watchNamespaces }}
# kopf's namespace observer (only with --namespace): list+watch namespaces to notice a
# served namespace being deleted and re-created.
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
{{- end }}
{{- end -}}

{{- define "eio.rules.namespaced" -}}
# ServiceAccountBinding: kopf list+watch; kopf patch (finalizer, progress annotations).
- apiGroups: ["externalidentity.dev"]
  resources: ["serviceaccountbindings"]
  verbs: ["list", "watch", "patch"]
# ServiceAccountBinding status: conditions, expiresAt, next refresh, principal (merge patch).
- apiGroups: ["externalidentity.dev"]
  resources: ["serviceaccountbindings/status"]
  verbs: ["patch"]
# The Secrets holding the tokens: read, created or replaced whole (one write, conditional
# on resourceVersion), watched to rewrite them when edited or deleted, deleted with the
# binding. Owner references are set with blockOwnerDeletion=false, so no finalizers
# permission on bindings is needed.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "update", "delete"]
{{ include "eio.rules.events" . }}
{{- if .Values.perWorkloadIdentity.enabled }}
# Per-workload credentials (credentials.source: ServiceAccount): the binding's
# ServiceAccount read for its eks.amazonaws.com/role-arn or azure.workload.identity/*
# annotations (get; list+watch to forget deleted or re-annotated ServiceAccounts)...
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["get", "list", "watch"]
# ...and a TokenRequest for it, exchanged at AWS STS or Entra.
- apiGroups: [""]
  resources: ["serviceaccounts/token"]
  verbs: ["create"]
{{- end }}
{{- end -}}

{{- define "eio.rules.events" -}}
# Events about bindings and identities (kopf posts core v1 Events; it never patches them).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{- define "eio.rules.clusterPeering" -}}
# kopf peering (--peering, cluster-wide): watch the ClusterKopfPeering and patch this
# pod's keep-alive into its status.
- apiGroups: ["kopf.dev"]
  resources: ["clusterkopfpeerings"]
  verbs: ["list", "watch", "patch"]
{{- end -}}

{{- define "eio.rules.namespacedPeering" -}}
# kopf peering (--peering with --namespace): the KopfPeering in each served namespace.
- apiGroups: ["kopf.dev"]
  resources: ["kopfpeerings"]
  verbs: ["list", "watch", "patch"]
{{- end -}}
