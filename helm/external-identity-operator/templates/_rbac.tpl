{{/*
RBAC rule sets: every permission the operator holds is written here, once.

One rule per (API group, resource) pair, verbs listed exactly. Each rule says which API
calls need it, so a test can compare the rendered rules with the calls the controller
is recorded making. No rule uses "*".

  eio.rules.clusterScoped    cluster-scoped objects: ExternalIdentities, kopf's CRD scan,
                             and namespaces when only some namespaces are served
  eio.rules.namespaced       what the operator does in each served namespace:
                             ServiceAccountBindings, their Secrets, Events, and (per-workload
                             identity) ServiceAccounts and their TokenRequests, and
                             (restart on rotation) Deployments, StatefulSets, DaemonSets
  eio.rules.events           Events (also needed in the operator's own namespace, where
                             kopf posts Events about cluster-scoped ExternalIdentities)
  eio.rules.clusterPeering   kopf peering cluster-wide (replicaCount > 1, all namespaces or
                             a watchNamespaces pattern)
  eio.rules.namespacedPeering kopf peering per namespace (replicaCount > 1, watchNamespaces
                             naming namespaces only)
*/}}

{{- define "eio.rules.clusterScoped" -}}
# ExternalIdentity: one list at start-up and kopf's watch (bindings read identities from
# the operator's cache, never by GET); kopf patch (progress annotations).
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
# served namespace being deleted and re-created, or one matching a pattern appearing.
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
{{- end }}
{{- end -}}

{{- define "eio.rules.namespaced" -}}
# ServiceAccountBinding: one list at start-up and kopf's watch; patch only to release the
# finalizer and annotation pre-release builds left on bindings.
- apiGroups: ["externalidentity.dev"]
  resources: ["serviceaccountbindings"]
  verbs: ["list", "watch", "patch"]
# ServiceAccountBinding status: conditions, expiresAt, next refresh, principal (merge patch).
- apiGroups: ["externalidentity.dev"]
  resources: ["serviceaccountbindings/status"]
  verbs: ["patch"]
# The Secrets holding the tokens: listed once at start-up and watched (label-selected),
# created or replaced whole (one write, conditional on resourceVersion), read before the
# first token for a name the watch does not know (it may be taken), when a write conflicts
# and before a delete; patched to put back removed labels and annotations; deleted when
# access is revoked. Deleting a binding leaves its Secret to the garbage collector (owner
# reference, blockOwnerDeletion=false, so no finalizers permission on bindings is needed).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
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
{{- if .Values.restartOnRotation.enabled }}
# Restart on rotation: workloads labelled externalidentity.dev/restart-on-rotation=true
# watched (label-selected, no LIST per rotation) and their pod template annotated (merge
# patch) with the rotated token's fingerprint.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["apps"]
  resources: ["statefulsets"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["apps"]
  resources: ["daemonsets"]
  verbs: ["list", "watch", "patch"]
{{- end }}
{{- end -}}

{{- define "eio.rules.events" -}}
# Events about bindings and identities (kopf posts core v1 Events; it never patches them).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{- define "eio.rules.clusterPeering" -}}
# kopf peering (--peering, all namespaces or a --namespace pattern: cluster-wide): watch the ClusterKopfPeering and patch this
# pod's keep-alive into its status; get: the operator reads it to step bindings only while
# this replica acts.
- apiGroups: ["kopf.dev"]
  resources: ["clusterkopfpeerings"]
  verbs: ["get", "list", "watch", "patch"]
{{- end -}}

{{- define "eio.rules.namespacedPeering" -}}
# kopf peering (--peering with --namespace): the KopfPeering in each served namespace.
- apiGroups: ["kopf.dev"]
  resources: ["kopfpeerings"]
  verbs: ["get", "list", "watch", "patch"]
{{- end -}}
