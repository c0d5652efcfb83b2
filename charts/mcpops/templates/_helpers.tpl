{{/* Names ------------------------------------------------------------------ */}}

{{- define "mcpops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mcpops.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mcpops.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mcpops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mcpops.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Labels ----------------------------------------------------------------- */}}

{{- define "mcpops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcpops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mcpops.labels" -}}
helm.sh/chart: {{ include "mcpops.chart" . }}
{{ include "mcpops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mcpops
{{- end }}

{{/* The operator image; the operator hands the same one to the pods it creates. */}}
{{- define "mcpops.proxyImage" -}}
{{- if .Values.proxyImage.digest }}
{{- printf "%s@%s" .Values.proxyImage.repository .Values.proxyImage.digest }}
{{- else }}
{{- printf "%s:%s" .Values.proxyImage.repository (default .Chart.AppVersion .Values.proxyImage.tag) }}
{{- end }}
{{- end }}

{{- define "mcpops.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
RBAC rules for the namespaced resources the operator reads and writes. Rendered into one
ClusterRole (cluster-wide) or into one Role per watched namespace (watchNamespaces set).
No wildcards; each rule says why it exists.
*/}}
{{- define "mcpops.namespacedRules" -}}
# The operator's own resources: watched, and patched only for metadata (e.g. a handled
# retry/promote annotation). Never created, updated (replaced) or deleted: spec belongs to
# Git/Argo CD.
- apiGroups: ["mcpops.dev"]
  resources: ["mcpservers", "optimizationjobs", "cleanuppolicies"]
  verbs: ["get", "list", "watch", "patch"]
# Status is the operator's output: phase, conditions, test and solver results.
- apiGroups: ["mcpops.dev"]
  resources: ["mcpservers/status", "optimizationjobs/status", "cleanuppolicies/status"]
  verbs: ["patch"]
# Children carry ownerReferences with blockOwnerDeletion; clusters that enable the
# OwnerReferencesPermissionEnforcement admission plugin (e.g. OpenShift) check this.
- apiGroups: ["mcpops.dev"]
  resources: ["mcpservers/finalizers", "optimizationjobs/finalizers", "cleanuppolicies/finalizers"]
  verbs: ["update"]
# One Deployment per MCPServer revision (blue-green); old revisions are deleted by
# revisionHistoryLimit and CleanupPolicy.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Stable and preview Services; the solver pods' ServiceAccount.
- apiGroups: [""]
  resources: ["services", "serviceaccounts"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Problem and result ConfigMaps. `update` only because the solver pods' Role grants it
# (RBAC lets the operator grant only what it holds itself).
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
# What MCPServer pods read (env valueFrom, envFrom, volumes): watched so that a changed
# Secret rolls out as a new, tested revision; the operator keeps a hash of each Secret's
# data in memory, never the values. Create: the session-key Secret of each MCPServer
# (created once, never read back, updated or deleted: it goes with its owner).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["list", "watch", "create"]
# Test-suite Jobs and solver (Indexed) Jobs.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Read test/solver pods' results and phase; delete finished test pods (cleanup). Pods are
# never created directly (Deployments and Jobs do that); no eviction rights.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "delete"]
# Which replicas back a Service (green availability, traffic switch checks).
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["get", "list", "watch"]
# The serving revision's PodDisruptionBudget.
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# spec.expose: the HTTPRoute (Gateway API, where its CRDs are installed) or the Ingress to
# an MCPServer's stable Service. Their status (a Gateway's acceptance, an address) is read,
# never written.
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# spec.network: the NetworkPolicy over an MCPServer's pods.
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Optional autoscaling of an MCPServer revision.
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# The solver pods' own Role/RoleBinding (write their result ConfigMap). Creating a Role needs
# holding every permission it grants: the operator holds the configmaps verbs above.
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# CleanupPolicy deletes finished OptimizationJobs (their result ConfigMaps follow by garbage
# collection). Delete only: the operator still never creates or replaces them.
- apiGroups: ["mcpops.dev"]
  resources: ["optimizationjobs"]
  verbs: ["delete"]
{{- with .Values.cleanup.extraRules }}
# CleanupPolicy `resources` rules on kinds the operator does not otherwise manage: list and
# delete on exactly what the values name (cleanup.extraRules).
{{ toYaml . }}
{{- end }}
# One Event per decision (rollout steps, test results, deletions), both Event APIs.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}


{{/* The agent server (agentServer.enabled): its own pods, so its own selector. */}}
{{- define "mcpops.agentServer.fullname" -}}
{{- printf "%s-agent-server" (include "mcpops.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mcpops.agentServer.selectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-agent-server" (include "mcpops.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mcpops.agentServer.labels" -}}
helm.sh/chart: {{ include "mcpops.chart" . }}
{{ include "mcpops.agentServer.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mcpops
app.kubernetes.io/component: agent-server
{{- end }}

{{- define "mcpops.agentServer.namespace" -}}
{{- default .Release.Namespace .Values.agentServer.namespace }}
{{- end }}

{{- define "mcpops.agentServer.serviceAccountName" -}}
{{- if .Values.agentServer.serviceAccount.create }}
{{- default (include "mcpops.agentServer.fullname" .) .Values.agentServer.serviceAccount.name }}
{{- else }}
{{- required "agentServer.serviceAccount.name is required when agentServer.serviceAccount.create is false" .Values.agentServer.serviceAccount.name }}
{{- end }}
{{- end }}
